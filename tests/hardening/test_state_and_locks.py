"""State and concurrency: a tree that moves while render runs, where the locks live, stray generated copies.

A branch switched (or a spec, the settings, a custom component edited) between render reading the tree and
its commit point makes it refuse to write (exit 2): the other state's tree is left exactly as it is. Locks
live in the work tree's git directory (a linked work tree's own, found only through a `.git` file git's
back-link confirms), else in a hidden file at the root removed again: never in TMPDIR.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hostile_support import refused, run
from test_corpus import fresh_repo, rendered_template, snapshot  # noqa: F401 (fixture)

from katib_gitops.pipeline import render_gate
from katib_gitops.repo import locks, writer

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


@pytest.fixture
def repo(rendered_template: Path, tmp_path: Path) -> Path:
    root = fresh_repo(rendered_template, tmp_path)
    shutil.rmtree(root / "incoming")
    return root


def _bump(spec: Path, old: str = "max: 12", new: str = "max: 13") -> None:
    spec.write_text(spec.read_text().replace(old, new))


def _during_render(monkeypatch, action) -> None:
    """Run action while render's gate validates (after render read the tree, before it writes)."""
    real = render_gate.validate_staged

    def validate_then_act(*args, **kwargs):
        found = real(*args, **kwargs)
        action()
        return found

    monkeypatch.setattr(render_gate, "validate_staged", validate_then_act)
    import katib_gitops.commands.render  # noqa: F401 (imports validate_staged by name at run time)


# --------------------------------------------------------------------------- the tree moves under a render


@needs_git
def test_a_branch_switched_during_render_keeps_the_other_branchs_tree(repo: Path, monkeypatch, capsys):
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "rendered")
    git(repo, "checkout", "-q", "-b", "other")
    _bump(repo / "experiments" / "iris.yaml", "max: 12", "max: 20")
    assert run(["render", "-q", "-C", str(repo)], capsys)[0] == 0
    git(repo, "commit", "-qam", "other, rendered")
    git(repo, "checkout", "-q", "main")
    _bump(repo / "experiments" / "iris.yaml")  # main's spec changes: its render has files to write
    git(repo, "commit", "-qam", "main, not rendered yet")
    _during_render(monkeypatch, lambda: git(repo, "checkout", "-q", "other"))
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 2 and "the repository changed while render ran" in err and "nothing was written" in err
    assert git(repo, "status", "--porcelain") == ""  # exactly the other branch, none of main's output in it
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "other"


@pytest.mark.parametrize("edit", [
    lambda r: _bump(r / "experiments" / "iris.yaml", "max: 13", "max: 14"),
    lambda r: (r / "katib-gitops.yaml").write_text((r / "katib-gitops.yaml").read_text() + "\n# edited\n"),
    lambda r: (r / "experiments" / "iris.yaml").unlink(),
    lambda r: shutil.copy(r / "experiments" / "iris.yaml", r / "experiments" / "other.yaml"),
    lambda r: ((r / "overlays" / "gpu" / "custom").mkdir(),
               (r / "overlays" / "gpu" / "custom" / "kustomization.yaml").write_text("kind: Component\n")),
])
def test_inputs_edited_during_render_stop_it_before_the_commit(repo: Path, monkeypatch, edit, capsys):
    _bump(repo / "experiments" / "iris.yaml")
    _during_render(monkeypatch, lambda: edit(repo))
    generated = {p: p.read_bytes() for p in repo.rglob("*.yaml") if "experiments" not in p.parts
                 and p.name != "katib-gitops.yaml"}
    code, out, err = run(["render", "-C", str(repo)], capsys)
    refused(code, err, 2, "the repository changed while render ran")
    assert {p: p.read_bytes() for p in generated} == generated  # no generated file written
    assert not list(repo.glob(".katib-gitops-*"))  # no staging, no transaction, no lock left


# --------------------------------------------------------------------------- where the locks live


def test_no_lock_and_nothing_else_is_left_in_tmpdir(repo: Path, tmp_path: Path, monkeypatch, capsys):
    import tempfile

    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    _bump(repo / "experiments" / "iris.yaml")
    before = snapshot(repo)
    assert run(["render", "-q", "-C", str(repo)], capsys)[0] == 0
    (repo / "experiments" / "iris.yaml").write_text("broken: [\n")
    assert run(["render", "-C", str(repo)], capsys)[0] == 1
    assert list(tmpdir.iterdir()) == []
    assert not (repo / locks.LOCAL_LOCK).exists()  # no git directory here: the root's lock, removed again
    assert set(snapshot(repo)) == set(before)


@needs_git
def test_a_linked_work_tree_locks_in_its_own_git_directory(repo: Path, tmp_path: Path, capsys):
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "rendered")
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt))
    assert (wt / ".git").is_file()
    lock = locks.lock_path(wt)
    assert lock.parent == (repo / ".git" / "worktrees" / "wt").resolve() and lock.name == locks.LOCK_NAME
    assert locks.lock_path(repo).parent == repo / ".git"  # the main work tree: its own, another file
    _bump(wt / "experiments" / "iris.yaml")
    code, out, err = run(["render", "-C", str(wt)], capsys)
    assert code == 0, err
    assert git(wt, "status", "--porcelain", "--ignored").splitlines() == [" M base/cpu/iris.yaml",
                                                                           " M base/gpu/iris.yaml",
                                                                           " M experiments/iris.yaml",
                                                                           " M katib-gitops.generated.yaml"]


@pytest.mark.parametrize("pointer", ["gitdir: {fake}\n", "gitdir: ../../../../../../../../etc\n",
                                     "gitdir: {fake}\n" + "x" * 10_000, "not a git file\n"])
def test_a_dot_git_file_that_does_not_check_out_is_not_followed(repo: Path, tmp_path: Path, pointer: str,
                                                                capsys):
    fake = tmp_path / "fake-gitdir"
    fake.mkdir()
    (fake / "HEAD").write_text("ref: refs/heads/main\n")
    (fake / "gitdir").write_text(str(tmp_path / "somewhere-else" / ".git") + "\n")  # no back-link to us
    (repo / ".git").write_text(pointer.format(fake=fake))
    before_fake = snapshot(fake)
    assert locks.lock_path(repo) == repo / locks.LOCAL_LOCK
    _bump(repo / "experiments" / "iris.yaml")
    code, out, err = run(["render", "-q", "-C", str(repo)], capsys)
    assert code == 0, err
    assert snapshot(fake) == before_fake and not (repo / locks.LOCAL_LOCK).exists()


def test_a_second_render_is_refused_while_the_lock_is_held(repo: Path, capsys):
    from filelock import FileLock

    _bump(repo / "experiments" / "iris.yaml")
    before = snapshot(repo)
    with FileLock(str(locks.lock_path(repo)), timeout=0):
        code, out, err = run(["render", "-C", str(repo)], capsys)
        refused(code, err, 2, "another katib-gitops render is running in this repository")
    (repo / locks.LOCAL_LOCK).unlink()  # the holder here is the test, which leaves its lock file
    assert snapshot(repo) == before


# --------------------------------------------------------------------------- a stray copy of a generated file


@pytest.mark.parametrize("copy", [
    lambda r: next((r / "overlays" / "cpu" / "patches").glob("job-*.yaml")),
    lambda r: r / "base" / "cpu" / "iris.yaml",
    lambda r: r / "deploy" / "argocd" / "katib.yaml",
    lambda r: r / "base" / "kustomization.yaml",
    lambda r: r / "overlays" / "gpu" / "kustomization.yaml",
])
def test_a_stray_copy_of_a_generated_file_is_reported(repo: Path, copy, capsys):
    source = copy(repo)
    stray = source.with_name(source.stem + " copy.yaml")
    shutil.copy2(source, stray)
    rel = stray.relative_to(repo).as_posix()
    before = snapshot(repo)
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert code == 1
    (line,) = [ln for ln in out.splitlines() if rel in ln]
    assert line.startswith(f"{rel}:1:1: carries the generated header, but katib-gitops.generated.yaml does not list")
    code, out, err = run(["render", "-C", str(repo)], capsys)  # render never writes what check rejects
    refused(code, err, 1, f"{rel}:1:1: carries the generated header", repo, before)
    assert writer.stray_copies(repo, {}) != []
