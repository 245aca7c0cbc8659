"""status and results --write on the recorded kubectl output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import cli
from live_support import live_file


def _cpu_only(root: Path) -> None:
    """The iris spec deployed under the cpu profile alone: one Experiment, as on a CPU-only cluster."""
    spec = root / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("profile: [cpu, gpu]\n", ""))


def _rendered(root: Path) -> str:
    _cpu_only(root)
    assert cli("render", "-C", str(root), "-q") == 0
    return yaml.safe_load((root / "base" / "cpu" / "iris.yaml").read_text())["metadata"]["name"]


def _live(root: Path, tmp_path: Path, current_state: str) -> tuple[str, Path]:
    name = _rendered(root)
    d = tmp_path / "cluster"
    d.mkdir()
    return name, live_file(d, **{name: current_state, "iris-0badc0de": "goal-reached", "other-12345678": "running"})


def test_status_lists_current_and_superseded(iris_repo: Path, tmp_path: Path, capsys):
    name, live = _live(iris_repo, tmp_path, "running")
    capsys.readouterr()
    assert cli("status", "-C", str(iris_repo), "--live", str(live), "--output", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["current"], r["superseded_by"]) for r in rows] == \
        [(name, True, None), ("iris-0badc0de", False, name)]
    cur = rows[0]
    assert cur["deployed_under"] == ["overlays/cpu"] and cur["live"]["condition"] == "Running"
    assert cur["live"]["trials"]["trialsRunning"] == 3 and cur["live"]["bestTrial"]["parameters"]["C"] == "1.00"
    assert cli("status", "-C", str(iris_repo), "--live", str(live)) == 0
    text = capsys.readouterr().out
    assert f"kubeflow/{name} (current) [overlays/cpu]: Running (ExperimentRunning)" in text
    assert f"kubeflow/iris-0badc0de (superseded by {name}): Succeeded (ExperimentGoalReached)" in text
    assert cli("status", "-C", str(iris_repo), "--live", str(live), "--output", "markdown") == 0
    assert "| `experiments/iris.yaml` |" in capsys.readouterr().out


def test_results_write_is_idempotent_and_check_accepts_it(iris_repo: Path, tmp_path: Path, capsys):
    name, live = _live(iris_repo, tmp_path, "max-trials")
    assert cli("results", "-C", str(iris_repo), "--live", str(live), "--write") == 0
    out = iris_repo / "results" / "iris.yaml"
    data = yaml.safe_load(out.read_text())
    assert data["spec"] == "iris"
    # both completed at the same time: ordered by name
    assert [e["name"] for e in data["experiments"]] == sorted(["iris-0badc0de", name])
    (entry,) = [e for e in data["experiments"] if e["name"] == name]
    assert entry["hash"] == name.split("-")[-1] and entry["reason"] == "ExperimentMaxTrialsReached"
    assert entry["completionTime"] == "2026-11-28T09:42:10Z"
    assert entry["bestTrial"]["metrics"]["accuracy"]["max"] == "0.9667"
    before = out.stat().st_mtime_ns, out.read_bytes()
    capsys.readouterr()
    assert cli("results", "-C", str(iris_repo), "--live", str(live), "--write") == 0
    assert "up to date" in capsys.readouterr().out and (out.stat().st_mtime_ns, out.read_bytes()) == before
    assert cli("check", "-C", str(iris_repo)) == 0
    # an entry survives its Experiment leaving the cluster (pruned)
    only_other = live_file(tmp_path / "cluster", other_12345678="running")
    assert cli("results", "-C", str(iris_repo), "--live", str(only_other), "--write") == 0
    assert out.read_bytes() == before[1]


def test_running_experiments_are_not_recorded_and_bad_results_fail_check(iris_repo: Path, tmp_path: Path, capsys):
    _, live = _live(iris_repo, tmp_path, "running")
    assert cli("results", "-C", str(iris_repo), "--live", str(live), "--write") == 0
    names = [e["name"] for e in yaml.safe_load((iris_repo / "results" / "iris.yaml").read_text())["experiments"]]
    assert names == ["iris-0badc0de"]
    bad = iris_repo / "results" / "iris.yaml"
    bad.write_text(bad.read_text().replace("condition: Succeeded", "condition: Done"))
    capsys.readouterr()
    assert cli("check", "-C", str(iris_repo)) == 1
    assert "results/iris.yaml:" in capsys.readouterr().out
    assert cli("results", "-C", str(iris_repo), "--live", str(live), "--write") == 1  # refuses to merge into it


def test_results_refuse_a_symlinked_results_dir_and_stdin_twice(iris_repo: Path, tmp_path: Path, capsys):
    _, live = _live(iris_repo, tmp_path, "max-trials")
    outside = tmp_path / "outside"
    outside.mkdir()
    (iris_repo / "results").symlink_to(outside)
    assert cli("results", "-C", str(iris_repo), "--live", str(live), "--write") == 2
    assert list(outside.iterdir()) == [] and "results/" in capsys.readouterr().err
    assert cli("validate", "-", "--live", "-") == 2


def test_a_symlinked_results_file_is_never_read(iris_repo: Path, tmp_path: Path, capsys):
    _, live = _live(iris_repo, tmp_path, "max-trials")
    secret = tmp_path / "secret.yaml"
    secret.write_text("spec: iris\nexperiments: []\n")
    (iris_repo / "results").mkdir()
    (iris_repo / "results" / "iris.yaml").symlink_to(secret)
    assert cli("check", "-C", str(iris_repo)) == 1
    assert cli("results", "-C", str(iris_repo), "--live", str(live), "--write") == 1
    assert secret.read_text() == "spec: iris\nexperiments: []\n"


def test_status_of_a_spec_deployed_under_two_profiles(iris_repo: Path, tmp_path: Path, capsys):
    """iris under cpu and gpu: two current Experiments, neither reported as superseding the other; an older
    gpu Experiment is superseded by the gpu one only."""
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    names = {p: yaml.safe_load((iris_repo / "base" / p / "iris.yaml").read_text())["metadata"]["name"]
             for p in ("cpu", "gpu")}
    d = tmp_path / "cluster"
    d.mkdir()
    live = live_file(d, **{names["cpu"]: "running", names["gpu"]: "running", "iris-0badc0de": "goal-reached"})
    data = yaml.safe_load(live.read_text())
    for it in (i for i in data["items"] if i["kind"] == "Experiment"):
        it["metadata"]["labels"]["katib-gitops.dev/profile"] = "cpu" if it["metadata"]["name"] == names["cpu"] \
            else "gpu"
    live.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert cli("status", "-C", str(iris_repo), "--live", str(live), "--output", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["name"], r["current"], r["superseded_by"]) for r in rows) == sorted(
        [(names["cpu"], True, None), (names["gpu"], True, None), ("iris-0badc0de", False, names["gpu"])])


def test_best_trial_value_is_the_objectives_metric_strategy(iris_repo: Path, tmp_path: Path, capsys):
    """Katib ranks trials by the objective's metricStrategy (status_util.go getObjectiveMetricValue): max for
    iris' maximize (latest 0.95 is not what it ranked), min or latest when the spec says so; status, its
    markdown and json, and results --write all give that value and name the strategy."""
    name, live = _live(iris_repo, tmp_path, "max-trials")
    capsys.readouterr()
    assert cli("status", "-C", str(iris_repo), "--live", str(live)) == 0
    text = capsys.readouterr().out
    assert "best: iris-max-trials-t-s0 by accuracy's metricStrategy max: accuracy=0.9667 (max)" in text
    assert "accuracy=0.95" not in text
    assert cli("status", "-C", str(iris_repo), "--live", str(live), "--output", "markdown") == 0
    assert "accuracy=0.9667 (max)" in capsys.readouterr().out
    assert cli("status", "-C", str(iris_repo), "--live", str(live), "--output", "json") == 0
    (row,) = [r for r in json.loads(capsys.readouterr().out) if r["name"] == name]
    assert row["live"]["bestTrial"]["objective"] == {"metric": "accuracy", "strategy": "max", "value": "0.9667"}
    assert cli("results", "-C", str(iris_repo), "--live", str(live), "--write") == 0
    (entry,) = [e for e in yaml.safe_load((iris_repo / "results" / "iris.yaml").read_text())["experiments"]
                if e["name"] == name]
    assert entry["bestTrial"]["objective"] == {"metric": "accuracy", "strategy": "max", "value": "0.9667"}
    # the spec says latest: Katib ranked by the latest report
    data = yaml.safe_load(live.read_text())
    for it in (i for i in data["items"] if i["kind"] == "Experiment"):
        it["spec"]["objective"]["metricStrategies"] = [{"name": "accuracy", "value": "latest"}]
    live.write_text(yaml.safe_dump(data))
    assert cli("status", "-C", str(iris_repo), "--live", str(live)) == 0
    assert "by accuracy's metricStrategy latest: accuracy=0.95 (latest)" in capsys.readouterr().out


@pytest.mark.parametrize("strategy,reported,value", [
    ("min", {"min": "0.1", "max": "0.4", "latest": "0.3"}, "0.1"),
    ("max", {"min": "0.1", "max": "0.4", "latest": "0.3"}, "0.4"),
    ("latest", {"min": "0.1", "max": "0.4", "latest": "0.3"}, "0.3"),
    ("max", {"min": "unavailable", "max": "unavailable", "latest": "nan"}, "nan"),  # not a number: latest
    (None, {"min": "0.1", "max": "0.4", "latest": "0.3"}, "0.1"),  # no strategy: minimize's default, min
])
def test_value_by_strategy_follows_katib(strategy, reported, value):
    from katib_gitops.live.state import parse_live

    objective = {"type": "minimize", "objectiveMetricName": "loss"}
    if strategy:
        objective["metricStrategies"] = [{"name": "loss", "value": strategy}]
    doc = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": "e"},
           "spec": {"objective": objective},
           "status": {"currentOptimalTrial": {"bestTrialName": "e-1", "observation": {
               "metrics": [{"name": "loss", **reported}]}}}}
    best = parse_live(yaml.safe_dump(doc), "f").get("e").best_trial
    assert best.objective_value == value and best.strategies["loss"] == (strategy or "min")


def test_a_local_runs_status_yaml_is_recorded_with_its_completion_time(iris_repo: Path, tmp_path: Path, capsys):
    """`katib-gitops run` writes status.yaml as Katib reports an Experiment (with completionTime and the
    objective it ranks by); `results --live runs/<name>/status.yaml` records it like a live one."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
    from runner_helpers import options, with_command

    from katib_gitops.build.kustomize import build
    from katib_gitops.runner import run_experiment

    name = _rendered(iris_repo)
    (exp,) = [d for d in yaml.safe_load_all(build(iris_repo / "overlays" / "cpu")) if d]
    exp["spec"]["maxTrialCount"], exp["spec"]["parallelTrialCount"] = 2, 1
    # two reports per trial: max 0.9, latest 0.5 (grouped: Katib's collector only reads the last command of
    # an `sh -c "a; b"`)
    exp = with_command(exp, ["sh", "-c", "{ echo accuracy=0.9; echo accuracy=0.5 ${trialParameters.penalty} "
                                         "${trialParameters.tol} ${trialParameters.C} ${trialParameters.max_iter}; }"])
    result = run_experiment(exp, options(tmp_path, out=tmp_path / "run"))
    assert result.condition.type == "Succeeded", result.summary
    status = tmp_path / "run" / "status.yaml"
    doc = yaml.safe_load(status.read_text())
    assert doc["status"]["completionTime"] >= doc["status"]["startTime"]
    capsys.readouterr()
    assert cli("results", "-C", str(iris_repo), "--live", str(status), "--write") == 0
    (entry,) = yaml.safe_load((iris_repo / "results" / "iris.yaml").read_text())["experiments"]
    assert entry["name"] == name and entry["completionTime"] == doc["status"]["completionTime"]
    assert entry["bestTrial"]["objective"] == {"metric": "accuracy", "strategy": "max", "value": "0.9"}
    assert cli("check", "-C", str(iris_repo)) == 0
