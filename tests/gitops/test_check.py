"""check: the CI gate, and init/new scaffolding that passes it at once."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli


def test_hand_edit_fails_check_until_rerendered(iris_repo: Path, capsys):
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    assert cli("check", "-C", str(iris_repo)) == 0
    (patch,) = (iris_repo / "overlays" / "gpu" / "patches").glob("job-*.yaml")
    patch.write_text(patch.read_text().replace("memory: 8Gi", "memory: 16Gi"))
    capsys.readouterr()
    assert cli("check", "-C", str(iris_repo)) == 1
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if "out of date" in ln]
    assert line.startswith(f"overlays/gpu/patches/{patch.name}:")
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    assert cli("check", "-C", str(iris_repo)) == 0


def test_missing_and_stale_files_are_named(iris_repo: Path, capsys):
    # A real stale file: rendered from a spec that was then deleted (ownership needs the render record).
    spec = iris_repo / "experiments" / "iris.yaml"
    (iris_repo / "experiments" / "old.yaml").write_text(spec.read_text().replace("name: iris", "name: old"))
    cli("render", "-C", str(iris_repo), "-q")
    (iris_repo / "experiments" / "old.yaml").unlink()
    (iris_repo / "base" / "cpu" / "iris.yaml").unlink()
    stale = iris_repo / "base" / "cpu" / "old.yaml"
    assert stale.is_file()
    capsys.readouterr()
    assert cli("check", "-C", str(iris_repo), "--output", "json") == 1
    findings = json.loads(capsys.readouterr().out)
    by_file = {f["file"]: f["message"] for f in findings if f["rule"] == "sync"}
    assert by_file["base/cpu/iris.yaml"].startswith("missing")
    assert by_file["base/cpu/old.yaml"].startswith("stale")


def test_check_reports_spec_errors_with_lines(iris_repo: Path, capsys):
    spec = iris_repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("  max: 12", "  max: -1"))
    capsys.readouterr()
    assert cli("check", "-C", str(iris_repo)) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "experiments/iris.yaml:13:3: spec.maxTrialCount: must be greater than 0" in text, text


def test_init_then_check_passes(tmp_path: Path, capsys):
    target = tmp_path / "team-repo"
    assert cli("init", str(target), "--experiment", "quadratic") == 0
    for rel in ("experiments/quadratic.yaml", "trainer/train.py", "trainer/Containerfile", "katib-gitops.yaml",
                ".github/workflows/katib-gitops.yml", ".pre-commit-config.yaml", "README.md", "base/cpu/quadratic.yaml"):
        assert (target / rel).is_file(), rel
    workflow = (target / ".github/workflows/katib-gitops.yml").read_text()
    assert "${{ github.base_ref }}" in workflow and "katib-gitops check" in workflow
    assert cli("check", "-C", str(target)) == 0


def test_init_refuses_a_non_empty_directory(tmp_path: Path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert cli("init", str(tmp_path)) == 2
    assert (tmp_path / "keep.txt").read_text() == "x"
    assert "not empty" in capsys.readouterr().err


def test_new_from_keeps_comments_and_order(iris_repo: Path):
    source = iris_repo / "experiments" / "iris.yaml"
    assert cli("new", "iris-large", "--from", str(source), "-C", str(iris_repo)) == 0
    copy = (iris_repo / "experiments" / "iris-large.yaml").read_text()
    original = source.read_text()
    assert copy == original.replace("name: iris\n", "name: iris-large\n")
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    assert (iris_repo / "base" / "gpu" / "iris-large.yaml").is_file()


def test_new_from_template(iris_repo: Path):
    assert cli("new", "mnist", "-C", str(iris_repo)) == 0
    text = (iris_repo / "experiments" / "mnist.yaml").read_text()
    assert text.count("name: mnist") == 1 and "cookiecutter" not in text
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    assert cli("check", "-C", str(iris_repo)) == 0


def test_check_outside_any_katib_repository_says_where_to_run_it(tmp_path: Path, capsys):
    """At a monorepo's top (a pre-commit hook run there), nothing above is a katib-gitops repository: check
    says to run it in the folder or with -C, not that experiments/ is missing; with katib-gitops.yaml but no
    experiments/, it still says a render would remove every Experiment."""
    (tmp_path / "platform" / "katib").mkdir(parents=True)
    assert cli("check", "-C", str(tmp_path)) == 1
    err = "".join(capsys.readouterr())
    assert "no katib-gitops repository here or above" in err and "-C FOLDER" in err
    (tmp_path / "katib-gitops.yaml").write_text("namespace: kubeflow\n")
    assert cli("check", "-C", str(tmp_path)) == 1
    err = "".join(capsys.readouterr())
    assert "experiments/ does not exist: render would remove every Experiment" in err
