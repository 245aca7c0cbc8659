"""status and results --write on the recorded kubectl output."""

from __future__ import annotations

import json
from pathlib import Path

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
