"""Immutable specs: hashing names and planning replace versus update-in-place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import cli, git


@pytest.fixture
def committed(committed_iris: Path) -> Path:
    return committed_iris


def experiment_name(root: Path, profile: str = "cpu", spec: str = "iris") -> str:
    return yaml.safe_load((root / "base" / profile / f"{spec}.yaml").read_text())["metadata"]["name"]


def by_profile(text: str) -> dict[str, dict]:
    return {e["profile"]: e for e in json.loads(text)["experiments"]}


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
    plans = by_profile(plan(committed, "json", capsys))
    assert set(plans) == {"cpu", "gpu"} and plans["gpu"]["action"] == "replaced"  # a search-space change is both
    e = plans["cpu"]
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
    e = by_profile(plan(committed, "json", capsys))["cpu"]
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
    plans = json.loads(plan(committed, "json", capsys))["experiments"]
    assert [(e["action"], e["pruned"]) for e in plans] == [("removed", True), ("removed", True)]


A100 = """\
profiles:
  gpu:
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  gpu-a100:
    gpus: 2
    nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}
"""


def test_profiles_side_by_side_and_a_profile_change_renames_only_its_experiments(iris_repo: Path, capsys):
    """cpu, gpu and gpu-a100 experiments in one repo: each in its own overlay, the root builds all of them, and
    changing only the gpu profile replaces only the gpu Experiments, gpu-a100's included: it starts from the
    repository's gpu profile (its toleration)."""
    from katib_gitops.build import kustomize

    (iris_repo / "katib-gitops.yaml").write_text(A100)
    spec = (iris_repo / "experiments" / "iris.yaml").read_text()
    for name, profile in (("on-cpu", "cpu"), ("on-gpu", "gpu"), ("on-a100", "gpu-a100")):
        (iris_repo / "experiments" / f"{name}.yaml").write_text(
            spec.replace("name: iris\n", f"name: {name}\n").replace("profile: [cpu, gpu]", f"profile: {profile}"))
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    built = {}
    for overlay in ("cpu", "gpu", "gpu-a100"):
        docs = [d for d in yaml.safe_load_all(kustomize.build(iris_repo / "overlays" / overlay)) if d]
        built[overlay] = {d["metadata"]["labels"]["katib-gitops.dev/spec"] for d in docs}
    assert built == {"cpu": {"iris", "on-cpu"}, "gpu": {"iris", "on-gpu"}, "gpu-a100": {"on-a100"}}
    root = [d for d in yaml.safe_load_all(kustomize.build(iris_repo)) if d]
    assert len(root) == 5 and len({d["metadata"]["name"] for d in root}) == 5
    a100 = [d for d in root if d["metadata"]["labels"]["katib-gitops.dev/profile"] == "gpu-a100"][0]
    container = a100["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    git(iris_repo, "init", "-q", "-b", "main")
    git(iris_repo, "add", "-A")
    git(iris_repo, "commit", "-q", "-m", "base")
    (iris_repo / "katib-gitops.yaml").write_text(A100.replace("operator: Exists", "operator: Exists, value: ''"))
    actions = {(e["spec"], e["profile"]): e["action"] for e in json.loads(plan(iris_repo, "json", capsys))["experiments"]}
    assert actions == {
        ("experiments/iris.yaml", "cpu"): "unchanged", ("experiments/iris.yaml", "gpu"): "replaced",
        ("experiments/on-a100.yaml", "gpu-a100"): "replaced", ("experiments/on-cpu.yaml", "cpu"): "unchanged",
        ("experiments/on-gpu.yaml", "gpu"): "replaced"}
    assert a100["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["tolerations"][-1]["key"] == \
        "nvidia.com/gpu"
    data = json.loads(plan(iris_repo, "json", capsys))
    (replaced,) = [e for e in data["experiments"] if e["profile"] == "gpu-a100"]
    assert any(c["path"].endswith("(overlays/gpu-a100)") and "tolerations" in c["path"] and c["new"] == ""
               for c in replaced["changes"]), replaced["changes"]
    text = plan(iris_repo, "text", capsys)
    assert "= 2 unchanged" in text and "on-a100.yaml [gpu-a100]: replaced" in text
