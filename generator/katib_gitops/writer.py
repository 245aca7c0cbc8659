"""Writing the rendered tree safely into a user's repository.

- Only files the tool generated (recognised by their header) are replaced or
  removed; a hand-written file in the way stops the render before anything is
  written.
- Unchanged files are not touched, so their mtimes stay.
- New contents are staged in a temporary directory inside the repository and
  moved into place with atomic renames; a failure midway restores the files
  already replaced from a backup, so the tree is the old output or the new one.
- A lock file stops two renders in one repository at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from .findings import Finding, UserError
from .repo import BASE_DIR, DEPLOY_DIR, GENERATED_MARK, OVERLAYS_DIR, Repo

LOCK_NAME = "katib-gitops.lock"
OWNED_ROOTS = (BASE_DIR, OVERLAYS_DIR, DEPLOY_DIR)
ROOT_FILES = ("kustomization.yaml",)


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def is_generated(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return head.startswith(b"# " + GENERATED_MARK.encode())


def generated_files(root: Path) -> list[str]:
    """Relative paths of every file on disk that the tool generated."""
    out = []
    for top in OWNED_ROOTS:
        d = root / top
        if not d.is_dir() or d.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if is_generated(p):
                    out.append(p.relative_to(root).as_posix())
    for name in ROOT_FILES:
        if is_generated(root / name):
            out.append(name)
    return sorted(out)


def diff_tree(root: Path, files: dict[str, str]) -> Changes:
    changes = Changes()
    for rel, text in sorted(files.items()):
        p = root / rel
        if not p.exists():
            changes.added.append(rel)
        else:
            try:
                same = p.read_bytes() == text.encode()
            except OSError:
                same = False
            if not same:
                changes.changed.append(rel)
    changes.removed = [rel for rel in generated_files(root) if rel not in files]
    return changes


def _check_safe(root: Path, rel: str) -> None:
    """Refuse paths that leave the repo (via .., absolute paths or symlinks) or hit hand-written files."""
    target = (root / rel)
    resolved_root = root.resolve()
    try:
        target.resolve().relative_to(resolved_root)
    except ValueError:
        raise UserError(Finding(f"refusing to write outside the repository (resolves to {target.resolve()})",
                                file=rel, line=0, column=0, rule="write")) from None
    for parent in [target, *target.parents]:
        if parent == root:
            break
        if parent.is_symlink():
            raise UserError(Finding("refusing to write through a symlink", file=parent.relative_to(root).as_posix(),
                                    line=0, column=0, rule="write"))
    if target.exists() and not target.is_file():
        raise UserError(Finding("a directory stands where a generated file belongs", file=rel, line=0, column=0, rule="write"))
    if target.is_file() and not is_generated(target):
        raise UserError(Finding("refusing to overwrite a file katib-gitops did not generate; move it away or delete it",
                                file=rel, line=1, column=1, rule="write"))


def lock_path(root: Path) -> Path:
    """Inside .git when there is one, else in the temp dir: never a file in the work tree."""
    git = root / ".git"
    if git.is_dir():
        return git / LOCK_NAME
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"{LOCK_NAME}.{digest}"


def write_tree(repo: Repo, files: dict[str, str]) -> Changes:
    root = repo.root
    lock = lock_path(root)
    try:
        with FileLock(str(lock), timeout=0):
            return _write_locked(root, files)
    except Timeout:
        raise UserError(Finding(f"another katib-gitops render is running in this repository (lock {lock})",
                                file=str(root), line=0, column=0, rule="lock"),
                        exit_code=2) from None


def _write_locked(root: Path, files: dict[str, str]) -> Changes:
    changes = diff_tree(root, files)
    for rel in changes.added + changes.changed:
        _check_safe(root, rel)
    if changes.empty:
        return changes
    stage = Path(tempfile.mkdtemp(prefix=".katib-gitops-stage-", dir=root))
    backup = stage / "__backup__"
    moved: list[tuple[Path, Path | None]] = []  # (target, backup copy or None when new)
    try:
        for rel in changes.added + changes.changed:
            staged = stage / rel
            staged.parent.mkdir(parents=True, exist_ok=True)
            with open(staged, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(files[rel])
                fh.flush()
                os.fsync(fh.fileno())
        for rel in changes.added + changes.changed:
            target = root / rel
            saved = None
            if target.exists():
                saved = backup / rel
                saved.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target, saved)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, target)
            moved.append((target, saved))
        for rel in changes.removed:
            target = root / rel
            saved = backup / rel
            saved.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, saved)
            moved.append((saved, target))  # restoring moves it back
        _prune_empty_dirs(root)
    except BaseException:
        _restore(moved, changes, root)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return changes


def _restore(moved: list[tuple[Path, Path | None]], changes: Changes, root: Path) -> None:
    for target, saved in reversed(moved):
        try:
            if saved is None:
                target.unlink(missing_ok=True)
            elif target.parent.name and str(target).startswith(str(root / ".katib-gitops-stage-")):
                saved.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, saved)  # a removed file comes back
            else:
                os.replace(saved, target)
        except OSError:
            pass


def _prune_empty_dirs(root: Path) -> None:
    for top in OWNED_ROOTS:
        d = root / top
        if not d.is_dir():
            continue
        for dirpath, dirnames, filenames in sorted(os.walk(d, topdown=False), reverse=False):
            p = Path(dirpath)
            if p != d and not any(p.iterdir()):
                p.rmdir()
