"""Broken inputs through the real CLI: one-line errors, the documented exit status, no traceback, nothing written.

Each case in corpus/ is NAME.expect (YAML) beside an input NAME.yaml, or with
``generate:`` naming a recipe below when the input is big (50 MB), needs
structure (symlinks pointing out of the repository) or is an absent file:

    command: render | validate | import | render-spec
    exit: 1                       # 1: bad content, 2: unreadable input or usage; 0: must work
    error: "{file}:LINE:COL: PATH: fragment"   # in the first line of the report
    path: experiments/NAME.yaml   # where the input goes (default below)
    several: true                 # more than one finding is expected (each its own line)

``render`` cases put the input at experiments/broken.yaml of a repository that
was already rendered (the iris example), so "nothing written" is checked
against a real tree of generated files, mtimes included. ``validate`` and
``import`` cases put it at incoming/broken.yaml and run from the repository.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from conftest import REPO_ROOT, cli

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.stem for p in CORPUS.glob("*.expect"))
DEFAULT_PATH = {"render": "experiments/broken.yaml", "validate": "incoming/broken.yaml",
                "import": "incoming/broken.yaml", "render-spec": "experiments/nope.yaml"}
# FILE:LINE:COL: message -- every line a user sees for a broken input.
SHAPED = re.compile(r"^[^\s:][^:]*:\d+:\d+: \S")
# The count, then notes such as the namespaces that must carry Katib's injection label.
SUMMARY = re.compile(r"^\d+ errors?, \d+ warnings? in \d+ documents?(; .+)?$")
GOOD_SPEC = """\
name: broken
objective:
  maximize: accuracy
algorithm: random
trials:
  max: 12
  parallel: 3
parameters:
  lr:
    double: [0.01, 0.1]
  optimizer:
    categorical: [sgd, adam]
trial:
  image: docker.io/example/trainer:1.0
  command: [python3, train.py]
"""
SAFETY_NET_S = 5.0  # not a speed goal (benchmarks/ has those): only catches a hang or a blow-up


def expectation(case: str) -> dict[str, Any]:
    spec = yaml.safe_load((CORPUS / f"{case}.expect").read_text())
    assert spec["command"] in DEFAULT_PATH, case
    assert spec["exit"] in (0, 1, 2), case
    assert ("generate" in spec) != (CORPUS / f"{case}.yaml").exists(), f"{case}: an input file or a recipe, not both"
    return spec


# --------------------------------------------------------------------------- recipes for generated inputs


def _big(repo: Path, target: Path, outside: Path) -> None:
    """50 MB: a valid spec followed by comment lines, written in chunks (never held in memory whole)."""
    line = b"# " + b"x" * 1021 + b"\n"
    with open(target, "wb") as fh:
        fh.write(GOOD_SPEC.encode())
        for _ in range(50 * 1024):
            fh.write(line)
    assert target.stat().st_size > 50 * 1024 * 1024


def _deep(repo: Path, target: Path, outside: Path) -> None:
    target.write_text("[" * 10_000 + "]" * 10_000 + "\n")


def _missing(repo: Path, target: Path, outside: Path) -> None:
    assert not target.exists()


def _broken_symlink(repo: Path, target: Path, outside: Path) -> None:
    target.symlink_to(outside / "does-not-exist.yaml")


def _good_spec(repo: Path) -> None:
    (repo / "experiments" / "broken.yaml").write_text(GOOD_SPEC)


def _move_out(repo: Path, outside: Path, rel: str) -> None:
    """Move repo/rel out of the repository and leave a symlink pointing at it."""
    dest = outside / rel.replace("/", "_")
    shutil.move(str(repo / rel), str(dest))
    (repo / rel).symlink_to(dest)


RECIPES: dict[str, Callable[[Path, Path, Path], None]] = {
    "big-50mb": _big,
    "deep-brackets": _deep,
    "missing": _missing,
    "broken-symlink": _broken_symlink,
    "symlink-experiments-out": lambda repo, t, out: _move_out(repo, out, "experiments"),
    "symlink-spec-out": lambda repo, t, out: ((out / "spec.yaml").write_text(GOOD_SPEC), t.symlink_to(out / "spec.yaml")),
    "symlink-base-out": lambda repo, t, out: (_good_spec(repo), _move_out(repo, out, "base")),
    "symlink-deploy-out": lambda repo, t, out: (_good_spec(repo), _move_out(repo, out, "deploy")),
    "symlink-root-kustomization-out": lambda repo, t, out: (_good_spec(repo), _move_out(repo, out, "kustomization.yaml")),
    "symlink-overlay-out": lambda repo, t, out: (_good_spec(repo), _move_out(repo, out, "overlays/cpu")),
    "symlink-generated-file-out": lambda repo, t, out: (_good_spec(repo), _move_out(repo, out, "base/cpu/kustomization.yaml")),
    "hand-written-base": lambda repo, t, out: (_good_spec(repo), (repo / "base" / "cpu" / "broken.yaml").write_text("# mine\n")),
    "directory-in-the-way": lambda repo, t, out: (_good_spec(repo), (repo / "base" / "cpu" / "broken.yaml").mkdir()),
}


# --------------------------------------------------------------------------- repository snapshots


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: kind, content hash, mode and mtime (symlinks are not followed)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode)
            else:
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode, st.st_mtime_ns)
    return out


@pytest.fixture(scope="session")
def rendered_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The iris example, rendered once; each case works on a copy (mtimes preserved)."""
    root = tmp_path_factory.mktemp("template") / "repo"
    (root / "experiments").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "experiments" / "iris.yaml", root / "experiments" / "iris.yaml")
    shutil.copy(REPO_ROOT / "katib-gitops.yaml", root / "katib-gitops.yaml")
    assert cli("render", "-q", "-C", str(root)) == 0
    return root


def fresh_repo(template: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    (repo / "incoming").mkdir()
    return repo


def argv_for(command: str, repo: Path, rel: str) -> list[str]:
    if command == "render":
        return ["render", "-C", str(repo)]
    if command == "render-spec":
        return ["render", "-C", str(repo), rel]
    return [command, rel]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    start = time.perf_counter()
    try:
        code = cli(*argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 2
    elapsed = time.perf_counter() - start
    out, err = capsys.readouterr()
    return code, out, err, elapsed


# --------------------------------------------------------------------------- the corpus


def test_corpus_is_big_and_varied():
    commands = [expectation(c)["command"] for c in CASES]
    assert len(CASES) >= 45
    assert {"render", "validate", "import"} <= set(commands)
    assert sum(1 for c in CASES if expectation(c)["exit"] == 0) >= 3  # BOM and CRLF must work


@pytest.mark.parametrize("case", CASES)
def test_broken_input(case: str, rendered_template: Path, tmp_path: Path, capsys, monkeypatch):
    spec = expectation(case)
    command, want_exit = spec["command"], spec["exit"]
    repo = fresh_repo(rendered_template, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    rel = spec.get("path", DEFAULT_PATH[command])
    target = repo / rel
    if "generate" in spec:
        RECIPES[spec["generate"]](repo, target, outside)
    else:
        target.write_bytes((CORPUS / f"{case}.yaml").read_bytes())
    monkeypatch.chdir(repo)
    before, before_outside = snapshot(repo), snapshot(outside)

    code, out, err, elapsed = run_cli(argv_for(command, repo, rel), capsys)

    assert "Traceback" not in out + err
    assert elapsed < SAFETY_NET_S, f"{case} took {elapsed:.1f}s"
    assert code == want_exit, f"{case}: exit {code}, want {want_exit}\n{out}{err}"
    assert snapshot(outside) == before_outside, "something was written outside the repository"
    if want_exit == 0:
        check_it_worked(case, repo, rendered_template, tmp_path, out, err, capsys)
        return
    assert snapshot(repo) == before, f"{case} changed the repository"
    if command == "validate":
        # Findings on stdout and a count on stderr; an unreadable path is one line on stderr instead.
        lines = (out + err).splitlines()
        report = [line for line in lines if not SUMMARY.match(line)]
        assert len(lines) - len(report) <= 1, err
    else:
        report = err.splitlines()
        assert out == "", f"{case} wrote to stdout on failure: {out!r}"
    assert report, f"{case}: no error printed"
    assert all(SHAPED.match(line) for line in report), f"{case}: not FILE:LINE:COL shaped:\n" + "\n".join(report)
    if not spec.get("several"):
        assert len(report) == 1, f"{case}: want one line, got:\n" + "\n".join(report)
    want = spec["error"].format(file=rel)
    assert want in report[0], f"{case}: {report[0]!r} lacks {want!r}"


def check_it_worked(case: str, repo: Path, template: Path, tmp_path: Path, out: str, err: str, capsys) -> None:
    """An input that must be accepted renders exactly as its plain (LF, no BOM) form does, and check passes."""
    assert err == "", err
    assert "added   base/cpu/broken.yaml" in out
    plain = tmp_path / "plain"
    shutil.copytree(template, plain, symlinks=True)
    raw = (CORPUS / f"{case}.yaml").read_bytes().removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
    (plain / "experiments" / "broken.yaml").write_bytes(raw)
    assert cli("render", "-q", "-C", str(plain)) == 0
    generated = [p.relative_to(plain) for p in plain.rglob("*.yaml") if not p.is_relative_to(plain / "experiments")]
    assert len(generated) > 10
    for rel in generated:
        assert (repo / rel).read_bytes() == (plain / rel).read_bytes(), rel
    capsys.readouterr()
    assert cli("check", "-C", str(repo)) == 0, capsys.readouterr()


# --------------------------------------------------------------------------- at the process level


@pytest.mark.parametrize("case", ["bomb-in-template", "validate-binary", "import-deep-job"])
def test_real_process_prints_no_traceback(case: str, rendered_template: Path, tmp_path: Path):
    """`python -m katib_gitops` as a user runs it: the same one line, no traceback from interpreter shutdown either."""
    spec = expectation(case)
    repo = fresh_repo(rendered_template, tmp_path)
    rel = DEFAULT_PATH[spec["command"]]
    (repo / rel).write_bytes((CORPUS / f"{case}.yaml").read_bytes())
    before = snapshot(repo)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "generator")}
    proc = subprocess.run([sys.executable, "-m", "katib_gitops", *argv_for(spec["command"], repo, rel)], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == spec["exit"], proc.stderr
    first = (proc.stdout if spec["command"] == "validate" else proc.stderr).splitlines()[0]
    assert SHAPED.match(first) and spec["error"].format(file=rel) in first, first
    assert snapshot(repo) == before
