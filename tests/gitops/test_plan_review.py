"""The plan a reviewer acts on: deployed overlays, GPU budget, field-level diffs, in-place warnings, live."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import cli
from test_plan import git

LIVE_FIXTURES = Path(__file__).resolve().parents[1] / "live"


@pytest.fixture
def two_specs_on_gpu(iris_repo: Path) -> Path:
    """iris and iris2 (same spec), deployed with the gpu profile, committed."""
    cfg = iris_repo / "katib-gitops.yaml"
    cfg.write_text(cfg.read_text().replace("defaultProfile: cpu", "defaultProfile: gpu"))
    assert "defaultProfile: gpu" in cfg.read_text()
    _edit(iris_repo / "experiments" / "iris.yaml", "profile: [cpu, gpu]\n", "")  # the default profile only
    spec2 = iris_repo / "experiments" / "iris2.yaml"
    spec2.write_text((iris_repo / "experiments" / "iris.yaml").read_text().replace("name: iris", "name: iris2"))
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    git(iris_repo, "init", "-q", "-b", "main")
    git(iris_repo, "add", "-A")
    git(iris_repo, "commit", "-q", "-m", "base")
    return iris_repo


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _pr(root: Path) -> None:
    """One search space and one maxTrialCount change."""
    _edit(root / "experiments" / "iris.yaml", "discrete: ['3', '5', '10']", "discrete: ['3', '5', '10', '20']")
    _edit(root / "experiments" / "iris2.yaml", "max: 12", "max: 24")
    assert cli("render", "-C", str(root), "-q") == 0


def _plan(root: Path, capsys, *extra: str, fmt: str = "markdown") -> str:
    capsys.readouterr()
    assert cli("plan", "-C", str(root), "--base", "HEAD", "--output", fmt, *extra) == 0
    return capsys.readouterr().out


def test_pr_comment_shows_gpu_budget_field_diff_and_in_place_warning(two_specs_on_gpu: Path, capsys):
    _pr(two_specs_on_gpu)
    md = _plan(two_specs_on_gpu, capsys)
    # GPU budget: one GPU per trial (gpu profile) x 3 parallel, for each of the two changed Experiments
    assert "1 GPU(s) per trial × 3 parallel = 3 GPU(s)" in md
    assert "**GPU budget**: 6 GPU(s) at once" in md and "plus up to 3 held by replaced Experiments" in md
    assert "`overlays/gpu`" in md and "overlays/cpu" not in md
    # field-level diff, not "old patches -> new patches"
    assert '`spec.parameters[3].feasibleSpace.list`: `["3", "5", "10"]` → `["3", "5", "10", "20"]`' in md
    assert "patches" not in md
    assert "keeps running and holding its resources" in md and "kubectl delete experiment iris-" in md
    # in-place warning naming the resumePolicy
    assert "`spec.maxTrialCount`: `12` → `24`" in md
    assert "refuses this change if the Experiment has completed" in md and "resumePolicy is LongRunning" in md


def test_unchanged_are_one_line_and_json_has_budgets(two_specs_on_gpu: Path, capsys):
    text = _plan(two_specs_on_gpu, capsys, fmt="text")
    assert text.splitlines()[0] == "= 2 unchanged"
    _edit(two_specs_on_gpu / "experiments" / "iris2.yaml", "max: 12", "max: 24")
    assert cli("render", "-C", str(two_specs_on_gpu), "-q") == 0
    data = json.loads(_plan(two_specs_on_gpu, capsys, fmt="json"))
    (updated,) = [e for e in data["experiments"] if e["action"] == "updated in place"]
    assert updated["deployments"][0]["overlay"] == "overlays/gpu"
    assert (updated["deployments"][0]["gpus_per_trial"], updated["gpus"], data["gpu_total"]) == (1, 3, 3)


def test_patch_changes_are_field_level_per_overlay(two_specs_on_gpu: Path, capsys):
    _edit(two_specs_on_gpu / "experiments" / "iris.yaml", "  gpu:\n    env:", "  gpu:\n    gpus: 2\n    env:")
    assert cli("render", "-C", str(two_specs_on_gpu), "-q") == 0
    data = json.loads(_plan(two_specs_on_gpu, capsys, fmt="json"))
    (replaced,) = [e for e in data["experiments"] if e["action"] == "replaced"]
    paths = {c["path"]: (c["old"], c["new"]) for c in replaced["changes"]}
    gpu = [p for p in paths if p.endswith("(overlays/gpu)") and "nvidia.com/gpu" in p]
    assert gpu and all(paths[p] in (("1", "2"), (1, 2)) for p in gpu), paths
    assert replaced["gpus"] == 6


def test_live_state_refuses_update_of_a_completed_experiment(two_specs_on_gpu: Path, capsys, tmp_path):
    import sys

    sys.path.insert(0, str(LIVE_FIXTURES))
    from live_support import live_file

    from katib_gitops.kustomize import build

    name = yaml.safe_load((two_specs_on_gpu / "base" / "gpu" / "iris2.yaml").read_text())["metadata"]["name"]
    (deployed,) = [d for d in yaml.safe_load_all(build(two_specs_on_gpu / "overlays" / "gpu"))
                   if d["metadata"]["name"] == name]

    def live_file_of(state: str) -> Path:
        path = live_file(live_dir, **{name: state})
        data = yaml.safe_load(path.read_text())
        data["items"][0]["spec"] = deployed["spec"]  # the cluster holds what the gpu overlay deployed
        path.write_text(yaml.safe_dump(data))
        return path

    _edit(two_specs_on_gpu / "experiments" / "iris2.yaml", "max: 12", "max: 24")
    assert cli("render", "-C", str(two_specs_on_gpu), "-q") == 0
    live_dir = tmp_path / "live"
    live_dir.mkdir()
    refused = live_file_of("goal-reached")
    md = _plan(two_specs_on_gpu, capsys, "--live", str(refused))
    assert "Katib will refuse this sync" in md and "ExperimentGoalReached" in md and "Succeeded" in md
    shutil.rmtree(live_dir)
    live_dir.mkdir()
    accepted = live_file_of("running")
    md = _plan(two_specs_on_gpu, capsys, "--live", str(accepted))
    assert "Katib will refuse" not in md and "Running (ExperimentRunning)" in md


def test_markdown_folds_and_fits_a_comment():
    from katib_gitops.plan.model import REPLACED, Deployment, ExperimentPlan, FieldChange, Plan
    from katib_gitops.plan.reporters import FOLD_CHANGES, FOLD_EXPERIMENTS, MAX_COMMENT, to_markdown

    def replaced(i: int, changes: int) -> ExperimentPlan:
        return ExperimentPlan(f"experiments/e{i}.yaml", REPLACED, f"e{i}-0", f"e{i}-1",
                              [FieldChange(f"spec.parameters[{j}].feasibleSpace.max", j, j + 1) for j in range(changes)],
                              pruned=False, deployments=[Deployment("overlays/gpu", ["kustomization.yaml"], 1, 2)])

    small = to_markdown(Plan("abc", [replaced(0, FOLD_CHANGES)]))
    assert "<details>" not in small and "**GPU budget**: 2 GPU(s)" in small
    folded = to_markdown(Plan("abc", [replaced(i, FOLD_CHANGES + 1) for i in range(FOLD_EXPERIMENTS + 1)]))
    assert folded.count("<details>") == 1 + FOLD_EXPERIMENTS + 1  # the section, and each long change list
    assert f"{FOLD_CHANGES + 1} immutable fields changed (field-level diff)" in folded
    huge = to_markdown(Plan("abc", [replaced(i, 400) for i in range(40)]))
    assert len(huge) <= MAX_COMMENT + 200 and huge.rstrip().endswith("for the full plan)")
