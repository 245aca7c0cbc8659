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


def _plan(root: Path, capsys, *extra: str, fmt: str = "markdown", status: int = 0) -> str:
    capsys.readouterr()
    assert cli("plan", "-C", str(root), "--base", "HEAD", "--output", fmt, *extra) == status
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

    from katib_gitops.build.kustomize import build

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
    md = _plan(two_specs_on_gpu, capsys, "--live", str(refused), status=3)
    assert "Katib will refuse this sync" in md and "ExperimentGoalReached" in md and "Succeeded" in md
    assert "pass --live" not in md  # it was passed
    text = _plan(two_specs_on_gpu, capsys, "--live", str(refused), fmt="text", status=3)
    assert "REFUSED by Katib" in text and text.rstrip().endswith("exit status 3.")
    assert json.loads(_plan(two_specs_on_gpu, capsys, "--live", str(refused), fmt="json", status=3))["refused"]
    shutil.rmtree(live_dir)
    live_dir.mkdir()
    accepted = live_file_of("running")
    md = _plan(two_specs_on_gpu, capsys, "--live", str(accepted))
    assert "Katib will refuse" not in md and "Running (ExperimentRunning)" in md and "pass --live" not in md


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


def test_deploy_changes_say_what_a_removed_object_keeps_doing(two_specs_on_gpu: Path, capsys):
    """sync: root -> profiles replaces the root's Application and Flux Kustomization with one per overlay; the
    old ones are not synced by anything (deploy/ is applied by hand), so they stay and keep syncing: the plan
    says so, with a command that removes each without deleting its Experiments."""
    import shlex

    cfg = two_specs_on_gpu / "katib-gitops.yaml"
    _edit(cfg, "sync: root", "sync: profiles")
    _edit(cfg, "interval: 5m", "interval: 10m")
    data = json.loads(_plan(two_specs_on_gpu, capsys, fmt="json"))
    changes = {(d["kind"], d["name"]): d for d in data["deploy"]}
    assert {k: d["action"] for k, d in changes.items()} == {
        ("Application", "katib"): "removed", ("Application", "katib-gpu"): "added",
        ("Kustomization", "katib"): "removed", ("Kustomization", "katib-gpu"): "added",
        ("GitRepository", "katib"): "changed"}
    app = changes[("Application", "katib")]
    assert app["file"] == "deploy/argocd/katib.yaml" and "keeps syncing '.'" in app["notes"][0]
    command = app["notes"][0].rsplit(": ", 1)[1]
    assert shlex.split(command) == ["kubectl", "delete", "application", "katib", "-n", "argocd"]
    flux = changes[("Kustomization", "katib")]["notes"][0]
    assert "prune is off" in flux and flux.endswith("kubectl delete kustomization katib -n flux-system")
    assert "kubectl apply -k deploy/flux" in changes[("Kustomization", "katib-gpu")]["notes"][0]
    text = _plan(two_specs_on_gpu, capsys, fmt="text")
    assert "- deploy/argocd/katib.yaml: Application argocd/katib removed" in text
    assert "deploy/: 2 added, 1 changed, 2 removed." in text
    md = _plan(two_specs_on_gpu, capsys)
    assert "#### deploy/" in md and "| `deploy/flux/katib.yaml` | `Kustomization` `flux-system/katib` | - removed |" in md
    # an object kept under the same name: its field changes
    _edit(cfg, "sync: profiles", "sync: root")
    data = json.loads(_plan(two_specs_on_gpu, capsys, fmt="json"))
    assert {(d["kind"], d["action"]) for d in data["deploy"]} == {("Kustomization", "changed"),
                                                                   ("GitRepository", "changed")}
    assert all(d["changes"] == [{"path": "spec.interval", "old": "5m", "new": "10m"}] for d in data["deploy"])


def test_a_removed_pruning_kustomization_is_told_to_stop_pruning_first(two_specs_on_gpu: Path, capsys):
    cfg = two_specs_on_gpu / "katib-gitops.yaml"
    _edit(cfg, "prune: false", "prune: true")
    git(two_specs_on_gpu, "commit", "-qam", "prune")
    _edit(cfg, "sync: root", "sync: profiles")
    data = json.loads(_plan(two_specs_on_gpu, capsys, fmt="json"))
    (flux,) = [d for d in data["deploy"] if d["kind"] == "Kustomization" and d["action"] == "removed"]
    assert "prune is on" in flux["notes"][0]
    assert "kubectl patch kustomization katib -n flux-system --type merge -p '{\"spec\":{\"prune\":false}}' && " \
           "kubectl delete kustomization katib -n flux-system" in flux["notes"][0]


def test_an_applicationset_removed_keeps_what_its_applications_synced(two_specs_on_gpu: Path, capsys):
    cfg = two_specs_on_gpu / "katib-gitops.yaml"
    _edit(cfg, "mode: applications", "mode: applicationset")
    _edit(cfg, "prune: false", "prune: true")
    git(two_specs_on_gpu, "commit", "-qam", "applicationset")
    _edit(cfg, "mode: applicationset", "mode: applications")
    data = json.loads(_plan(two_specs_on_gpu, capsys, fmt="json"))
    (appset,) = [d for d in data["deploy"] if d["kind"] == "ApplicationSet"]
    assert appset["action"] == "removed" and "preserveResourcesOnDeletion\":true" in appset["notes"][0]
    assert appset["notes"][0].endswith("kubectl delete applicationset katib -n argocd")


def test_an_added_experiment_is_summed_up_in_one_line(two_specs_on_gpu: Path, capsys):
    spec3 = two_specs_on_gpu / "experiments" / "iris3.yaml"
    spec3.write_text((two_specs_on_gpu / "experiments" / "iris.yaml").read_text().replace("name: iris", "name: iris3"))
    _edit(spec3, "  gpu:\n    env:", "  gpu:\n    gpus: 4\n    env:")
    (added,) = [e for e in json.loads(_plan(two_specs_on_gpu, capsys, fmt="json"))["experiments"]
                if e["action"] == "added"]
    assert added["summary"] == (
        "random search, maximize accuracy (goal 0.99), 4 parameters (penalty, tol, C, max_iter), "
        "12 trials × 4 GPU(s) = 48 GPU-trials, 3 at once (12 GPU(s)), image YOUR_REGISTRY/katib-kubeflow-tuner:0.1.0")
    assert added["summary"] in _plan(two_specs_on_gpu, capsys, fmt="text")
    assert f"- `{added['summary']}`" in _plan(two_specs_on_gpu, capsys)  # in a code span: it holds the image name


def test_refused_exit_status_is_one_number_everywhere():
    from katib_gitops.commands import plan as command
    from katib_gitops.plan import EXIT_REFUSED

    assert command.EXIT_REFUSED == EXIT_REFUSED == 3
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"`{EXIT_REFUSED}`" in readme[readme.index("### plan"):readme.index("### Validation layers")]


@pytest.mark.parametrize("command,words", [
    ("plan", ["Exit status: 0 plan printed", "1 the specs do not render", "2 usage error", "3 plan printed"]),
    ("check", ["Exit status: 0 in sync and valid", "1 findings", "2 usage error", "--live"]),
])
def test_help_documents_the_exit_statuses(command: str, words: list[str], capsys):
    with pytest.raises(SystemExit):
        cli(command, "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert all(w in text for w in words), text
