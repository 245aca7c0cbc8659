"""Which files in a repository may be opened at all.

Everything in a repository is untrusted input. Two kinds of entries are never
opened, whatever their name:

- special files (a FIFO, a socket, a device): opening a FIFO blocks until
  someone writes to it, so `validate`, `check` and `render` would hang. They
  are skipped with a warning.
- symlinks that lead out of the repository (``base/x.yaml -> /etc/...``):
  Argo CD refuses to sync a repository holding one ("out of bounds symlink"),
  and reading it would show what the sync never sees. They are errors.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .findings import ERROR, WARNING, Finding

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device"}


def special_kind(path: Path) -> str | None:
    """'a FIFO', 'a socket', ... for a special file (after symlinks); None for anything else or nothing there."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return _KINDS.get(stat.S_IFMT(mode))


def outside(path: Path, root: Path) -> Path | None:
    """Where path really is, when a symlink on the way takes it out of root; else None."""
    try:
        real = path.resolve()
        real.relative_to(root.resolve())
    except ValueError:
        return real
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return path
    return None


def refusal(path: Path, root: Path, display: str) -> Finding | None:
    """A finding instead of reading path, or None when path may be opened."""
    away = outside(path, root)
    if away is not None:
        return Finding(f"refusing to follow a symlink out of the repository (resolves to {away}); Argo CD refuses "
                       "such a repository too", file=display, line=0, column=0, severity=ERROR, rule="symlink")
    kind = special_kind(path)
    if kind is not None:
        return Finding(f"skipped: {kind}, not a regular file (never opened: it could block)", file=display, line=0,
                       column=0, severity=WARNING, rule="special-file")
    return None


def first_special(root: Path, tops: tuple[str, ...]) -> Path | None:
    """The first special file under root/top for each top (symlinked directories not followed)."""
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(root / top):
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if special_kind(p) is not None:
                    return p
    return None


def tree_refusals(root: Path, tops: tuple[str, ...]) -> list[Finding]:
    """Every symlink out of root (an error, as Argo CD refuses it) and special file (a warning) under root/top."""
    out = []
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(root / top):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                p = Path(dirpath) / name
                if p.is_symlink() or special_kind(p) is not None:
                    refused = refusal(p, root, p.relative_to(root).as_posix())
                    if refused is not None:
                        out.append(refused)
    return out


def copy_regular(root: Path, dest: Path, tops: tuple[str, ...] | list[str]) -> None:
    """Copy the regular files under root/top (and root's own regular files) to dest: no special file, no symlink."""
    import shutil

    for entry in os.scandir(root):
        if entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, dest / entry.name)
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(root / top):
            for name in filenames:
                p = Path(dirpath) / name
                if p.is_symlink() or special_kind(p) is not None or not p.is_file():
                    continue
                target = dest / p.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, target)


def write_file(path: Path, text: str, display: str, force: bool = False) -> None:
    """Write a file a user named (``import -o``, ``new``): a regular file or a new path only, all or nothing.

    A directory, FIFO, device or socket there is refused (writing would replace or block on it); so is an
    existing file unless force. The text goes to a temporary file beside it, renamed over it at the end:
    a failure leaves neither a half-written file nor the temporary one.
    """
    import tempfile

    from .findings import UserError

    def refuse(message: str) -> UserError:
        return UserError(Finding(message, file=display, line=0, column=0, rule="io"), exit_code=2)

    if path.exists() or path.is_symlink():
        if path.is_dir():
            raise refuse("is a directory: name a file to write")
        kind = special_kind(path)
        if kind is not None or not path.is_file():
            raise refuse(f"is {kind or 'not a regular file'}: refusing to replace it")
        if not force:
            raise refuse("exists; pass --force to overwrite")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise refuse(f"cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
