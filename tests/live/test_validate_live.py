"""validate --live: Katib's update rules against the live Experiments, reported once, at the spec."""

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


def _name(root: Path) -> str:
    return yaml.safe_load((root / "base" / "cpu" / "iris.yaml").read_text())["metadata"]["name"]


def _rendered_with_max(root: Path, new_max: int) -> str:
    _cpu_only(root)
    assert cli("render", "-C", str(root), "-q") == 0
    name = _name(root)
    spec = root / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("max: 12", f"max: {new_max}"))
    assert cli("render", "-C", str(root), "-q") == 0
    assert _name(root) == name  # counts only: updated in place
    return name


def _validate(root: Path, live: Path, capsys) -> tuple[int, list[dict]]:
    capsys.readouterr()
    status = cli("validate", "-C", str(root), "--live", str(live), "--output", "json")
    return status, json.loads(capsys.readouterr().out)


def test_completed_experiment_without_resume_is_refused_once_at_the_spec(iris_repo: Path, tmp_path: Path, capsys):
    name = _rendered_with_max(iris_repo, 24)
    live = live_file(tmp_path, **{name: "max-trials-never"})
    status, findings = _validate(iris_repo, live, capsys)
    refused = [f for f in findings if f["rule"] == "katib-update-completed"]
    assert status == 1 and len(refused) == 1, findings
    assert refused[0]["file"] == "experiments/iris.yaml" and refused[0]["path"] == "spec.resumePolicy"
    assert "Never" in refused[0]["message"] and "ExperimentMaxTrialsReached" in refused[0]["message"]


def test_long_running_experiment_at_max_trials_resumes(iris_repo: Path, tmp_path: Path, capsys):
    name = _rendered_with_max(iris_repo, 24)
    status, findings = _validate(iris_repo, live_file(tmp_path, **{name: "max-trials"}), capsys)
    assert status == 0 and not [f for f in findings if f["severity"] == "error"], findings


def test_max_trials_not_above_status_trials(iris_repo: Path, tmp_path: Path, capsys):
    name = _rendered_with_max(iris_repo, 4)  # the running one has 8 trials
    status, findings = _validate(iris_repo, live_file(tmp_path, **{name: "running"}), capsys)
    assert status == 1 and [f["rule"] for f in findings if f["rule"].startswith("katib-update")] == \
        ["katib-update-max-trials"]


def test_a_built_overlay_with_an_immutable_change(iris_repo: Path, tmp_path: Path, capsys):
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    name = _name(iris_repo)
    live = live_file(tmp_path, **{name: "running"})
    data = yaml.safe_load(live.read_text())
    data["items"][0]["spec"]["algorithm"]["algorithmName"] = "tpe"
    live.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert cli("validate", str(iris_repo / "overlays" / "cpu"), "--live", str(live), "--output", "json") == 1
    rules = [f["rule"] for f in json.loads(capsys.readouterr().out)]
    assert "katib-update-immutable" in rules


def test_unreadable_live_state_is_a_usage_error(iris_repo: Path, tmp_path: Path, capsys):
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("items: [\n")
    assert cli("validate", "-C", str(iris_repo), "--live", str(bad)) == 2
    assert "bad.yaml:" in capsys.readouterr().err
