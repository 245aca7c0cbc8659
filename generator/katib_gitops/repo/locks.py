"""Where a render's lock lives, and the lock itself (``filelock``, the one locking library of the tool).

A render holds a lock from reading the specs to writing the tree, so a second render in the same work
tree fails at once (exit status 2) instead of interleaving with the first. The lock file lives:

- in the git directory of the work tree that holds the repository (``.git/katib-gitops.lock``; for a
  repository in a subdirectory of a larger work tree, a name of its own per subdirectory), so it is never
  part of the work tree, never committed, and never left in TMPDIR where anyone can plant or hold it;
- for a linked work tree (``git worktree add``) or a submodule, ``.git`` is a file naming the real git
  directory, which legitimately lies outside the work tree. That file is untrusted like anything else in
  the repository, so it is followed only when the git directory it names points back at this work tree
  (git's own ``gitdir`` back-link of a linked work tree, or a submodule's ``core.worktree``): then the
  lock goes in that work tree's own git directory (``.git/worktrees/NAME/``), so two work trees of one
  repository render independently. A ``.git`` file that does not check out is not followed;
- in a directory that is not in a git work tree (or whose ``.git`` is not followed): ``.katib-gitops-lock``
  at the repository root, a hidden file the scaffold's ``.gitignore`` (``.katib-gitops-*``) leaves out,
  removed again when the render ends (so a failed render leaves the tree exactly as it was). Removing a
  lock file is safe because each holder checks, once it holds the lock, that the file it locked is still
  the one at that path (``_still_ours``); one that was removed meanwhile means another render was there.

The runner's lock is ``run.lock`` in its run directory (``runner.rundir``), also through ``filelock``.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from ..io.findings import Finding, UserError

LOCK_NAME = "katib-gitops.lock"
LOCAL_LOCK = ".katib-gitops-lock"


def _read_small(path: Path, limit: int = 4096) -> str | None:
    """A small regular file's text (a .git file, a back-link): never a FIFO, never more than limit bytes."""
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _linked_git_dir(dotgit: Path) -> Path | None:
    """The git directory a ``.git`` file names, when it checks out (see the module's docstring)."""
    text = _read_small(dotgit)
    lines = text.splitlines() if text is not None else []
    if len(lines) != 1 or not lines[0].startswith("gitdir: "):
        return None  # git writes exactly one line
    target = Path(lines[0][len("gitdir: "):].strip())
    gitdir = (dotgit.parent / target) if not target.is_absolute() else target
    try:
        gitdir = gitdir.resolve()
        work = dotgit.parent.resolve()
        if not gitdir.is_dir() or not (gitdir / "HEAD").is_file():
            return None
    except (OSError, RuntimeError, ValueError):  # a name too long, a loop, a NUL byte
        return None
    back = _read_small(gitdir / "gitdir")  # linked work tree: <gitdir>/gitdir names our .git file
    if back is not None:
        try:
            return gitdir if Path(back.strip()).resolve() == dotgit.resolve() else None
        except (OSError, RuntimeError):
            return None
    config = _read_small(gitdir / "config", 65536) or ""  # submodule: core.worktree names our work tree
    for line in config.splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "worktree" and value.strip():
            try:
                if (gitdir / value.strip()).resolve() == work:
                    return gitdir
            except (OSError, RuntimeError):
                return None
    return None


def git_dir(root: Path) -> tuple[Path, Path] | None:
    """(the git directory, the top of its work tree) for the work tree holding root, or None."""
    try:
        here = root.resolve()
    except (OSError, RuntimeError):
        return None
    for top in (here, *here.parents):
        dotgit = top / ".git"
        if dotgit.is_symlink():
            return None  # not what git makes: not followed
        if dotgit.is_dir():
            return dotgit, top
        if dotgit.exists():
            linked = _linked_git_dir(dotgit)
            return (linked, top) if linked is not None else None
    return None


def lock_path(root: Path) -> Path:
    """The render lock of the repository at root (see the module's docstring)."""
    found = git_dir(root)
    if found is None:
        return root / LOCAL_LOCK
    gitdir, top = found
    rel = root.resolve().relative_to(top).as_posix()
    if rel in ("", "."):
        return gitdir / LOCK_NAME
    return gitdir / f"katib-gitops-{hashlib.sha256(rel.encode()).hexdigest()[:16]}.lock"


def inputs_state(root: Path) -> tuple:
    """What a render's output depends on, as it stands: the work tree's HEAD, katib-gitops.yaml, and the
    identity of every file under experiments/ and the overlays' custom/ components (stat only: cheap).

    A render takes it before reading and again just before its commit point; another value means the
    tree moved under it (a `git checkout` of another branch, a `git pull`, an editor saving a spec), and
    writing its output would put one state's output into another's tree (``writer.write_locked``)."""
    from .paths import CONFIG_FILE, EXPERIMENTS_DIR, OVERLAYS_DIR

    found = git_dir(root)
    head = _read_small(found[0] / "HEAD") if found is not None else None
    entries = [(CONFIG_FILE, _identity(root / CONFIG_FILE))]
    overlays = root / OVERLAYS_DIR
    customs = sorted(str(p.relative_to(root)) for p in overlays.glob("*/custom")) if overlays.is_dir() else []
    for top in (EXPERIMENTS_DIR, *customs):
        for dirpath, dirnames, filenames in os.walk(root / top):
            dirnames.sort()
            for name in sorted(filenames):
                p = os.path.join(dirpath, name)
                entries.append((p, _identity(Path(p))))
    return head, tuple(entries)


def _identity(path: Path) -> tuple | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold the repository's render lock (exit status 2 at once when another render holds it, or when the
    lock cannot be made: a read-only .git, say)."""
    path = lock_path(root)
    shown = _shown(path, root)
    local = path.parent == root
    created = local and not path.exists()
    lock = FileLock(str(path), timeout=0, on_acquired=lambda fd: _still_ours(fd, path))
    try:
        lock.acquire()
    except (Timeout, _Replaced):
        raise UserError(Finding(f"another katib-gitops render is running in this repository (lock {shown})",
                                file=str(root), line=0, column=0, rule="lock"), exit_code=2) from None
    except OSError as exc:
        raise UserError(Finding(f"cannot create the render lock {shown}: {exc.strerror or exc}",
                                file=str(root), line=0, column=0, rule="lock"), exit_code=2) from None
    try:
        yield
    finally:
        lock.release()
        if created:
            try:
                path.unlink()
            except OSError:
                pass


class _Replaced(Exception):
    """The lock file was removed or replaced between opening and locking it: another render was there."""


def _still_ours(fd: int, path: Path) -> None:
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        same = False
    if not same:
        raise _Replaced()


def _shown(lock: Path, root: Path) -> str:
    try:
        return lock.relative_to(root).as_posix()
    except ValueError:
        return str(lock)
