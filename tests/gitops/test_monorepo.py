"""`init platform/katib` inside an existing repository, used as a team would: a commit on main, a feature
branch that changes a spec, render, plan against main, check, status and results, from the folder and from
the top; the workflow at the top, running in the folder; git.path for Argo CD and Flux."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import cli
from workflow_support import load, run_step, triggers

FOLDER = "platform/katib"
WORKFLOW = ".github/workflows/katib-gitops-platform-katib.yml"


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    """A team's repository with other content and a workflow of its own, on main."""
    top = tmp_path / "mono"
    (top / "services" / "api").mkdir(parents=True)
    (top / "services" / "api" / "main.py").write_text("print('hello')\n")
    (top / ".github" / "workflows").mkdir(parents=True)
    (top / ".github" / "workflows" / "api.yml").write_text("name: api\non: push\njobs: {}\n")
    (top / "README.md").write_text("# mono\n")
    git(top, "init", "-q", "-b", "main")
    git(top, "remote", "add", "origin", "https://someone:ghp_secret123@github.com/acme/mono.git")
    git(top, "add", "-A")
    git(top, "commit", "-qm", "the team's repository")
    return top


def test_init_in_a_folder_of_a_repository(monorepo: Path, capsys, monkeypatch):
    monkeypatch.chdir(monorepo)
    assert cli("init", FOLDER) == 0  # platform/ does not exist yet
    out = capsys.readouterr().out
    assert "git init" not in out and f"git.path {FOLDER}" in out and WORKFLOW in out
    assert f"add the hooks shown in {FOLDER}/README.md" in out
    folder = monorepo / FOLDER
    # the workflow is where GitHub reads it; the folder has no .github, no pre-commit config of its own
    assert not (folder / ".github").exists() and not (folder / ".pre-commit-config.yaml").exists()
    assert (monorepo / ".github/workflows/api.yml").read_text() == "name: api\non: push\njobs: {}\n"
    workflow = load(monorepo / WORKFLOW)
    assert workflow["name"] == f"katib-gitops ({FOLDER})"
    on = triggers(workflow)
    assert on["push"] == {"branches": ["main"], "paths": [f"{FOLDER}/**", WORKFLOW]}
    assert on["pull_request"] == {"paths": [f"{FOLDER}/**", WORKFLOW]}
    assert workflow["jobs"]["check"]["defaults"] == {"run": {"working-directory": FOLDER}}
    assert "defaults" not in workflow["jobs"]["comment"]  # it checks nothing out: no folder to run in
    # Argo CD and Flux sync the folder; origin's URL without its credentials
    settings = yaml.safe_load((folder / "katib-gitops.yaml").read_text())
    assert settings["git"] == {"repoURL": "https://github.com/acme/mono.git", "revision": "main", "path": FOLDER}
    assert "ghp_secret123" not in "".join(p.read_text() for p in folder.rglob("*.yaml"))
    argo = yaml.safe_load((folder / "deploy/argocd/katib.yaml").read_text())
    flux = [d for d in yaml.safe_load_all((folder / "deploy/flux/katib.yaml").read_text())
            if d and d["kind"] == "Kustomization"]
    assert argo["spec"]["source"]["path"] == FOLDER and flux[0]["spec"]["path"] == f"./{FOLDER}"
    readme = (folder / "README.md").read_text()
    assert f"entry: katib-gitops check -C {FOLDER}" in readme and f"files: ^{FOLDER}/" in readme
    assert cli("check", "-C", FOLDER) == 0


def test_a_workflow_of_that_name_is_not_overwritten(monorepo: Path, capsys):
    workflow = monorepo / WORKFLOW
    workflow.write_text("name: mine\n")
    assert cli("init", str(monorepo / FOLDER)) == 2
    err = capsys.readouterr().err
    assert err.startswith(str(workflow)) and "overwrites nothing" in err
    assert workflow.read_text() == "name: mine\n" and not (monorepo / "platform").exists()
    assert git(monorepo, "status", "--porcelain") == f"?? {WORKFLOW}\n"


def test_init_at_the_top_of_a_fresh_repository(tmp_path: Path, capsys):
    top = tmp_path / "fresh"
    top.mkdir()
    git(top, "init", "-q", "-b", "trunk")
    assert cli("init", str(top)) == 0  # only .git in it: still an empty repository
    out = capsys.readouterr().out
    assert "git init" not in out and "next: cd" in out
    assert (top / ".github/workflows/katib-gitops.yml").is_file() and (top / ".pre-commit-config.yaml").is_file()
    settings = yaml.safe_load((top / "katib-gitops.yaml").read_text())
    assert settings["git"]["revision"] == "trunk" and "path" not in settings["git"]
    assert triggers(load(top / ".github/workflows/katib-gitops.yml"))["push"] == {"branches": ["trunk"]}


def test_a_feature_branch_from_the_folder_and_from_the_top(monorepo: Path, tmp_path: Path, capsys, monkeypatch):
    folder = monorepo / FOLDER
    assert cli("init", str(folder)) == 0
    git(monorepo, "add", "-A")
    git(monorepo, "commit", "-qm", "katib experiments")
    git(monorepo, "checkout", "-qb", "wider-momentum")
    spec = folder / "experiments" / "quadratic.yaml"
    spec.write_text(spec.read_text().replace("momentum: {double: [0.5, 0.99]}", "momentum: {double: [0.8, 0.99]}")
                    .replace("max: 20 ", "max: 40 "))
    capsys.readouterr()

    monkeypatch.chdir(folder / "experiments")  # anywhere inside the folder
    assert cli("render", "-q") == 0
    assert cli("plan", "--base", "main") == 0
    plan = capsys.readouterr().out
    assert "experiments/quadratic.yaml [cpu]: replaced" in plan
    assert "spec.parameters[1].feasibleSpace.min: 0.5 -> 0.8" in plan
    assert cli("plan") == 0  # the default base: the merge base with main, the same commit here
    assert capsys.readouterr().out == plan
    assert cli("check") == 0
    assert capsys.readouterr().out == "katib-gitops check: in sync and valid\n"

    monkeypatch.chdir(monorepo)
    assert cli("plan", "-C", FOLDER, "--base", "main") == 0
    assert capsys.readouterr().out == plan
    assert cli("check", "-C", FOLDER, "-q") == 0
    live = tmp_path / "live.yaml"
    live.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": []}))
    assert cli("status", "-C", FOLDER, "--live", str(live)) == 0
    assert "experiments/quadratic.yaml" in capsys.readouterr().out
    monkeypatch.chdir(folder)
    assert cli("results", "--live", str(live)) == 0
    assert "no completed Experiments" in capsys.readouterr().out

    # check's annotations name files from the top of the checkout, where GitHub places them
    spec.write_text(spec.read_text().replace("max: 40 ", "max: -1 "))
    assert cli("check", "--output", "github") == 1
    annotations = capsys.readouterr().out.splitlines()
    assert annotations and all(a.startswith("::error file=platform/katib/") for a in annotations)
    assert any(a.startswith("::error file=platform/katib/experiments/quadratic.yaml,line=") for a in annotations)


def test_the_workflow_steps_run_in_the_folder(monorepo: Path, tmp_path: Path):
    """The check and plan steps as written, on a clone's pull-request branch, from the top of the checkout."""
    folder = monorepo / FOLDER
    assert cli("init", str(folder)) == 0
    git(monorepo, "add", "-A")
    git(monorepo, "commit", "-qm", "katib experiments")
    clone = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(monorepo), str(clone))
    git(clone, "checkout", "-qb", "change")
    spec = clone / FOLDER / "experiments" / "quadratic.yaml"
    spec.write_text(spec.read_text().replace("max: 20 ", "max: 30 "))
    assert cli("render", "-C", str(clone / FOLDER), "-q") == 0
    git(clone, "commit", "-qam", "more trials")
    job = load(clone / WORKFLOW)["jobs"]["check"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    runner = tmp_path / "runner"
    for step in job["steps"]:
        if "run" in step and "pip install" not in step["run"]:
            proc = run_step(step, job, clone, runner, env, {"github.base_ref": "main"})
            assert proc.returncode == 0, (step["name"], proc.stdout, proc.stderr)
    plan = (runner / "temp" / "katib-gitops-plan.md").read_text()
    assert "updated in place" in plan and "`spec.maxTrialCount`: `20` → `30`" in plan
