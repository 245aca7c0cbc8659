"""Writing the rendered tree safely into a user's repository.

What a render promises about the files on disk:

- Only files the tool generated (recognised by their header) are replaced or
  removed. A hand-written file where a generated one belongs, a path that
  leaves the repository, or a symlink on the way stops the render before
  anything is written.
- Unchanged files are not touched, so their mtimes stay.
- A lock file (in the work tree's git directory, else ``.katib-gitops-lock``
  at the root: ``locks``) stops two renders in one repository at once; the
  second fails at once with exit status 2.
- The generated output is either the old one or the new one, never a mix,
  whatever happens: an exception, a full disk, or the process killed (kill -9)
  at any instruction.

How the last promise is kept. POSIX can rename one file atomically but not a
set of files, so a render is a small transaction with a journal:

1. Prepare: every new or changed file is written into a staging
   directory inside the repository (``.katib-gitops-stage-*``, on the same
   file system so renames stay atomic), with ``journal.json`` listing what to
   write and what to remove, and flushed to disk (one ``sync``). Until step 2
   the tree is untouched; a staging directory left by a killed render is
   simply deleted by the next one.
2. Commit: the staging directory is renamed to ``.katib-gitops-txn``. This one
   rename is the commit point.
3. Apply: each staged file is renamed over its target (the old file is first
   hard-linked into the transaction as a backup) and each stale file is moved
   into the transaction. Every step can be redone, so applying a journal
   twice is harmless.
4. Done: the journal is deleted, then the transaction directory.

If an exception interrupts step 3, the steps done so far are undone from the
backups and the transaction is dropped: the old tree. If the process is
killed during step 3, the next ``render`` finds the committed journal and
finishes it before doing anything else (roll forward): the new tree; until
then ``check`` reports the interrupted render. Undoing also keeps the journal
valid (the new files go back to staging), so even a kill while undoing ends
in the new tree, never in a mix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..io.findings import Finding, UserError
from .locks import LOCK_NAME, inputs_state, lock_path, locked  # noqa: F401 (re-exported)
from ..io.safefs import special_kind
from .record import GENERATED_ROOTS, RECORD_FILE, ROOT_FILES, generated_path, read_record
from .repository import EXPERIMENTS_DIR, GENERATED_MARK, Repo

OWNED_ROOTS = GENERATED_ROOTS

STAGE_PREFIX = ".katib-gitops-stage-"
TXN_DIR = ".katib-gitops-txn"
JOURNAL = "journal.json"
NEW = "new"  # inside a transaction: the new contents, file N for entry N of the journal's "write" list
OLD = "old"  # inside a transaction: the replaced and removed files, for undoing


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


# The exact two header lines render writes (``render.header``): a file that only starts with the words is not ours.
_HEADER = re.compile(rb"# " + re.escape(GENERATED_MARK.encode()) + rb" from ([^\n]{1,1024})\.\n"
                     rb"# Do not edit: change \1 and run `katib-gitops render`\.\n")


def is_generated(path: Path) -> bool:
    """A regular file (not a symlink, FIFO or device) that begins with the exact generated header."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, "rb") as fh:
            head = fh.read(2200)
    except OSError:
        return False
    return has_generated_header(head)


def has_generated_header(data: bytes) -> bool:
    """data (a file's contents, or at least its first 2,200 bytes) begins with the exact generated header."""
    return _HEADER.match(data) is not None


def generated_files(root: Path) -> list[str]:
    """Relative paths of every file on disk that the tool generated and may delete when stale.

    With a render record: the files it lists that still carry the exact header. Without one (a
    repository rendered before records existed, or a record that cannot be trusted): every file
    under the generated areas with the exact header.
    """
    rec, _ = read_record(root)
    if rec is not None:
        return sorted(rel for rel in rec.files if _inside_tree(root, rel) and is_generated(root / rel))
    out = [rel for rel in _owned_files(root) if is_generated(root / rel)]
    for name in ROOT_FILES:
        if is_generated(root / name):
            out.append(name)
    return sorted(out)


def stray_copies(root: Path, files: dict[str, str]) -> list[Finding]:
    """Files with the exact generated header that the render record does not list and this render does not
    write: a copy of a generated file (``job-1234abcd copy.yaml``), or one left by hand. render never
    deletes what the record does not list, so check (and render's gate) report each as an error."""
    rec, _ = read_record(root)
    if rec is None:
        return []  # without a record the header alone decides: render removes them as stale
    return [Finding(f"carries the generated header, but {RECORD_FILE} does not list it and render does not write "
                    "it (a copy of a generated file?): render never deletes it; delete it, or remove its header if "
                    "it is yours", file=rel, line=1, column=1, rule="sync")
            for rel in _owned_files(root) if rel not in rec.files and rel not in files and is_generated(root / rel)]


def _owned_files(root: Path) -> Iterator[str]:
    """The relative path of every file under the generated areas, in order (symlinked areas skipped)."""
    skip = len(str(root)) + 1
    for top in OWNED_ROOTS:
        d = root / top
        if not d.is_dir() or d.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames.sort()
            for name in sorted(filenames):
                yield os.path.join(dirpath, name)[skip:].replace(os.sep, "/")


def _inside_tree(root: Path, rel: str) -> bool:
    """No symlink on the way from root to rel (so rel really is that path inside the repository)."""
    p = root
    for part in rel.split("/"):
        p = p / part
        if p.is_symlink():
            return False
    return True


def diff_tree(root: Path, files: dict[str, str]) -> Changes:
    changes = Changes()
    for rel, text in sorted(files.items()):
        p = root / rel
        if not p.exists():
            changes.added.append(rel)
        else:
            try:
                # Never open what is not a regular file: reading a FIFO blocks.
                same = stat.S_ISREG(os.stat(p).st_mode) and p.read_bytes() == text.encode()
            except OSError:
                same = False
            if not same:
                changes.changed.append(rel)
    changes.removed = [rel for rel in generated_files(root) if rel not in files]
    return changes


def _refuse(message: str, rel: str, line: int = 0, column: int = 0) -> UserError:
    return UserError(Finding(message, file=rel, line=line, column=column, rule="write"))


def _inside(path: Path, resolved_root: Path) -> bool:
    try:
        path.resolve().relative_to(resolved_root)
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False
    return True


def check_roots(root: Path) -> None:
    """Refuse a repository whose experiments/, base/, overlays/, deploy/ or root kustomization leave it via a symlink."""
    resolved = root.resolve()
    for name in (EXPERIMENTS_DIR, *OWNED_ROOTS, *ROOT_FILES):
        p = root / name
        if (p.exists() or p.is_symlink()) and not _inside(p, resolved):
            raise _refuse(f"refusing to use a path that leaves the repository (resolves to {p.resolve()})", name)


def check_layout(root: Path, rels: list[str]) -> None:
    """Refuse paths that leave the repo (via .., absolute paths or symlinks), a file where render needs a
    directory, and a directory or special file where it writes a file (exit status 1, naming the path).

    Each directory is looked at once, however many files go into it (a large repository writes
    thousands of files into a few thousand directories).
    """
    resolved_root = root.resolve()
    base = str(root)
    checked: set[str] = set()  # directories (relative) known to be real directories or not there yet

    def mode(rel_path: str) -> int | None:
        """The entry's type, from one lstat (None: nothing there); a symlink is refused here."""
        try:
            st = os.lstat(os.path.join(base, rel_path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(st.st_mode):
            p = root / rel_path
            if not _inside(p, resolved_root):  # named at the symlink itself: that is what to move away
                raise _refuse(f"refusing to write outside the repository (resolves to {p.resolve()})", rel_path)
            raise _refuse("refusing to write through a symlink", rel_path)
        return stat.S_IFMT(st.st_mode)

    for rel in rels:
        parts = rel.split("/")
        if rel.startswith("/") or ".." in parts:
            raise _refuse("refusing to write outside the repository", rel)
        for depth in range(1, len(parts)):
            d = "/".join(parts[:depth])
            if d not in checked:
                kind = mode(d)
                if kind is not None and kind != stat.S_IFDIR:
                    what = special_kind(root / d) or "a file"
                    raise _refuse(f"{what} stands where render needs a directory (for {rel}); move it away", d)
                checked.add(d)
        kind = mode(rel)
        if kind is not None and kind != stat.S_IFREG:
            what = "a directory" if kind == stat.S_IFDIR else (special_kind(root / rel) or "something")
            raise _refuse(f"{what} stands where a generated file belongs", rel)


def _check_safe(root: Path, rels: list[str]) -> None:
    """``check_layout``, and refuse to replace hand-written files."""
    check_layout(root, rels)
    for rel in rels:
        target = root / rel
        if target.is_file() and not os.access(target, os.R_OK):
            raise UserError(Finding("cannot read it, so cannot tell whether katib-gitops generated it",
                                    file=rel, line=0, column=0, rule="io"), exit_code=2)
        if target.is_file() and not is_generated(target):
            raise _refuse("refusing to overwrite a file katib-gitops did not generate; move it away or delete it",
                          rel, 1, 1)


def write_tree(repo: Repo, files: dict[str, str]) -> Changes:
    with locked(repo.root):
        return write_locked(repo, files)


def write_locked(repo: Repo, files: dict[str, str], read_state: tuple | None = None) -> Changes:
    """write_tree for a caller that holds the lock already (render holds it from reading to writing).

    read_state: ``locks.inputs_state`` as the caller took it before reading the tree; when the tree no
    longer matches it at the commit point (a branch switched meanwhile), nothing is written (exit 2)."""
    root = repo.root
    try:
        recover(root)
        return _write_locked(root, files, read_state)
    except OSError as exc:  # a full disk, a read-only checkout: the tree is the old one (or finished by the next render)
        where = exc.filename if isinstance(exc.filename, str) else str(root)
        if STAGE_PREFIX in where or TXN_DIR in where:
            where = str(root)  # the transaction's own files are no path of the user's (``_as`` names the rest)
        raise UserError(Finding(f"cannot write the rendered files: {exc.strerror or exc}", file=where, line=0, column=0,
                                rule="io"), exit_code=2) from None


def recover_locked(root: Path) -> None:
    """``recover`` for a caller that holds the lock, its OSErrors reported as write_locked reports them."""
    try:
        recover(root)
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) else str(root)
        raise UserError(Finding(f"cannot finish an interrupted render: {exc.strerror or exc}", file=where, line=0,
                                column=0, rule="io"), exit_code=2) from None


def leftovers(root: Path) -> list[str]:
    """Staging and transaction directories (or anything under those names) in the repository root."""
    try:
        names = sorted(e.name for e in os.scandir(root) if e.name.startswith(STAGE_PREFIX) or e.name == TXN_DIR)
    except OSError:
        return []
    return [n for n in names if not (n == TXN_DIR and interrupted(root))]


def interrupted(root: Path) -> bool:
    """True when a render was killed after its commit point and has not been finished yet."""
    return (root / TXN_DIR / JOURNAL).is_file()


def recover(root: Path) -> bool:
    """Finish a committed transaction left by a killed render; drop uncommitted staging. Caller holds the lock.

    The journal may come from anywhere (a clone, a pull request, a hand edit), so it is checked like any
    other input before a single step is taken: see ``_trusted_journal``.
    """
    for leftover in root.glob(STAGE_PREFIX + "*"):
        _remove_entry(leftover)  # never committed: the tree is still the old one
    txn = root / TXN_DIR
    if txn.is_symlink() or (txn.exists() and not txn.is_dir()):
        _remove_entry(txn)  # not something a render makes: nothing in it is followed
        return False
    if not interrupted(root):
        shutil.rmtree(txn, ignore_errors=True)  # finished but not yet deleted, or nothing there
        return False
    journal = _trusted_journal(root, txn)
    for i, rel in enumerate(journal["write"]):
        target = root / rel
        # Someone may have edited the tree since the kill: keep the promise about hand-written files.
        if _staged(txn, i).exists() and target.is_file() and not is_generated(target):
            raise _refuse(f"an interrupted render cannot be finished: a hand-written file is in the way "
                          f"(move it away, or delete {TXN_DIR} to drop the interrupted render)", rel, 1, 1)
    _apply(root, txn, journal, done=[])
    _finish(txn)
    return True


MAX_JOURNAL_BYTES = 64 * 1024 * 1024


def _trusted_journal(root: Path, txn: Path) -> dict[str, list[str]]:
    """The journal, if it is one this writer could have written for this repository; else a UserError."""

    def refuse(why: str) -> UserError:
        return _refuse(f"refusing the journal of an interrupted render: {why}; nothing was changed (delete {TXN_DIR} "
                       "if no render of yours was interrupted)", f"{TXN_DIR}/{JOURNAL}")

    path = txn / JOURNAL
    for dirpath, dirnames, filenames in os.walk(txn):
        for name in dirnames + filenames:
            if os.path.islink(os.path.join(dirpath, name)):
                raise refuse(f"{os.path.relpath(os.path.join(dirpath, name), txn)} is a symlink")
    for d in (txn / NEW, txn / OLD):
        if d.is_symlink() or (d.exists() and not d.is_dir()):
            raise refuse(f"{d.name}/ is not a directory")
    if path.is_symlink() or not path.is_file():
        raise refuse("not a regular file")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_JOURNAL_BYTES + 1)
    if len(raw) > MAX_JOURNAL_BYTES:
        raise refuse("larger than any render writes")
    try:
        journal = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise refuse("not JSON") from None
    if not isinstance(journal, dict) or set(journal) != {"write", "remove"}:
        raise refuse("expected exactly the keys write and remove")
    seen: set[str] = set()
    for key in ("write", "remove"):
        entries = journal[key]
        if not isinstance(entries, list):
            raise refuse(f"{key} is not a list")
        for rel in entries:
            if not (generated_path(rel) or rel == RECORD_FILE):
                raise refuse(f"{rel!r} is not a path render writes (inside base/, overlays/, deploy/ or a root file)")
            if rel in seen:
                raise refuse(f"{rel!r} is listed twice")
            seen.add(rel)
            if not _inside_tree(root, rel):
                raise refuse(f"{rel!r} leads through a symlink")
    for i in range(len(journal["write"])):
        staged = _staged(txn, i)
        if staged.is_symlink() or (staged.exists() and not staged.is_file()):
            raise refuse(f"{NEW}/{i} is not a regular file")
    return journal


def _remove_entry(path: Path) -> None:
    """Remove a file, symlink (never what it points to) or directory tree; errors are left for later."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)
    except OSError:
        pass


def _write_locked(root: Path, files: dict[str, str], read_state: tuple | None = None) -> Changes:
    check_roots(root)
    for rel in files:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise _refuse("refusing to write outside the repository", rel)
    changes = diff_tree(root, files)
    _check_safe(root, changes.added + changes.changed)
    if changes.empty:
        _still(root, read_state)
        return changes
    journal = {"write": changes.added + changes.changed, "remove": changes.removed}
    stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=root))
    try:
        (stage / NEW).mkdir()
        (stage / OLD).mkdir()
        for i, rel in enumerate(journal["write"]):  # flat: no directory tree to make and remove again
            with _as(rel):
                _write_staged(_staged(stage, i), files[rel].encode("utf-8"))
        with _as("."):
            _write_staged(stage / JOURNAL, json.dumps(journal, indent=1).encode())
        # Everything staged must be on disk before the commit: one sync instead of an fsync per file
        # (thousands of fsyncs were most of a large first render).
        os.sync()
        _still(root, read_state)
        os.rename(stage, root / TXN_DIR)  # the commit point
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    txn = root / TXN_DIR
    done: list[tuple[str, str, int]] = []
    try:
        _apply(root, txn, journal, done)
    except BaseException:
        _undo(root, txn, done)
        raise
    _finish(txn)
    return changes


def _still(root: Path, read_state: tuple | None) -> None:
    """Refuse to commit when the render's inputs changed since it read them (``locks.inputs_state``)."""
    if read_state is not None and inputs_state(root) != read_state:
        raise UserError(Finding("the repository changed while render ran (HEAD, katib-gitops.yaml, a spec or a "
                                "custom component: another branch checked out?); nothing was written: run render "
                                "again", file=str(root), line=0, column=0, rule="lock"), exit_code=2)


def _apply(root: Path, txn: Path, journal: dict, done: list[tuple[str, str, int]]) -> None:
    """Carry out the journal; each step may be repeated (after a kill) without harm."""
    present: set[str] = set()  # directories known to exist
    for i, rel in enumerate(journal["write"]):
        staged, target, backup = _staged(txn, i), root / rel, txn / OLD / rel
        if not staged.exists():
            continue  # already in place
        with _as(rel):
            if target.exists() and not backup.exists():
                backup.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(target, backup)
            _make_parents(root, rel, done, present)
            os.replace(staged, target)
        done.append(("write", rel, i))
    for rel in journal["remove"]:
        target, backup = root / rel, txn / OLD / rel
        if target.is_file() and is_generated(target):
            with _as(rel):
                backup.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, backup)
            done.append(("remove", rel, -1))
    _prune_empty_dirs(root)


@contextmanager
def _as(rel: str) -> Iterator[None]:
    """An OSError in a step about rel names rel (the user's path), not the staging or backup file involved."""
    try:
        yield
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, rel) from None


def _make_parents(root: Path, rel: str, done: list[tuple[str, str, int]], present: set[str]) -> None:
    """mkdir -p for rel's directory, noting each directory made so that undoing removes exactly those."""
    parts = rel.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        d = "/".join(parts[:depth])
        if d in present:
            continue
        if not os.path.isdir(os.path.join(root, d)):
            os.mkdir(os.path.join(root, d))
            done.append(("mkdir", d, -1))
        present.add(d)


def _undo(root: Path, txn: Path, done: list[tuple[str, str, int]]) -> None:
    """Put back the old files after an exception. New files go back to staging so the journal stays valid."""
    try:
        for what, rel, i in reversed(done):
            target, staged, backup = root / rel, _staged(txn, i), txn / OLD / rel
            if what == "mkdir":
                target.rmdir()
            elif what == "remove":
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(backup, target)
            else:
                staged.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(target, staged)
                if backup.exists():
                    os.replace(backup, target)
                else:
                    target.unlink()
    except OSError:
        return  # the journal is still committed: the next render finishes it (the new tree)
    _finish(txn)


def _finish(txn: Path) -> None:
    os.sync()  # the renames reach the disk before the journal that could redo them goes
    (txn / JOURNAL).unlink(missing_ok=True)  # from here on the transaction is over, even if the next line is cut short
    shutil.rmtree(txn, ignore_errors=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)  # same inode: cheap, and the file keeps its mtime
    except OSError:
        shutil.copy2(src, dst)


def _staged(txn: Path, index: int) -> Path:
    return txn / NEW / str(index)


def _write_staged(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _prune_empty_dirs(root: Path) -> None:
    for top in OWNED_ROOTS:
        d = root / top
        if not d.is_dir() or d.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(d, topdown=False):
            p = Path(dirpath)
            if p != d and not any(p.iterdir()):
                p.rmdir()
