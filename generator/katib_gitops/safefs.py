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


def escaping_links(root: Path, tops: tuple[str, ...]) -> list[Finding]:
    """Every symlink under root/top (for each top) that leads out of root, as Argo CD would refuse it."""
    out = []
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(root / top):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                p = Path(dirpath) / name
                if p.is_symlink():
                    refused = refusal(p, root, p.relative_to(root).as_posix())
                    if refused is not None and refused.severity == ERROR:
                        out.append(refused)
    return out
