"""Crash safety of `render`: old output or new output, never a mix; one render at a time; hand-written
files never touched; an unchanged repository left alone (mtimes kept).
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

from conftest import REPO_ROOT, cli
from katib_gitops.repo import writer
from katib_gitops.pipeline.check import check_repo
from katib_gitops.io.findings import UserError
from katib_gitops.build.render import render_repo
from katib_gitops.repo.repository import load_repo

SPECS = 50
SPEC = """\
name: {name}
objective:
  maximize: accuracy
algorithm: {algorithm}
trials:
  max: {budget}
  parallel: 2
parameters:
  lr:
    double: [{lo}, 0.1]
  optimizer:
    categorical: [sgd, adam]
trial:
  image: docker.io/example/trainer:1.0
  command: [python3, train.py]
{profiles}"""
A100 = "profiles:\n  gpu-a100:\n    from: gpu\n    gpus: 2\n    nodeSelector: {nvidia.com/gpu.product: A100}\n"
# Runs the real CLI with os.replace slowed down, so that a kill lands inside the window where files
# are being swapped in (otherwise a few milliseconds at the end of a second-long run).
SLOW_CLI = """\
import os, sys, time
_replace = os.replace
def slow_replace(src, dst):
    time.sleep(float(os.environ["SLOW_REPLACE_S"]))
    return _replace(src, dst)
os.replace = slow_replace
from katib_gitops.cli import main
sys.exit(main(sys.argv[1:]))
"""


def write_specs(root: Path, version: int) -> None:
    """SPECS specs; version 2 changes search spaces (new names), drops one spec and adds another."""
    exp = root / "experiments"
    exp.mkdir(exist_ok=True)
    for p in exp.glob("*.yaml"):
        p.unlink()
    names = [f"exp-{i:03d}" for i in range(SPECS)]
    if version == 2:
        names = names[1:] + ["exp-new"]
    for i, name in enumerate(names):
        lo = "0.01" if version == 1 or i % 2 else "0.02"
        (exp / f"{name}.yaml").write_text(SPEC.format(
            name=name, algorithm=("random", "tpe")[i % 2],
            budget=10 + i, lo=lo, profiles=A100 if i % 7 == 0 else ""))


def content(root: Path) -> dict[str, str]:
    """Generated output as it stands: path -> content hash (hidden staging and transaction dirs left out)."""
    out = {}
    for top in (*writer.OWNED_ROOTS, *writer.ROOT_FILES):
        p = root / top
        files = [p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else []
        for f in files:
            if f.is_file():
                out[f.relative_to(root).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def stat_snapshot(root: Path) -> dict[str, tuple]:
    """Every file with content and mtime, every directory: what "left exactly as it was" means.

    (A directory's own mtime changes whenever an entry comes and goes, even if it comes back.)
    """
    out: dict[str, tuple] = {}
    for p in sorted(root.rglob("*")):
        if p.is_dir():
            out[p.relative_to(root).as_posix()] = ("dir",)
        else:
            out[p.relative_to(root).as_posix()] = (p.lstat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def assert_every_file_parses(root: Path) -> None:
    for rel in content(root):
        text = (root / rel).read_text()
        assert text.startswith("# " + writer.GENERATED_MARK), rel
        list(yaml.load_all(text, Loader=yaml.CSafeLoader))


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """old: SPECS specs rendered; new: the same repo after the version-2 specs were rendered into it."""
    base = tmp_path_factory.mktemp("crash")
    old = base / "old"
    old.mkdir()
    shutil.copy(REPO_ROOT / "katib-gitops.yaml", old / "katib-gitops.yaml")
    write_specs(old, 1)
    assert cli("render", "-q", "-C", str(old)) == 0
    new = base / "new"
    shutil.copytree(old, new, symlinks=True)
    write_specs(new, 2)
    assert cli("render", "-q", "-C", str(new)) == 0
    return {"old": old, "new": new}


def repo_about_to_change(trees: dict[str, Path], where: Path) -> Path:
    """A copy of the old tree whose specs are already version 2: the next render changes many files."""
    shutil.copytree(trees["old"], where, symlinks=True)
    write_specs(where, 2)
    return where


# --------------------------------------------------------------------------- (a) kill -9


def test_kill_at_any_moment_leaves_old_or_new_output(trees, tmp_path: Path):
    old, new = content(trees["old"]), content(trees["new"])
    changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    assert len(changed) > 50  # a render that replaces, adds and removes many files
    script = tmp_path / "slow_cli.py"
    script.write_text(SLOW_CLI)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "generator"), "SLOW_REPLACE_S": "0.003"}
    rng = random.Random(6)
    outcomes = []
    for attempt in range(5):
        repo = repo_about_to_change(trees, tmp_path / f"repo{attempt}")
        proc = subprocess.Popen([sys.executable, str(script), "render", "-q", "-C", str(repo), "--no-validate"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if attempt == 0:
            time.sleep(rng.uniform(0.2, 0.6))  # somewhere while loading, rendering or staging
        else:
            while not (repo / writer.TXN_DIR).exists() and proc.poll() is None:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.003 * len(changed)))  # somewhere while swapping files in
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert b"Traceback" not in proc.stderr.read()
        proc.stderr.close()

        assert_every_file_parses(repo)
        now = content(repo)
        if writer.interrupted(repo):
            outcomes.append("committed")
            assert writer.recover(repo)  # what the next render does first, under the lock
            assert content(repo) == new
        else:
            outcomes.append("old" if now == old else "new")
            assert now in (old, new), "a mix of old and new output"
        assert not writer.interrupted(repo)
    assert "committed" in outcomes, outcomes  # the interesting window was hit at least once

    # The next real render finishes whatever is left (staging is dropped), and check passes.
    repo = tmp_path / "repo0"
    assert cli("render", "-q", "-C", str(repo)) == 0
    assert content(repo) == new
    assert {p.name for p in repo.glob(".katib-gitops-*")} <= {".katib-gitops-lock"}  # a killed render's lock, at most
    assert [f for f in check_repo(load_repo(repo)) if f.severity == "error"] == []


# --------------------------------------------------------------------------- (b) an exception midway


class FailingReplace:
    """os.replace that fails with ENOSPC on call number `at` (and every later one when `persist`)."""

    def __init__(self, at: int, persist: bool = False):
        self.at, self.persist, self.calls = at, persist, 0
        self.real = os.replace

    def __call__(self, src, dst):
        self.calls += 1
        if self.calls == self.at or (self.persist and self.calls > self.at):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return self.real(src, dst)


def test_an_error_midway_leaves_exactly_the_old_tree(trees, tmp_path: Path, monkeypatch):
    files = render_repo(load_repo(trees["new"])).files  # what rendering the version-2 specs writes
    counter = FailingReplace(at=-1)
    monkeypatch.setattr(os, "replace", counter)
    writer.write_tree(load_repo(repo_about_to_change(trees, tmp_path / "count")), files)
    monkeypatch.undo()
    total = counter.calls
    assert total > 50
    for at in (1, 2, total // 2, total - 1, total):
        root = repo_about_to_change(trees, tmp_path / f"at{at}")
        repo = load_repo(root)
        before = stat_snapshot(root)
        monkeypatch.setattr(os, "replace", FailingReplace(at))
        with pytest.raises(UserError) as err:
            writer.write_tree(repo, files)
        monkeypatch.undo()
        assert err.value.exit_code == 2 and "No space left on device" in err.value.finding.one_line()
        assert stat_snapshot(root) == before, f"failure at os.replace #{at} did not restore the old tree"


def test_a_persistent_error_is_finished_by_the_next_render(trees, tmp_path: Path, monkeypatch, capsys):
    """When even undoing fails, the committed journal stays: check says so, and the next render completes it."""
    root = repo_about_to_change(trees, tmp_path / "repo")
    repo = load_repo(root)
    monkeypatch.setattr(os, "replace", FailingReplace(20, persist=True))
    with pytest.raises(UserError):
        writer.write_tree(repo, render_repo(repo).files)
    monkeypatch.undo()
    assert writer.interrupted(root)
    assert any(f.rule == "sync" and "interrupted" in f.message for f in check_repo(repo))
    assert cli("render", "-q", "-C", str(root)) == 0
    assert content(root) == content(trees["new"])
    assert not writer.interrupted(root)


def test_a_failure_while_staging_leaves_nothing_behind(trees, tmp_path: Path, monkeypatch):
    root = repo_about_to_change(trees, tmp_path / "repo")
    repo = load_repo(root)
    files = render_repo(repo).files
    before = stat_snapshot(root)
    calls = []

    def full_disk(path, data):
        calls.append(path)
        if len(calls) == 10:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    real = writer._write_staged
    monkeypatch.setattr(writer, "_write_staged", full_disk)
    with pytest.raises(UserError):
        writer.write_tree(repo, files)
    assert stat_snapshot(root) == before


# --------------------------------------------------------------------------- (c) one render at a time


def test_a_second_render_fails_at_once_while_one_runs(trees, tmp_path: Path, capsys):
    root = repo_about_to_change(trees, tmp_path / "repo")
    script = tmp_path / "slow_cli.py"
    script.write_text(SLOW_CLI)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "generator"), "SLOW_REPLACE_S": "0.01"}
    first = subprocess.Popen([sys.executable, str(script), "render", "-q", "-C", str(root), "--no-validate"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not (root / writer.TXN_DIR).exists():
            assert first.poll() is None, first.communicate()
            time.sleep(0.001)
        started = time.perf_counter()
        assert cli("render", "-C", str(root)) == 2
        assert time.perf_counter() - started < 5  # refused at once, not queued behind the first
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "another katib-gitops render is running in this repository" in line
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert content(root) == content(trees["new"])


def test_the_lock_is_in_the_git_directory_never_in_tmpdir(tmp_path: Path, monkeypatch):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    (tmp_path / "experiments").mkdir()
    assert writer.lock_path(tmp_path) == tmp_path / ".katib-gitops-lock"  # no git: a hidden, ignored file
    (tmp_path / ".git").mkdir()
    assert writer.lock_path(tmp_path).parent == tmp_path / ".git"
    with FileLock(str(writer.lock_path(tmp_path)), timeout=0):
        with pytest.raises(UserError) as err:
            writer.write_tree(load_repo(tmp_path), {"base/x.yaml": "# Generated by katib-gitops\n"})
    assert err.value.exit_code == 2 and not (tmp_path / "base").exists()
    assert list(tmpdir.iterdir()) == []


# --------------------------------------------------------------------------- (d) hand-written files


def test_a_hand_written_file_in_the_way_stops_everything(trees, tmp_path: Path, capsys):
    root = repo_about_to_change(trees, tmp_path / "repo")
    (root / "base" / "cpu" / "exp-new.yaml").write_text("# my own Experiment, not generated\nkind: Experiment\n")
    before = stat_snapshot(root)
    assert cli("render", "-C", str(root)) == 1
    # the specs that define gpu-a100 without deploying under it are warned about (profile-unused), not refused
    (line,) = [ln for ln in capsys.readouterr().err.strip().splitlines() if ": warning: " not in ln]
    assert line.startswith("base/cpu/exp-new.yaml:1:1: refusing to overwrite a file katib-gitops did not generate")
    assert stat_snapshot(root) == before


def test_a_generated_file_edited_without_its_header_is_not_overwritten(trees, tmp_path: Path, capsys):
    root = repo_about_to_change(trees, tmp_path / "repo")
    target = root / "overlays" / "cpu" / "kustomization.yaml"
    target.write_text(target.read_text().split("\n", 2)[2])  # header gone: now it is the user's file
    before = stat_snapshot(root)
    assert cli("render", "-C", str(root)) == 1
    assert "overlays/cpu/kustomization.yaml:1:1: refusing to overwrite" in capsys.readouterr().err
    assert stat_snapshot(root) == before


def test_hand_written_files_beside_generated_ones_are_never_touched(trees, tmp_path: Path):
    root = repo_about_to_change(trees, tmp_path / "repo")
    mine = [root / "base" / "NOTES.md", root / "base" / "extra.yaml", root / "overlays" / "cpu" / "patches" / "mine.yaml"]
    for p in mine:
        p.write_text("kind: ConfigMap\n")
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    assert cli("render", "-q", "-C", str(root)) == 0
    for p in mine:  # exp-000 was deleted: its generated Experiment went, the hand-written files stayed
        assert p.read_text() == "kind: ConfigMap\n" and p.stat().st_mtime_ns == 1_000_000_000
    assert not (root / "base" / "cpu" / "exp-000.yaml").exists()


# --------------------------------------------------------------------------- (e) an unchanged repository


def test_render_of_an_unchanged_repo_touches_nothing(trees, tmp_path: Path, capsys):
    root = tmp_path / "repo"
    shutil.copytree(trees["new"], root, symlinks=True)
    before = stat_snapshot(root)
    assert cli("render", "-C", str(root)) == 0
    assert capsys.readouterr().out.strip() == f"{SPECS} experiment(s): up to date"
    assert stat_snapshot(root) == before


def test_rerender_keeps_mtimes_of_files_that_did_not_change(trees, tmp_path: Path):
    root = repo_about_to_change(trees, tmp_path / "repo")
    old = content(trees["old"])
    mtimes = {rel: (root / rel).stat().st_mtime_ns for rel in old}
    assert cli("render", "-q", "-C", str(root)) == 0
    new = content(root)
    same = [rel for rel in old if new.get(rel) == old[rel]]
    assert len(same) >= 5  # (overlays share patch files by shape, so most files change with their specs)
    assert all((root / rel).stat().st_mtime_ns == mtimes[rel] for rel in same)
