"""Helpers for runner tests: small Experiments whose trials are quick shell commands."""

from __future__ import annotations

import copy
import re
import sys
from datetime import datetime
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
TRAINER = REPO_ROOT / "trainer"
CASES = Path(__file__).resolve().parent / "cases"


def tutorial_experiment() -> dict:
    """The iris Experiment from the tutorial (a copy lives in cases/ for runs without ../shared)."""
    tutorial = SHARED / "seed" / "katib-tutorial.md"
    if tutorial.exists():
        blocks = re.findall(r"```yaml\n(.*?)```", tutorial.read_text(), re.S)
        docs = [yaml.safe_load(b) for b in blocks if "kind: Experiment" in b]
        return docs[0]
    return yaml.safe_load((CASES / "iris-experiment.yaml").read_text())


def experiment(command: list[str], *, name: str = "t", parameters: list[dict] | None = None,
               algorithm: str = "random", settings: dict | None = None, max_trials: int = 4,
               parallel: int = 2, max_failed: int = 3, goal: float | None = None,
               objective: str = "accuracy", type_: str = "maximize", collector: dict | None = None,
               additional: list[str] | None = None, strategies: list[dict] | None = None,
               early_stopping: dict | None = None, container_extra: dict | None = None,
               trial_parameters: list[dict] | None = None, metadata: dict | None = None) -> dict:
    parameters = parameters if parameters is not None else [
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.9"}},
    ]
    spec = {
        "maxTrialCount": max_trials,
        "parallelTrialCount": parallel,
        "maxFailedTrialCount": max_failed,
        "objective": {"type": type_, "objectiveMetricName": objective},
        "algorithm": {"algorithmName": algorithm,
                      "algorithmSettings": [{"name": k, "value": str(v)} for k, v in (settings or {}).items()]},
        "parameters": parameters,
        "trialTemplate": {
            "primaryContainerName": "main",
            "trialParameters": trial_parameters if trial_parameters is not None else
            [{"name": p["name"], "reference": p["name"]} for p in parameters],
            "trialSpec": {
                "apiVersion": "batch/v1", "kind": "Job",
                **({"metadata": metadata} if metadata else {}),
                "spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "example.com/trainer:1", "command": command,
                                    **(container_extra or {})}],
                }}},
            },
        },
    }
    if goal is not None:
        spec["objective"]["goal"] = goal
    if additional:
        spec["objective"]["additionalMetricNames"] = additional
    if strategies:
        spec["objective"]["metricStrategies"] = strategies
    if collector:
        spec["metricsCollectorSpec"] = collector
    if early_stopping:
        spec["earlyStopping"] = early_stopping
    return {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": name},
            "spec": spec}


def with_command(exp: dict, command: list[str]) -> dict:
    exp = copy.deepcopy(exp)
    container = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = command
    return exp


def options(tmp_path: Path, **kw):
    from katib_gitops.runner import RunOptions

    import io

    kw.setdefault("workdir", tmp_path)
    kw.setdefault("out", tmp_path / "out")
    kw.setdefault("stream", io.StringIO())
    kw.setdefault("tty", False)
    kw.setdefault("grace_seconds", 1.0)
    return RunOptions(**kw)


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def max_overlap(records) -> int:
    """Most trials running at the same instant, from recorded start/end times."""
    events = []
    for r in records:
        events.append((parse_time(r.start), 1))
        events.append((parse_time(r.end), -1))
    running = best = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        best = max(best, running)
    return best


PY = sys.executable
