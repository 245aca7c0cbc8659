"""What a run leaves behind: ``trials.jsonl``, ``run.json``, ``status.yaml``, the summary.

``trials.jsonl`` gets one JSON line per trial as it finishes (append-only, so
an interrupted run keeps every finished trial); ``--resume`` reads it back.
``status.yaml`` is the experiment's status in the shape ``kubectl get
experiment -o yaml`` shows it (conditions, trial counts, currentOptimalTrial).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..findings import Finding, UserError
from .lifecycle import EARLY_STOPPED, KILLED, SUCCEEDED, Condition, Counts
from .plan import Plan

TRIALS_FILE = "trials.jsonl"
RUN_FILE = "run.json"
STATUS_FILE = "status.yaml"


@dataclass
class TrialRecord:
    name: str
    index: int
    parameters: dict[str, str]
    status: str
    start: str
    end: str
    duration: float
    exit_code: int | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    objective: float | None = None
    log: str = ""
    message: str = ""
    suggestion: dict[str, Any] = field(default_factory=dict)
    rerun_of: str | None = None
    devices: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        data = {
            "name": self.name,
            "index": self.index,
            "parameters": self.parameters,
            "status": self.status,
            "exitCode": self.exit_code,
            "metrics": self.metrics,
            "objective": self.objective,
            "start": self.start,
            "end": self.end,
            "durationSeconds": round(self.duration, 3),
            "log": self.log,
            "message": self.message,
            "suggestion": self.suggestion,
        }
        if self.rerun_of:
            data["rerunOf"] = self.rerun_of
        if self.devices:
            data["cudaVisibleDevices"] = ",".join(self.devices)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TrialRecord":
        devices = data.get("cudaVisibleDevices")
        return cls(
            name=data["name"],
            index=int(data["index"]),
            parameters={str(k): str(v) for k, v in data["parameters"].items()},
            status=data["status"],
            start=data.get("start", ""),
            end=data.get("end", ""),
            duration=float(data.get("durationSeconds", 0.0)),
            exit_code=data.get("exitCode"),
            metrics=data.get("metrics") or {},
            objective=data.get("objective"),
            log=data.get("log", ""),
            message=data.get("message", ""),
            suggestion=data.get("suggestion") or {},
            rerun_of=data.get("rerunOf"),
            devices=devices.split(",") if devices else [],
        )


class ResultsFile:
    def __init__(self, out: Path):
        self.path = out / TRIALS_FILE

    def load(self) -> list[TrialRecord]:
        if not self.path.exists():
            return []
        records = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(TrialRecord.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise UserError(Finding(f"not a trial record: {exc}", file=str(self.path), line=n)) from None
        return records

    def append(self, record: TrialRecord) -> None:
        # One complete line per write, flushed to the OS at once: an interrupted
        # or killed runner leaves every finished trial readable for --resume.
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record.to_json(), sort_keys=True) + "\n")


def read_run_info(out: Path) -> dict:
    path = out / RUN_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserError(Finding(f"not JSON: {exc}", file=str(path))) from None


def write_run_info(out: Path, info: Mapping[str, Any]) -> None:
    tmp = out / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out / RUN_FILE)


def outstanding_kills(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Trials killed by an interrupt that no later trial has re-run yet."""
    rerun = {r.rerun_of for r in records if r.rerun_of}
    return [r for r in records if r.status == KILLED and r.name not in rerun and r.message == INTERRUPTED]


INTERRUPTED = "stopped by the user (interrupted)"


def best_trial(plan: Plan, records: Iterable[TrialRecord]) -> TrialRecord | None:
    """Katib's currentOptimalTrial: the best objective among trials with an observation."""
    best = None
    for r in records:
        if r.status not in (SUCCEEDED, EARLY_STOPPED) or r.objective is None:
            continue
        if best is None or plan.objective.better(r.objective, best.objective):
            best = r
    return best


def counts_of(records: Iterable[TrialRecord], ignore: set[str] = frozenset()) -> Counts:
    counts = Counts()
    for r in records:
        if r.name not in ignore:
            counts.add(r.status)
    return counts


def _fmt(value: float) -> str:
    return repr(float(value))


def status_document(plan: Plan, condition: Condition, counts: Counts,
                    best: TrialRecord | None, records: Sequence[TrialRecord]) -> dict:
    """The experiment's status as Katib reports it (field names as in the API)."""
    status: dict[str, Any] = {
        "conditions": [{"type": condition.type, "status": "True", "reason": condition.reason,
                        "message": condition.message}],
        "trials": counts.completed + counts.running,
        "trialsSucceeded": counts.succeeded,
        "trialsFailed": counts.failed,
        "trialMetricsUnavailable": counts.metrics_unavailable,
        "trialsEarlyStopped": counts.early_stopped,
        "trialsKilled": counts.killed,
    }
    for key, status_name in (("succeededTrialList", SUCCEEDED), ("failedTrialList", "Failed"),
                             ("metricsUnavailableTrialList", "MetricsUnavailable"),
                             ("earlyStoppedTrialList", EARLY_STOPPED), ("killedTrialList", KILLED)):
        names = [r.name for r in records if r.status == status_name]
        if names:
            status[key] = names
    if best is not None:
        status["currentOptimalTrial"] = {
            "bestTrialName": best.name,
            "parameterAssignments": [{"name": p.name, "value": best.parameters[p.name]}
                                     for p in plan.parameters],
            "observation": {"metrics": [
                {"name": m, "min": _fmt(v["min"]), "max": _fmt(v["max"]), "latest": _fmt(v["latest"])}
                for m in plan.objective.metric_names if (v := best.metrics.get(m))
            ]},
        }
    return {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
            "metadata": {"name": plan.name, "namespace": plan.namespace}, "status": status}


def summary_text(plan: Plan, condition: Condition, counts: Counts, best: TrialRecord | None,
                 files: Sequence[tuple[str, Path]], interrupted: int = 0) -> str:
    obj = plan.objective
    lines = [f"Experiment {plan.name}: {condition.type} ({condition.reason}: {condition.message})"]
    lines.append(
        f"Trials: {counts.succeeded} succeeded, {counts.failed} failed, "
        f"{counts.metrics_unavailable} metrics unavailable, {counts.early_stopped} early stopped, "
        f"{counts.killed} killed"
        + (f"; {interrupted} interrupted (run again by --resume)" if interrupted else "")
    )
    if best is None:
        lines.append(f"No trial reported {obj.metric}.")
    else:
        goal = f", goal {obj.goal:g}" if obj.goal is not None else ""
        lines.append(f"Best trial: {best.name} ({obj.type} {obj.metric}{goal})")
        lines.append("  parameterAssignments:")
        for p in plan.parameters:
            lines.append(f"    {p.name} = {best.parameters[p.name]}")
        lines.append("  observation:")
        for m in obj.metric_names:
            v = best.metrics.get(m)
            if v is None:
                lines.append(f"    {m}: unavailable")
            else:
                lines.append(f"    {m}: min {_fmt(v['min'])}, max {_fmt(v['max'])}, latest {_fmt(v['latest'])}"
                             + (f"  <- {obj.strategies.get(m, 'max')}" if m == obj.metric else ""))
    for label, path in files:
        lines.append(f"{label}: {path}")
    return "\n".join(lines) + "\n"
