"""The no-op render: a tree exactly as the last validated render left it is reported, not validated again.

Each case renders a git repository once (full gate, stamp written), changes something, and checks
whether the next render ran its full gate (``validate_staged`` called) and what it printed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import cli
from katib_gitops.pipeline import render_gate
from katib_gitops.build import stamp


@pytest.fixture
def repo(iris_repo: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(iris_repo)], check=True)
    return iris_repo


@pytest.fixture
def gates(monkeypatch) -> list[Path]:
    """The repositories whose full gate ran, in order."""
    ran: list[Path] = []
    real = render_gate.validate_staged

    def counting(repo, result, options=None):
        ran.append(repo.root)
        return real(repo, result, options)

    monkeypatch.setattr(render_gate, "validate_staged", counting)
    return ran


def stamp_file(root: Path) -> Path:
    return stamp.stamp_path(root)


def render(root: Path, capsys, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli("render", "-C", str(root), *extra)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_second_render_reports_the_first_without_validating_again(repo: Path, gates, capsys):
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("  retain: false", "  retain: false\n  security: {runAsUser: false}"))
    code, out, first_err = render(repo, capsys)
    assert code == 0 and len(gates) == 1 and "opt out of the Pod Security" in first_err
    assert stamp_file(repo).is_file()
    before = {p: p.stat().st_mtime_ns for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    code, out, err = render(repo, capsys)
    assert (code, out, err) == (0, "2 experiment(s): up to date\n", first_err)  # the same warnings, once more
    assert len(gates) == 1, "the full gate ran again"
    assert {p: p.stat().st_mtime_ns for p in before} == before
    # -q keeps the warnings (as the full render does) and drops the summary.
    assert render(repo, capsys, "-q") == (0, "", first_err) and len(gates) == 1


def test_the_same_bytes_again_are_the_same_tree(repo: Path, gates, capsys):
    """A checkout of another branch and back rewrites files: same contents, same verdict."""
    assert render(repo, capsys)[0] == 0
    for p in [repo / "experiments" / "iris.yaml", repo / "overlays" / "gpu" / "kustomization.yaml"]:
        data = p.read_bytes()
        p.unlink()
        p.write_bytes(data)
    assert render(repo, capsys)[0] == 0 and len(gates) == 1


def edit_spec(root: Path) -> None:
    spec = root / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("max: 12", "max: 13"))


def edit_generated(root: Path) -> None:
    p = root / "base" / "cpu" / "iris.yaml"
    p.write_text(p.read_text().replace("parallelTrialCount: 3", "parallelTrialCount: 4"))


def edit_settings(root: Path) -> None:
    p = root / "katib-gitops.yaml"
    p.write_text(p.read_text() + "\n# a comment changes nothing rendered, but it is another input\n")


def add_custom_component(root: Path) -> None:
    custom = root / "overlays" / "cpu" / "custom"
    custom.mkdir(parents=True, exist_ok=True)
    (custom / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  team: ml\n")


def add_hand_written_file(root: Path) -> None:
    (root / "deploy" / "notes.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n")


def remove_generated(root: Path) -> None:
    (root / "overlays" / "gpu" / "kustomization.yaml").unlink()


def leftover_staging(root: Path) -> None:
    (root / ".katib-gitops-stage-x").mkdir()


def symlink_in_tree(root: Path) -> None:
    (root / "base" / "cpu" / "link.yaml").symlink_to("iris.yaml")


def fifo_in_experiments(root: Path) -> None:
    os.mkfifo(root / "experiments" / "pipe.yaml")


def spec_subdirectory_file(root: Path) -> None:
    """A file render never reads (below experiments/): still the same tree to render."""
    (root / "experiments" / "drafts").mkdir()
    (root / "experiments" / "drafts" / "x.yaml").write_text("name: x\n")


@pytest.mark.parametrize("change", [edit_spec, edit_generated, edit_settings, add_custom_component,
                                    add_hand_written_file, remove_generated, leftover_staging, symlink_in_tree,
                                    fifo_in_experiments])
def test_any_change_to_what_render_reads_runs_the_full_gate(repo: Path, gates, capsys, change):
    if change is add_custom_component:
        add_custom_component(repo)
    assert render(repo, capsys)[0] == 0 and len(gates) == 1
    if change is add_custom_component:
        (repo / "overlays" / "cpu" / "custom" / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  team: ops\n")
    else:
        change(repo)
    render(repo, capsys)
    assert len(gates) == 2


def test_a_file_render_never_reads_keeps_the_shortcut(repo: Path, gates, capsys):
    assert render(repo, capsys)[0] == 0
    spec_subdirectory_file(repo)
    (repo / "README.md").write_text("not an input\n")
    assert render(repo, capsys)[0] == 0 and len(gates) == 1


def test_another_katib_gitops_or_kustomize_runs_the_full_gate(repo: Path, gates, capsys, monkeypatch):
    assert render(repo, capsys)[0] == 0
    monkeypatch.setattr(stamp, "__version__", "9.9.9")
    assert render(repo, capsys)[0] == 0 and len(gates) == 2
    monkeypatch.setenv("KUSTOMIZE_PLUGIN_HOME", "/nowhere")  # an environment kustomize reads
    assert render(repo, capsys)[0] == 0 and len(gates) == 3
    assert render(repo, capsys)[0] == 0 and len(gates) == 3  # stamped again, for this tool


@pytest.mark.parametrize("tamper", ["garbage", "not-json", "wrong-shape", "error-finding", "huge", "symlink",
                                    "other-state"])
def test_a_stamp_that_does_not_verify_is_ignored(repo: Path, gates, capsys, tamper):
    assert render(repo, capsys)[0] == 0
    path = stamp_file(repo)
    data = json.loads(path.read_text())
    if tamper == "garbage":
        path.write_bytes(b"\xff\xfe\x00")
    elif tamper == "not-json":
        path.write_text("{")
    elif tamper == "wrong-shape":
        path.write_text(json.dumps({**data, "extra": 1}))
    elif tamper == "error-finding":
        data["findings"] = [{"message": "m", "path": [], "file": "f", "line": 1, "column": 1, "severity": "error",
                             "rule": ""}]
        path.write_text(json.dumps(data))
    elif tamper == "huge":
        path.write_text(json.dumps({**data, "findings": ["x" * 1024] * (stamp.MAX_STAMP_BYTES // 1024 + 1)}))
    elif tamper == "symlink":
        target = repo.parent / "elsewhere.json"
        target.write_text(path.read_text())
        path.unlink()
        path.symlink_to(target)
    else:
        path.write_text(json.dumps({**data, "state": "0" * 64}))
    assert render(repo, capsys)[0] == 0 and len(gates) == 2
    assert not path.is_symlink() and json.loads(path.read_text())["state"] == data["state"]


def test_no_git_directory_no_stamp(iris_repo: Path, gates, capsys):
    assert render(iris_repo, capsys)[0] == 0
    assert render(iris_repo, capsys)[0] == 0 and len(gates) == 2
    assert not (iris_repo / ".git").exists()


def test_a_failing_render_keeps_failing(repo: Path, gates, capsys):
    assert render(repo, capsys)[0] == 0
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("algorithm: random", "algorithm: no-such-algorithm"))
    first = render(repo, capsys)
    assert first[0] == 1 and render(repo, capsys) == first and len(gates) == 3


def test_render_without_validation_never_stamps(repo: Path, gates, capsys):
    assert render(repo, capsys, "--no-validate")[0] == 0
    assert not stamp_file(repo).exists()
    assert render(repo, capsys)[0] == 0 and len(gates) == 1
    edit_spec(repo)
    assert render(repo, capsys, "--no-validate")[0] == 0  # writes a tree no gate has seen
    assert render(repo, capsys)[0] == 0 and len(gates) == 2


def test_an_edit_while_render_runs_leaves_no_stamp(repo: Path, capsys, monkeypatch):
    """Edited and put back while the gate runs: the contents match, the file's change time does not."""
    spec = repo / "experiments" / "iris.yaml"
    real = render_gate.validate_staged

    def meanwhile(r, result, options=None):
        text = spec.read_text()
        spec.write_text(text + "# edited\n")
        spec.write_text(text)
        return real(r, result, options)

    monkeypatch.setattr(render_gate, "validate_staged", meanwhile)
    assert render(repo, capsys)[0] == 2  # the spec moved under it: nothing written (writer.write_locked)
    assert not stamp_file(repo).exists()


def test_a_stale_generated_copy_the_gate_never_sees_leaves_no_stamp(repo: Path, gates, capsys):
    assert render(repo, capsys)[0] == 0
    # A copy of a generated file that the render record does not list: render neither writes nor removes it.
    patch = next((repo / "overlays" / "gpu" / "patches").iterdir())
    (repo / "overlays" / "gpu" / "patches" / "copy.yaml").write_bytes(patch.read_bytes())
    assert render(repo, capsys)[0] == 1 and len(gates) == 2  # check reports the stray copy: render refuses
    assert render(repo, capsys)[0] == 1 and len(gates) == 3  # the first stamp does not vouch for this tree


def test_another_render_holding_the_lock_is_reported_as_before(repo: Path, capsys):
    from katib_gitops.repo.writer import locked

    assert render(repo, capsys)[0] == 0
    with locked(repo):
        code, out, err = render(repo, capsys)
    assert code == 2 and "another katib-gitops render is running" in err


def test_the_shortcut_does_not_load_the_renderer_or_the_validators(repo: Path):
    """What makes it fast: the verdict comes before the YAML stack, the renderer and the validators load."""
    assert cli("render", "-C", str(repo), "-q") == 0
    probe = ("import sys\nfrom katib_gitops.cli import main\nassert main(['render', '-q', '-C', sys.argv[1]]) == 0\n"
             "heavy = [m for m in ('katib_gitops.build.render', 'katib_gitops.pipeline.render_gate', "
             "'katib_gitops.validation', 'katib_gitops.build.builds', 'ruamel.yaml', 'jsonschema_rs') "
             "if m in sys.modules]\nprint(heavy)\n")
    out = subprocess.run([os.sys.executable, "-c", probe, str(repo)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("reference", ["absolute", "parent", "remote"])
def test_a_component_that_reads_outside_the_tree_is_never_vouched_for(repo: Path, gates, capsys, reference):
    """What kustomize reads from elsewhere is not in the digest: every render runs the full gate."""
    outside = repo.parent / f"{repo.name}-outside"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (outside / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n")
    name = {"absolute": str(outside), "parent": "../../../experiments",
            "remote": "https://github.com/example/bases//cm?ref=v1"}[reference]
    add_custom_component(repo)
    custom = repo / "overlays" / "cpu" / "custom" / "kustomization.yaml"
    custom.write_text(custom.read_text() + f"resources: [{name}]\n")
    render(repo, capsys)
    render(repo, capsys)
    assert len(gates) == 2 and not stamp_file(repo).exists()


def test_a_component_reading_its_own_files_keeps_the_shortcut(repo: Path, gates, capsys):
    add_custom_component(repo)
    custom = repo / "overlays" / "cpu" / "custom"
    # A patch file of its own (an overlay deploys only its Experiments: a component adds no other object).
    (custom / "extra.yaml").write_text("- op: add\n  path: /metadata/annotations/owner\n  value: shared\n")
    (custom / "kustomization.yaml").write_text((custom / "kustomization.yaml").read_text()
                                               + "patches:\n- path: extra.yaml\n  target: {kind: Experiment}\n")
    assert render(repo, capsys)[0] == 0 and render(repo, capsys)[0] == 0 and len(gates) == 1
    (custom / "extra.yaml").write_text((custom / "extra.yaml").read_text().replace("shared", "other"))
    assert render(repo, capsys)[0] == 0 and len(gates) == 2
