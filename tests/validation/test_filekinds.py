"""validate on YAML that is not a manifest: the tool's own files are checked as the tool reads them, other
tools' files (pre-commit, GitHub Actions) are left alone, whatever directory they sit in."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import REPO_ROOT, cli


def _validate(capsys, *paths: Path) -> tuple[int, list[str]]:
    capsys.readouterr()
    status = cli("validate", *map(str, paths))
    captured = capsys.readouterr()
    return status, captured.out.splitlines() + captured.err.splitlines()[:-1]  # the summary line aside


def test_this_repositorys_own_files_validate_clean(capsys):
    files = [REPO_ROOT / name for name in ("action.yml", ".pre-commit-hooks.yaml", ".pre-commit-config.yaml",
                                            "katib-gitops.yaml", "katib-gitops.generated.yaml")]
    files += sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    status, lines = _validate(capsys, *files)
    assert (status, lines) == (0, [])


def test_settings_are_checked_against_their_schema(tmp_path: Path, capsys):
    settings = tmp_path / "katib-gitops.yaml"
    settings.write_text("namespace: kubeflow\ngit:\n  revison: main\n")
    status, lines = _validate(capsys, settings)
    assert status == 1 and lines[0].startswith(f"{settings}:3:3: git.revison: unknown field `revison`")
    settings.write_text("namespace: kubeflow\ngit: {revision: main, path: platform/katib}\n")
    assert _validate(capsys, settings) == (0, [])


def test_the_render_record_is_checked_for_its_shape(tmp_path: Path, capsys):
    record = tmp_path / "katib-gitops.generated.yaml"
    shutil.copy(REPO_ROOT / "katib-gitops.generated.yaml", record)
    assert _validate(capsys, record) == (0, [])
    record.write_text(record.read_text().replace("base/", "../outside/", 1))
    status, lines = _validate(capsys, record)
    assert status == 0 and "warning: render record ignored" in lines[0] and lines[0].startswith(str(record))


def test_results_files_are_checked_against_their_schema(tmp_path: Path, capsys):
    (tmp_path / "experiments").mkdir()
    results = tmp_path / "results" / "iris.yaml"
    results.parent.mkdir()
    results.write_text("spec: iris\nexperiments: []\n")
    assert _validate(capsys, results) == (0, [])
    results.write_text("spec: other\nexperiments: []\n")
    status, lines = _validate(capsys, results)
    assert status == 1 and "must match the file name 'iris'" in lines[0]


def test_other_tools_files_are_left_alone(tmp_path: Path, capsys):
    hooks = tmp_path / ".pre-commit-hooks.yaml"
    hooks.write_text("- id: x\n  name: x\n  entry: x\n  language: system\n")
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text("repos:\n  - repo: local\n    hooks: []\n")
    action = tmp_path / "action.yml"
    action.write_text("name: a\ndescription: b\nruns: {using: composite, steps: []}\n")
    assert _validate(capsys, hooks, config, action) == (0, [])
    # a list that is neither a patch nor pre-commit's hooks is still no manifest
    other = tmp_path / "list.yaml"
    other.write_text("- a\n- b\n")
    status, lines = _validate(capsys, other)
    assert status == 1 and "must be a mapping, not a list [k8s-object]" in lines[0]
