"""The render record: what the last render wrote, and which katib-gitops wrote it.

``katib-gitops.generated.yaml`` at the repository root (tracked in git, written
by every render in the same transaction as the files it lists) holds the
version of katib-gitops that rendered the repository and the SHA-256 of every
generated file. A file is the tool's to replace or delete only when it carries
the exact generated header *and* (to delete it as stale) the record lists it:
a hand-written file that merely starts with the header's words is never touched.

The record arrives through clones and pull requests, so it is untrusted input
when read back: a strict schema, a size limit, paths that are relative, inside
the repository and inside the generated areas only. A record that fails any of
that is ignored with a finding (ownership then rests on the exact header alone,
as for a repository rendered before records existed), never followed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..io.findings import WARNING, Finding, UserError
from .repository import BASE_DIR, DEPLOY_DIR, OVERLAYS_DIR
from ..io.yamlio import dump, load_one

RECORD_FILE = "katib-gitops.generated.yaml"
GENERATED_ROOTS = (BASE_DIR, OVERLAYS_DIR, DEPLOY_DIR)
ROOT_FILES = ("kustomization.yaml",)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_VERSION = re.compile(r"[0-9A-Za-z.+!_-]{1,64}")
# A generated path: segments of printable characters other than '/' and '\', none of them '.' or '..'.
_SEGMENT = re.compile(r"[^/\\\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Record:
    version: str
    files: dict[str, str]  # relative path -> "sha256:HEX"


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_text(files: dict[str, str], header: str) -> str:
    """The record for a render that writes files (the record itself excluded), under the generated header."""
    body = {"generator": "katib-gitops", "version": __version__,
            "files": {rel: digest(text) for rel, text in sorted(files.items()) if rel != RECORD_FILE}}
    return header + dump(body)


def generated_path(rel: object) -> bool:
    """True for a path render could have written: relative, no '..', inside a generated area."""
    if not isinstance(rel, str) or not rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    if any(p in (".", "..") or not _SEGMENT.fullmatch(p) for p in parts):
        return False
    return (len(parts) == 1 and parts[0] in ROOT_FILES) or (len(parts) > 1 and parts[0] in GENERATED_ROOTS)


def read_record(root: Path) -> tuple[Record | None, list[Finding]]:
    """The record on disk (None when absent or untrustworthy) and what is wrong with it."""
    path = root / RECORD_FILE
    if not path.exists() and not path.is_symlink():
        return None, []

    def bad(why: str) -> tuple[None, list[Finding]]:
        return None, [Finding(f"render record ignored: {why}; `katib-gitops render` writes a new one (until then "
                              "only files with the exact generated header are treated as generated)",
                              file=RECORD_FILE, line=1, column=1, severity=WARNING, rule="record")]

    if path.is_symlink() or not path.is_file():
        return bad("not a regular file")
    try:
        data = load_one(str(path), RECORD_FILE).data  # size, depth and alias limits; duplicate keys refused
    except UserError as exc:
        return bad(f"{exc.finding.message} at line {exc.finding.line}; a merge conflict?")
    if not isinstance(data, dict) or set(data) != {"generator", "version", "files"}:
        return bad("unexpected shape (keys generator, version, files)")
    version, files = data["version"], data["files"]
    if data["generator"] != "katib-gitops" or not isinstance(version, str) or not _VERSION.fullmatch(version):
        return bad("no katib-gitops version")
    if not isinstance(files, dict):
        return bad("files is not a mapping")
    for rel, dig in files.items():
        if not generated_path(rel):
            return bad(f"{rel!r} is not a path render writes")
        if not isinstance(dig, str) or not _DIGEST.fullmatch(dig):
            return bad(f"the digest of {rel!r} is not sha256:HEX")
    return Record(version, dict(files)), []


def version_finding(record: Record | None) -> Finding | None:
    """A clear word when the repository was rendered by another katib-gitops than this one."""
    if record is None or record.version == __version__:
        return None
    return Finding(f"rendered by katib-gitops {record.version}, but this is katib-gitops {__version__}: install "
                   f"{record.version} to check it as rendered, or run `katib-gitops render` with {__version__} and "
                   "commit the result", file=RECORD_FILE, line=1, column=1, rule="version")
