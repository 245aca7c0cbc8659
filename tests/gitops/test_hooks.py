"""The pre-commit hooks, run by real pre-commit on a pristine `init` repository: every hook this project offers
(.pre-commit-hooks.yaml) and the scaffold's own .pre-commit-config.yaml pass on what init wrote, and fail on
what they exist to catch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, cli

BIN = Path(sys.executable).parent


def _offered_hooks_as_system(config: Path) -> list[str]:
    """.pre-commit-hooks.yaml as a local config, each hook's `language: python` made `language: system` with the
    entry run from this test environment. Everything else (files, types, exclude, pass_filenames, always_run,
    args) is kept as published, so pre-commit hands each hook the files it would hand the published hook.

    Why not `pre-commit try-repo` itself: with `language: python` pre-commit builds a virtual environment and
    installs this checkout and its dependencies from the package index into it, about 45 s with the network;
    the hooks' definitions, which are what fails on a team's files, are the same either way.
    """
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    for hook in hooks:
        assert hook["language"] == "python"
        hook["language"] = "system"
        hook["entry"] = f"{BIN / hook['entry'].split()[0]} {hook['entry'].split(' ', 1)[1]}"
    config.write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": hooks}]}, sort_keys=False))
    return [h["id"] for h in hooks]


def _pre_commit(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    pre_commit = shutil.which("pre-commit", path=str(BIN))
    assert pre_commit, "pre-commit is part of the test extra"
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "NO_COLOR": "1", "PRE_COMMIT_COLOR": "never"}
    return subprocess.run([pre_commit, "run", "--all-files", "--color", "never", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def pristine(tmp_path: Path) -> Path:
    repo = tmp_path / "team"
    assert cli("init", str(repo)) == 0
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    return repo


def test_every_offered_hook_passes_on_a_pristine_repository(pristine: Path, tmp_path: Path):
    config = tmp_path / "hooks.yaml"
    ids = _offered_hooks_as_system(config)
    assert ids == ["katib-gitops-check", "katib-gitops-render", "katib-gitops-validate"]
    proc = _pre_commit(pristine, tmp_path / "home", "-c", str(config), "--verbose")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed = [line for line in proc.stdout.splitlines() if line.endswith("Passed")]
    assert len(passed) == 3, proc.stdout
    # validate was handed the generated YAML, JSON 6902 patches, the workflow and the tool's own files
    # (pre-commit runs it in parallel batches: one summary line per batch)
    counts = [int(line.rsplit(" in ", 1)[1].split()[0]) for line in proc.stdout.splitlines()
              if line.startswith("0 errors, 0 warnings in ")]
    yaml_files = subprocess.run(["git", "ls-files", "*.yaml", "*.yml"], cwd=pristine, capture_output=True,
                                text=True, check=True).stdout.split()
    assert ".github/workflows/katib-gitops.yml" in yaml_files and "katib-gitops.generated.yaml" in yaml_files
    assert sum(counts) == len([f for f in yaml_files if not f.startswith("experiments/")]) == 17


def test_the_offered_hooks_fail_on_what_they_catch(pristine: Path, tmp_path: Path):
    config = tmp_path / "hooks.yaml"
    _offered_hooks_as_system(config)
    home = tmp_path / "home"
    # a hand-edited patch file: validate names the bad operation (render would restore the file, so alone)
    patch = next((pristine / "overlays" / "cpu" / "patches").glob("*.yaml"))
    patch.write_text(patch.read_text().replace("- op: add", "- op: ad", 1))
    proc = _pre_commit(pristine, home, "-c", str(config), "katib-gitops-validate")
    assert proc.returncode == 1 and "[json6902]" in proc.stdout and "`ad` is not one of" in proc.stdout
    # a spec changed without rendering: check fails, render brings the generated files up to date
    subprocess.run(["git", "checkout", "-q", "--", "overlays"], cwd=pristine, check=True)
    spec = pristine / "experiments" / "quadratic.yaml"
    spec.write_text(spec.read_text().replace("max: 20 ", "max: 25 "))
    proc = _pre_commit(pristine, home, "-c", str(config))
    failed = {line.split(".", 1)[0] for line in proc.stdout.splitlines() if line.endswith("Failed")}
    assert proc.returncode == 1 and failed == {"katib-gitops check", "katib-gitops render"}, proc.stdout
    assert "out of date" in proc.stdout and "files were modified by this hook" in proc.stdout


def test_the_scaffolds_own_hooks_pass_then_keep_it_in_sync(pristine: Path, tmp_path: Path):
    home = tmp_path / "home"
    proc = _pre_commit(pristine, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spec = pristine / "experiments" / "quadratic.yaml"
    spec.write_text(spec.read_text().replace("max: 20 ", "max: 25 "))
    proc = _pre_commit(pristine, home)
    assert proc.returncode == 1 and "files were modified by this hook" in proc.stdout  # render caught up
    assert _pre_commit(pristine, home).returncode == 0
