"""init's CI: the workflow installs exactly this version (by default its wheel, kept in tools/ with its sha256
pinned), passes zizmor, asks each job for the least it needs, survives pull requests from forks, and keeps one
plan comment per pull request; the Action does the same; the steps run as written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, cli, offline_env
from katib_gitops import __version__
from katib_gitops.scaffold.wheel import running_wheel, wheel_name
from workflow_support import load, pins, run_step, uses

WORKFLOW = ".github/workflows/katib-gitops.yml"
COMMENT_SCRIPT = REPO_ROOT / "generator/katib_gitops/templates/repo/templates/comment-plan.sh"


def _job_steps(repo: Path, job: str = "check") -> list[dict]:
    return load(repo / WORKFLOW)["jobs"][job]["steps"]


def _install_step(repo: Path) -> dict:
    (step,) = [s for s in _job_steps(repo) if "pip install" in str(s.get("run", ""))]
    return step


def test_init_keeps_this_versions_wheel_and_pins_its_hash(tmp_path: Path, capsys):
    repo = tmp_path / "team"
    assert cli("init", str(repo)) == 0
    out = capsys.readouterr().out
    wheel = repo / "tools" / wheel_name()
    step = _install_step(repo)
    assert step["env"] == {"WHEEL": f"tools/{wheel.name}", "WHEEL_SHA256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
    assert 'sha256sum --check --strict' in step["run"] and 'python -m pip install "$WHEEL"' in step["run"]
    assert wheel.read_bytes() == running_wheel()[1]  # the running version, byte for byte
    # init says what it chose and how to change it; outside git it says to make a repository
    assert f"installs katib-gitops {__version__} from {repo}/tools/{wheel.name}" in out
    assert f"--install katib-gitops=={__version__}" in out and "git init -b main" in out
    spec = (repo / "experiments" / "quadratic.yaml").read_text()
    assert spec.splitlines()[0] == "# yaml-language-server: $schema=../schemas/spec.schema.json"
    shipped = json.loads((repo / "schemas" / "spec.schema.json").read_text())
    assert shipped == json.loads((REPO_ROOT / "schemas" / "spec.schema.json").read_text())
    readme = (repo / "README.md").read_text()
    assert "kubectl apply --server-side -k deploy/argocd" in readme and "Flux (≥ 2.5" in readme
    assert f"from `tools/{wheel.name}`" in readme
    settings = yaml.safe_load((repo / "katib-gitops.yaml").read_text())
    assert settings["createNamespace"] is True and "default is false" in (repo / "katib-gitops.yaml").read_text()
    assert "path" not in settings["git"]  # the repository's own top
    assert cli("check", "-C", str(repo)) == 0
    assert cli("new", "second", "-C", str(repo)) == 0
    assert (repo / "experiments" / "second.yaml").read_text().startswith("# yaml-language-server: $schema=")


def test_the_kept_wheel_is_reproducible():
    # The same installed version gives the same bytes, so a second init pins the same sha256.
    name, first = running_wheel()
    assert name == wheel_name() and running_wheel()[1] == first


def test_init_with_a_wheel_keeps_it_with_its_hash(tmp_path: Path, capsys):
    wheel = tmp_path / wheel_name()
    wheel.write_bytes(b"PK")  # only its name and bytes matter to init
    repo = tmp_path / "team"
    assert cli("init", str(repo), "--install", str(wheel)) == 0
    assert (repo / "tools" / wheel.name).read_bytes() == b"PK"
    assert _install_step(repo)["env"]["WHEEL_SHA256"] == hashlib.sha256(b"PK").hexdigest()
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
        step = _install_step(repo)
        expected = source if source.startswith("git+") else f"katib-gitops=={__version__}"
        assert step["env"] == {"REQUIREMENT": expected} and 'pip install "$REQUIREMENT"' in step["run"]
        assert not (repo / "tools").exists()
        out = capsys.readouterr().out
        assert "--install WHEEL_FILE" in out and "the default, without --install, keeps this version's wheel" in out
    else:
        assert not repo.exists() and "--install" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# zizmor and the rules behind it


def _zizmor(*paths: Path) -> list[dict]:
    """zizmor's findings, offline (no online audits), failing on files it cannot parse."""
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    assert zizmor, "zizmor is part of the test extra"
    proc = subprocess.run([zizmor, "--offline", "--no-progress", "--strict-collection", "--format", "json",
                           *map(str, paths)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"})
    assert proc.stdout.strip().startswith("["), proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory) -> dict[str, Path]:
    """Workflows init writes: at a repository's top (the default install, and a package index's), and for a
    folder of a larger repository."""
    base = tmp_path_factory.mktemp("scaffolds")
    assert cli("init", str(base / "top")) == 0
    assert cli("init", str(base / "indexed"), "--install", f"katib-gitops=={__version__}") == 0
    mono = base / "mono"
    mono.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(mono)], check=True)
    assert cli("init", str(mono / "platform" / "katib")) == 0
    return {"top": base / "top" / WORKFLOW, "indexed": base / "indexed" / WORKFLOW,
            "monorepo": mono / ".github/workflows/katib-gitops-platform-katib.yml"}


def test_no_error_level_zizmor_finding(scaffolds: dict[str, Path]):
    files = [*scaffolds.values(), REPO_ROOT / "action.yml", *sorted((REPO_ROOT / ".github/workflows").glob("*.yml"))]
    findings = _zizmor(*files)
    high = [(f["ident"], f["locations"][0]["symbolic"]["key"]) for f in findings
            if f["determinations"]["severity"] == "High"]
    assert high == []
    # zizmor reports the same file it was given: all of them were read
    seen = {loc["symbolic"]["key"]["Local"]["verbatim_path"] for f in findings for loc in f["locations"]}
    assert seen <= {str(p) for p in files}


def test_zizmor_would_catch_an_expression_in_run(tmp_path: Path, scaffolds: dict[str, Path]):
    # The test above can fail: the old workflow's `--base "origin/${{ github.base_ref }}"` is an error.
    bad = tmp_path / "bad.yml"
    text = scaffolds["top"].read_text()
    bad.write_text(text.replace('--base "origin/$BASE_REF"', '--base "origin/${{ github.base_ref }}"'))
    assert [f["ident"] for f in _zizmor(bad) if f["determinations"]["severity"] == "High"] == ["template-injection"]


@pytest.mark.parametrize("which", ["top", "indexed", "monorepo"])
def test_each_job_asks_for_the_least_it_needs(scaffolds: dict[str, Path], which: str):
    workflow = load(scaffolds[which])
    assert workflow["permissions"] == {}
    check, comment = workflow["jobs"]["check"], workflow["jobs"]["comment"]
    assert check["permissions"] == {"contents": "read"}
    # pull-requests: write only for the job that comments, only on pull requests, never for forks
    assert comment["permissions"] == {"pull-requests": "write"} and comment["needs"] == "check"
    assert comment["if"] == ("${{ !cancelled() && needs.check.outputs.plan == 'true' && "
                             "github.event_name == 'pull_request' "
                             "&& github.event.pull_request.head.repo.full_name == github.repository }}")
    assert not any(s.get("uses", "").startswith("actions/checkout") for s in comment["steps"])  # no code checked out
    for job in workflow["jobs"].values():
        assert 0 < job["timeout-minutes"] <= 30
        for step in job["steps"]:
            assert "${{" not in step.get("run", "")
            if step.get("uses", "").startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False
    # a fork's pull request still gets its plan: made and uploaded by the check job, which needs no write token
    upload = [s for s in check["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    (plan,) = [s for s in check["steps"] if s.get("id") == "plan"]
    assert plan["if"] == "${{ !cancelled() && github.event_name == 'pull_request' }}"
    assert upload and upload[0]["if"] == "${{ !cancelled() && steps.plan.outputs.made == 'true' }}"
    assert upload[0]["with"]["name"] == "katib-gitops-plan"
    # and a comment that fails does not fail the run
    (post,) = [s for s in comment["steps"] if "run" in s]
    assert post["continue-on-error"] is True and post["env"]["MARKER"].startswith("<!-- katib-gitops plan")


def test_actions_are_pinned_to_one_commit_each(scaffolds: dict[str, Path]):
    files = [*scaffolds.values(), REPO_ROOT / "action.yml", *sorted((REPO_ROOT / ".github/workflows").glob("*.yml"))]
    seen: dict[str, set[tuple[str, str]]] = {}
    for path in files:
        text = path.read_text()
        found = pins(text)
        assert len(found) == len(uses(yaml.safe_load(text))), f"{path}: every uses: is sha-pinned with # vX"
        for action, sha, version in found:
            seen.setdefault(action, set()).add((sha, version))
    assert {"actions/checkout", "actions/setup-python", "actions/upload-artifact"} <= set(seen)
    assert all(len(v) == 1 for v in seen.values()), seen  # one version of each action everywhere


# ---------------------------------------------------------------------------
# The plan comment: found again by its marker


FAKE_GH = r'''#!/usr/bin/env python3
"""A stand-in for `gh api`: the pull request's comments in a JSON file; FAIL set: every call fails (403)."""
import json, os, sys
state = os.environ["FAKE_GH_STATE"]
args = sys.argv[1:]
with open(state + ".log", "a") as log:
    log.write(" ".join(args) + "\n")
if os.environ.get("FAIL"):
    sys.stderr.write("HTTP 403: Resource not accessible by integration\n")
    sys.exit(1)
assert args[0] == "api"
method = args[args.index("--method") + 1] if "--method" in args else "GET"
path = [a for a in args[1:] if a.startswith("repos/")][0]
comments = json.load(open(state))
if method == "GET":
    print(json.dumps(comments[:1]), end="")  # two pages, as --paginate prints them
    print(json.dumps(comments[1:]))
    sys.exit(0)
body = open(args[args.index("-F") + 1].split("=@", 1)[1]).read()
if method == "POST":
    comments.append({"id": 100 + len(comments), "user": {"login": "github-actions[bot]", "type": "Bot"}, "body": body})
else:
    (c,) = [c for c in comments if str(c["id"]) == path.rsplit("/", 1)[1]]
    c["body"] = body
json.dump(comments, open(state, "w"))
'''


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("bash") is None,
                    reason="the comment script uses jq and bash, as GitHub's runners have them")
def test_the_comment_is_found_by_its_marker_and_updated(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    state = tmp_path / "comments.json"
    marker = "<!-- katib-gitops plan: platform/katib -->"
    human = {"id": 1, "user": {"login": "alice", "type": "User"}, "body": f"{marker}\nquoting the bot"}
    other_folder = {"id": 2, "user": {"login": "github-actions[bot]", "type": "Bot"},
                    "body": "<!-- katib-gitops plan: platform/other -->\nits own plan"}
    unrelated = {"id": 3, "user": {"login": "github-actions[bot]", "type": "Bot"}, "body": "coverage: 93 %"}
    state.write_text(json.dumps([human, other_folder, unrelated]))
    plan = tmp_path / "plan.md"
    runner_temp = tmp_path / "temp"
    runner_temp.mkdir()

    def post(text: str, **extra: str) -> subprocess.CompletedProcess[str]:
        plan.write_text(text)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_GH_STATE": str(state),
               "GH_TOKEN": "t", "GH_REPO": "acme/mono", "PR": "7", "MARKER": marker, "PLAN": str(plan),
               "RUNNER_TEMP": str(runner_temp), **extra}
        return subprocess.run(["bash", "-e", str(COMMENT_SCRIPT)], env=env, capture_output=True, text=True)

    assert post("plan one\n").returncode == 0
    comments = json.loads(state.read_text())
    assert comments[:3] == [human, other_folder, unrelated]  # nobody else's comment touched
    assert comments[3]["body"] == f"{marker}\nplan one\n"
    assert post("plan two\n").returncode == 0
    comments = json.loads(state.read_text())
    assert len(comments) == 4 and comments[3]["body"] == f"{marker}\nplan two\n"  # updated, not added
    assert "PATCH repos/acme/mono/issues/comments/103" in Path(f"{state}.log").read_text()
    # a token that cannot write (a fork's, Dependabot's): a warning, and the step succeeds
    failed = post("plan three\n", FAIL="1")
    assert failed.returncode == 0 and failed.stdout.startswith("::warning title=katib-gitops plan::")
    assert json.loads(state.read_text())[3]["body"] == f"{marker}\nplan two\n"


def test_the_scaffold_and_the_action_post_with_the_same_script(scaffolds: dict[str, Path]):
    script = COMMENT_SCRIPT.read_text()
    (post,) = [s for s in load(scaffolds["monorepo"])["jobs"]["comment"]["steps"] if "run" in s]
    assert post["run"] == script
    action = load(REPO_ROOT / "action.yml")
    (step,) = [s for s in action["runs"]["steps"] if "comment" in s.get("name", "")]
    assert step["run"] == 'bash "$GITHUB_ACTION_PATH/' + COMMENT_SCRIPT.relative_to(REPO_ROOT).as_posix() + '"'
    assert "github.event.pull_request.head.repo.full_name == github.repository" in step["if"]
    code = [line for line in ((REPO_ROOT / "action.yml").read_text() + script).splitlines()
            if not line.strip().startswith("#")]
    assert not any("--edit-last" in line for line in code)


def test_action_and_pre_commit_hooks_run_the_same_check():
    action = load(REPO_ROOT / "action.yml")
    runs = [s.get("run", "") for s in action["runs"]["steps"]]
    (check,) = [r for r in runs if r.startswith("katib-gitops check")]
    hooks = {h["id"]: h for h in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert check.split(" --output")[0] == hooks["katib-gitops-check"]["entry"]
    assert any("katib-gitops plan" in r and "--output markdown" in r for r in runs)
    # the Action's inputs are what its steps use
    used = " ".join(str(s) for s in action["runs"]["steps"])
    assert all(f"inputs.{name}" in used for name in action["inputs"])


def test_the_actions_plan_step_names_its_artifact_and_marker_per_folder(tmp_path: Path):
    """Two uses of the Action in one workflow (two folders) upload two artifacts and keep two comments."""
    action = load(REPO_ROOT / "action.yml")
    (plan,) = [s for s in action["runs"]["steps"] if s.get("id") == "plan"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "katib-gitops").write_text("#!/bin/sh\necho \"$*\"\n")
    (tmp_path / "platform" / "katib").mkdir(parents=True)
    (bin_dir / "katib-gitops").chmod(0o755)
    outputs = {}
    for folder in (".", "platform/katib/"):
        runner = tmp_path / f"runner-{len(outputs)}"
        expressions = {"github.base_ref": "main", "inputs.live": "", "inputs.working-directory": folder}
        proc = run_step(plan, {}, tmp_path, runner, {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
                        expressions)
        assert proc.returncode == 0, proc.stderr
        outputs[folder] = dict(line.split("=", 1) for line in (runner / "output").read_text().splitlines())
        assert Path(outputs[folder]["file"]).read_text() == "plan --base origin/main --output markdown\n"
    assert outputs["."]["name"] == "katib-gitops-plan" and outputs["."]["marker"] == "<!-- katib-gitops plan -->"
    assert outputs["platform/katib/"]["name"] == "katib-gitops-plan-platform-katib"
    assert outputs["platform/katib/"]["marker"] == "<!-- katib-gitops plan: platform/katib -->"


@pytest.mark.parametrize("status, made", [(0, True), (3, True), (1, False), (2, False)])
def test_a_plan_that_says_katib_will_refuse_is_still_shown_and_fails_the_job(
        tmp_path: Path, scaffolds: dict[str, Path], status: int, made: bool):
    """`plan` exits 3 when it prints a refusal: the scaffold's and the Action's plan steps still put it in the
    summary and hand it on (upload, comment), then fail with 3; any other failure hands nothing on."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "katib-gitops").write_text(f"#!/bin/sh\necho 'the plan'\nexit {status}\n")
    (bin_dir / "katib-gitops").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    workflow = load(scaffolds["top"])
    (scaffold_plan,) = [s for s in workflow["jobs"]["check"]["steps"] if s.get("id") == "plan"]
    (action_plan,) = [s for s in load(REPO_ROOT / "action.yml")["runs"]["steps"] if s.get("id") == "plan"]
    for name, step, key in (("scaffold", scaffold_plan, "made"), ("action", action_plan, "file")):
        runner = tmp_path / f"runner-{name}"
        expressions = {"github.base_ref": "main", "inputs.live": "", "inputs.working-directory": "."}
        proc = run_step(step, {}, tmp_path, runner, env, expressions)
        assert proc.returncode == status, (name, proc.stderr)
        output = (runner / "output").read_text() if (runner / "output").exists() else ""
        assert (f"{key}=" in output) == made, name
        summary = runner / "summary.md"
        assert (summary.exists() and summary.read_text() == "the plan\n") == made, name
    # the steps after it run whenever the plan was made, and only then
    assert workflow["jobs"]["check"]["outputs"] == {"plan": "${{ steps.plan.outputs.made }}"}
    (upload,) = [s for s in workflow["jobs"]["check"]["steps"] if s.get("uses", "").startswith("actions/upload")]
    assert upload["if"] == "${{ !cancelled() && steps.plan.outputs.made == 'true' }}"


# ---------------------------------------------------------------------------
# The steps, run as written


def test_the_install_step_installs_the_kept_wheel_in_a_fresh_venv(tmp_path: Path, fresh_venv):
    """The default install step, run as written in a new virtual environment (its dependencies present, no
    package index: the wheel alone must install and work), then that install checks the repository."""
    repo = tmp_path / "team"
    assert cli("init", str(repo)) == 0
    bin_dir = fresh_venv()
    env = offline_env(bin_dir)
    job = load(repo / WORKFLOW)["jobs"]["check"]
    proc = run_step(_install_step(repo), job, repo, tmp_path / "runner", env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"tools/{wheel_name()}: OK" in proc.stdout and proc.stdout.rstrip().endswith(f"katib-gitops {__version__}")
    check = subprocess.run([str(bin_dir / "katib-gitops"), "check"], cwd=repo, env=env, capture_output=True, text=True)
    assert check.returncode == 0 and "in sync and valid" in check.stdout, check.stderr
    # a wheel that is not the one pinned is refused before pip sees it
    wheel = repo / "tools" / wheel_name()
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    tampered = run_step(_install_step(repo), job, repo, tmp_path / "runner", env)
    assert tampered.returncode != 0 and "FAILED" in tampered.stdout


def test_the_scaffolds_workflow_steps_run_as_written(tmp_path: Path):
    """The check and plan steps of the generated workflow, run in bash on a clone with a pull-request branch."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def sh(cmd: str, cwd: Path) -> None:
        proc = subprocess.run(["bash", "-ec", cmd], cwd=cwd, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)

    upstream = tmp_path / "team"
    assert cli("init", str(upstream)) == 0
    sh("sed -i 's/^profile: cpu/profile: gpu/' experiments/quadratic.yaml && katib-gitops render -q && "
       "git init -q -b main && git add -A && git commit -qm init", upstream)
    clone = tmp_path / "clone"
    sh(f"git clone -q {upstream} {clone}", tmp_path)
    sh("git checkout -qb change && sed -i 's/max: 20 /max: 40 /; s/momentum: {double: \\[0.5, 0.99\\]}/"
       "momentum: {double: [0.8, 0.99]}/' experiments/quadratic.yaml && katib-gitops render -q && "
       "git commit -qam change", clone)
    job = load(clone / WORKFLOW)["jobs"]["check"]
    runner = tmp_path / "runner"
    ran = []
    for step in job["steps"]:
        if "run" not in step or "pip install" in step["run"]:
            continue
        proc = run_step(step, job, clone, runner, env, {"github.base_ref": "main"})
        assert proc.returncode == 0, (step["name"], proc.stdout, proc.stderr)
        ran.append(step["name"])
    assert ran == ["check (generated files in sync, overlays build, everything valid)", "plan"]
    plan = (runner / "temp" / "katib-gitops-plan.md").read_text()
    assert "replaced" in plan and "**GPU budget**: 2 GPU(s) at once" in plan
    assert "`spec.parameters[1].feasibleSpace.min`: `0.5` → `0.8`" in plan
    assert (runner / "summary.md").read_text() == plan  # the run's summary shows it, for forks too
    (upload,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["with"]["path"] == "${{ runner.temp }}/katib-gitops-plan.md"
