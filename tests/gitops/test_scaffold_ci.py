"""init's CI: the workflow installs exactly this version; editor modeline; the Action and hooks agree."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, cli
from katib_gitops import __version__


def _install_step(repo: Path) -> str:
    workflow = yaml.safe_load((repo / ".github/workflows/katib-gitops.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["check"]["steps"] if "pip install" in str(s.get("run", ""))]
    return step["run"]


def test_init_pins_this_version_and_ships_the_spec_schema(tmp_path: Path):
    repo = tmp_path / "team"
    assert cli("init", str(repo)) == 0
    run = _install_step(repo)
    assert shlex.split(run)[:5] == ["python", "-m", "pip", "install", f"katib-gitops=={__version__}"]
    spec = (repo / "experiments" / "quadratic.yaml").read_text()
    assert spec.splitlines()[0] == "# yaml-language-server: $schema=../schemas/spec.schema.json"
    shipped = json.loads((repo / "schemas" / "spec.schema.json").read_text())
    assert shipped == json.loads((REPO_ROOT / "schemas" / "spec.schema.json").read_text())
    readme = (repo / "README.md").read_text()
    assert "kubectl apply --server-side -k deploy/argocd" in readme and "Flux (≥ 2.5" in readme
    settings = yaml.safe_load((repo / "katib-gitops.yaml").read_text())
    assert settings["createNamespace"] is True and "default is false" in (repo / "katib-gitops.yaml").read_text()
    assert cli("check", "-C", str(repo)) == 0
    assert cli("new", "second", "-C", str(repo)) == 0
    assert (repo / "experiments" / "second.yaml").read_text().startswith("# yaml-language-server: $schema=")


def test_init_with_a_wheel_copies_it_and_installs_it(tmp_path: Path):
    wheel = tmp_path / f"katib_gitops-{__version__}-py3-none-any.whl"
    wheel.write_bytes(b"PK")  # only its name and presence matter to init
    repo = tmp_path / "team"
    assert cli("init", str(repo), "--install", str(wheel)) == 0
    assert (repo / "tools" / wheel.name).read_bytes() == b"PK"
    assert f'"./tools/{wheel.name}"' in _install_step(repo)
    assert cli("check", "-C", str(repo)) == 0


@pytest.mark.parametrize("source,ok", [
    (f"git+https://git.example.com/ml/katib-gitops.git@v{__version__}", True),
    ("git+https://git.example.com/ml/katib-gitops.git", False),  # no tag: not a fixed version
    ("katib-gitops", True),  # pinned to this version
    ("katib-gitops==0.0.1", False),
    ('katib-gitops"; curl evil', False),
    ("katib_gitops-9.9.9-py3-none-any.whl", False),
])
def test_install_sources(tmp_path: Path, capsys, source: str, ok: bool):
    repo = tmp_path / "team"
    assert cli("init", str(repo), "--install", source) == (0 if ok else 2)
    if ok:
        run = _install_step(repo)
        assert (source if source.startswith("git+") else f"katib-gitops=={__version__}") in run
    else:
        assert not repo.exists() and "--install" in capsys.readouterr().err


def test_action_and_pre_commit_hooks_run_the_same_check():
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
    runs = [s.get("run", "") for s in action["runs"]["steps"]]
    (check,) = [r for r in runs if r.startswith("katib-gitops check")]
    hooks = {h["id"]: h for h in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert check.split(" --output")[0] == hooks["katib-gitops-check"]["entry"]
    assert any("katib-gitops plan" in r and "--output markdown" in r for r in runs)
    # the Action's inputs are what its steps use
    used = " ".join(str(s) for s in action["runs"]["steps"])
    assert all(f"inputs.{name}" in used for name in action["inputs"])


def test_the_scaffolds_workflow_steps_run_as_written(tmp_path: Path):
    """The check and plan steps of the generated workflow, run in a shell on a clone with a PR branch.

    (The install step needs a package index; it is exercised by hand, see the CHANGELOG.)
    """
    import os
    import subprocess
    import sys

    def sh(cmd: str, cwd: Path) -> str:
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@t"}
        proc = subprocess.run(["bash", "-ec", cmd], cwd=cwd, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
        return proc.stdout

    upstream = tmp_path / "team"
    assert cli("init", str(upstream)) == 0
    sh("sed -i 's/^profile: cpu/profile: gpu/' experiments/quadratic.yaml && katib-gitops render -q && "
       "git init -q -b main && git add -A && git commit -qm init", upstream)
    clone = tmp_path / "clone"
    sh(f"git clone -q {upstream} {clone}", tmp_path)
    sh("git checkout -qb change && sed -i 's/max: 20 /max: 40 /; s/momentum: {double: \\[0.5, 0.99\\]}/"
       "momentum: {double: [0.8, 0.99]}/' experiments/quadratic.yaml && katib-gitops render -q && "
       "git commit -qam change", clone)
    workflow = yaml.safe_load((clone / ".github/workflows/katib-gitops.yml").read_text())
    steps = [s["run"] for s in workflow["jobs"]["check"]["steps"] if "run" in s]
    for run in steps:
        if "pip install" in run or "gh pr comment" in run:
            continue
        sh(run.replace("${{ github.base_ref }}", "main"), clone)
    plan = (clone / "plan.md").read_text()
    assert "replaced" in plan and "**GPU budget**: 2 GPU(s) at once" in plan
    assert "`spec.parameters[1].feasibleSpace.min`: `0.5` → `0.8`" in plan
