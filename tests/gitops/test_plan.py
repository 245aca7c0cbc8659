"""Immutable specs: hashing names and planning replace versus update-in-place."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import cli


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin:/usr/local/bin"})


@pytest.fixture
def committed(iris_repo: Path) -> Path:
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    git(iris_repo, "init", "-q", "-b", "main")
    git(iris_repo, "add", "-A")
    git(iris_repo, "commit", "-q", "-m", "base")
    return iris_repo


def experiment_name(root: Path) -> str:
    return yaml.safe_load((root / "base" / "iris.yaml").read_text())["metadata"]["name"]


def edit_spec(root: Path, old: str, new: str) -> None:
    p = root / "experiments" / "iris.yaml"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new))


def plan(root: Path, fmt: str, capsys) -> str:
    capsys.readouterr()
    assert cli("plan", "-C", str(root), "--base", "HEAD", "--output", fmt) == 0
    return capsys.readouterr().out


def test_name_carries_a_hash_of_the_immutable_spec(committed: Path):
    name = experiment_name(committed)
    assert name.startswith("iris-") and len(name) == len("iris-") + 8 and len(name) <= 40


def test_changing_a_parameter_replaces_the_experiment(committed: Path, capsys):
    before = experiment_name(committed)
    edit_spec(committed, "discrete: ['3', '5', '10']", "discrete: ['3', '5', '10', '20']")
    assert cli("render", "-C", str(committed), "-q") == 0
    after = experiment_name(committed)
    assert after != before and after.startswith("iris-")
    data = json.loads(plan(committed, "json", capsys))
    (e,) = data["experiments"]
    assert (e["action"], e["old_name"], e["new_name"]) == ("replaced", before, after)
    assert {"path": "spec.parameters[3].feasibleSpace.list", "old": ["3", "5", "10"], "new": ["3", "5", "10", "20"]} in e["changes"]
    assert e["pruned"] is False
    md = plan(committed, "markdown", capsys)
    assert "replaced" in md and f"`{before}` → `{after}`" in md and "spec.parameters[3].feasibleSpace.list" in md


def test_changing_only_max_trials_updates_in_place(committed: Path, capsys):
    before = experiment_name(committed)
    edit_spec(committed, "max: 12", "max: 24")
    assert cli("render", "-C", str(committed), "-q") == 0
    assert experiment_name(committed) == before
    (e,) = json.loads(plan(committed, "json", capsys))["experiments"]
    assert e["action"] == "updated in place" and e["new_name"] == before
    assert e["changes"] == [{"path": "spec.maxTrialCount", "old": 12, "new": 24}]
    md = plan(committed, "markdown", capsys)
    assert "updated in place" in md and "`spec.maxTrialCount`: `12` → `24`" in md


def test_added_removed_and_unchanged(committed: Path, capsys):
    assert json.loads(plan(committed, "json", capsys))["experiments"][0]["action"] == "unchanged"
    spec = (committed / "experiments" / "iris.yaml").read_text()
    (committed / "experiments" / "iris2.yaml").write_text(spec.replace("name: iris", "name: iris2"))
    (committed / "experiments" / "iris.yaml").unlink()
    actions = {e["spec"]: e["action"] for e in json.loads(plan(committed, "json", capsys))["experiments"]}
    assert actions == {"experiments/iris.yaml": "removed", "experiments/iris2.yaml": "added"}
    text = plan(committed, "text", capsys)
    assert "kept (its results survive)" in text


def test_prune_setting_is_reported_and_emitted(committed: Path, capsys):
    (committed / "katib-gitops.yaml").write_text("prune: true\n")
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "prune")
    (committed / "experiments" / "iris.yaml").unlink()
    (e,) = json.loads(plan(committed, "json", capsys))["experiments"]
    assert e["action"] == "removed" and e["pruned"] is True
