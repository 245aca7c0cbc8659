"""The validated-render stamp: render's proof, kept on this machine, that the tree as it is passed its gate.

A render that changes nothing still had to re-read every spec, build every overlay with kustomize and
validate everything before it could say "up to date": seconds at a thousand experiments, on every commit
a pre-commit hook renders. After a render whose gate passed and whose files are written, this module
records a digest of everything that decided the verdict; the next render that finds exactly the same
state reports what that render reported (its warnings, "up to date") and exits 0 without rendering.

What the digest covers (anything else, or any doubt, and render runs its full gate):

- the tree: every spec file in experiments/, katib-gitops.yaml, the render record, the root
  kustomization, and every file under base/, overlays/ and deploy/, generated or hand-written (a
  team's ``custom/`` component is built into the overlays), each by its contents; a hand-written
  kustomization that names a file or directory elsewhere (outside base/, overlays/ and deploy/, an
  absolute path, a remote base) is doubt, since what it reads is not in the digest;
- the tool: katib-gitops' version and the size and time of every file of the package (an edited
  checkout is another tool), the Python libraries validation runs on, the Python interpreter, the
  kustomize (or kubectl) binary on PATH, and the environment variables kustomize reads.

Doubt means: a symlink, FIFO, socket or device anywhere in those places, an unreadable file, a
staging or transaction directory of an interrupted render, no git directory to keep the stamp in, or
a stamp that is missing, malformed, larger than any render writes, or of another tool or tree.

Why on this machine and not in the render record. The record is tracked in git and arrives through
clones and pull requests: anyone can write digests into it, so it cannot prove that a validation ran,
and which kustomize binary validated a tree is a fact about one machine, not about the repository.
The stamp lives in the repository's git directory (``katib-gitops/`` inside ``git rev-parse
--absolute-git-dir``, one file per katib-gitops root of the work tree), which git never commits.
It is still read as untrusted input: a strict shape, a size limit, no path taken from it.

Why the stamp never vouches for a tree that was not validated. It is written only after a render
whose gate passed, from the digests taken before that render read anything, and only when, after the
write, every input still has the same inode, size, modification and change time (no edit while the
render ran, not even one undone again) and every generated file on disk is the text that was
validated. Stale copies of generated files that render neither writes nor removes (the gate does not
see them) mean no stamp.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .. import __version__
from ..io.findings import ERROR, Finding
from ..repo.paths import BASE_DIR, CONFIG_FILE, DEPLOY_DIR, EXPERIMENTS_DIR, KUSTOMIZATION_FILES, OVERLAYS_DIR

FORMAT = 1
STAMP_DIR = "katib-gitops"
MAX_STAMP_BYTES = 16 * 1024 * 1024
TREES = (BASE_DIR, OVERLAYS_DIR, DEPLOY_DIR)
# Libraries whose behaviour is part of the verdict (parsing, schemas, rules); a different install is another tool.
LIBRARIES = ("yaml", "ruamel.yaml", "jsonschema", "jsonschema_rs", "kubernetes_validate", "re2", "detect_secrets")
KUSTOMIZE_ENV = ("KUSTOMIZE", "GO", "XDG_CONFIG_HOME")  # prefixes of the variables kustomize (Go) reads


class Doubt(Exception):
    """Something the digest cannot vouch for: render runs its full gate."""


@dataclass(frozen=True)
class Entry:
    digest: str  # sha256 of the contents, hex
    identity: tuple[int, ...]  # inode, size, mtime_ns, ctime_ns: any write changes one of them
    generated: bool  # begins with render's exact generated header


@dataclass(frozen=True)
class Scan:
    """Every file whose contents decide render's verdict, relative path -> Entry."""

    files: dict[str, Entry]

    def digest(self) -> str:
        return state_digest((rel, e.digest) for rel, e in self.files.items())


@dataclass(frozen=True)
class Stamp:
    tool: str
    state: str
    experiments: int
    findings: tuple[Finding, ...]  # what the validated render printed (warnings only: it exited 0)


def state_digest(entries: Iterable[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for rel, digest in sorted(entries):
        h.update(f"{rel}\0{digest}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# --------------------------------------------------------------------------- the tree


def scan(root: Path) -> Scan:
    """The files render reads and writes, each by its contents; Doubt for anything else."""
    from ..repo.record import RECORD_FILE
    from ..repo.writer import STAGE_PREFIX, TXN_DIR, has_generated_header

    files: dict[str, Entry] = {}

    def add(path: str, rel: str, st: os.stat_result) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            raise Doubt(f"cannot read {rel}: {exc.strerror}") from None
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode) or opened.st_ino != st.st_ino:
                raise Doubt(f"{rel} changed while it was read")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read()
        except OSError as exc:
            raise Doubt(f"cannot read {rel}: {exc.strerror}") from None
        finally:
            os.close(fd)
        generated = has_generated_header(data)
        if not generated and os.path.basename(rel) in KUSTOMIZATION_FILES and "/" in rel:
            _only_local_references(rel, data, root)
        files[rel] = Entry(hashlib.sha256(data).hexdigest(),
                           (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns), generated)

    def lstat(path: str) -> os.stat_result | None:
        try:
            return os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Doubt(f"cannot look at {path}: {exc.strerror}") from None

    try:
        names = os.listdir(root)
    except OSError as exc:
        raise Doubt(f"cannot list the repository: {exc.strerror}") from None
    if any(name.startswith(STAGE_PREFIX) or name == TXN_DIR for name in names):
        raise Doubt("an interrupted render left its staging or transaction directory")
    for name in (CONFIG_FILE, RECORD_FILE, *KUSTOMIZATION_FILES):
        st = lstat(os.path.join(root, name))
        if st is not None:
            if not stat.S_ISREG(st.st_mode):
                raise Doubt(f"{name} is not a regular file")
            add(os.path.join(root, name), name, st)
    experiments = os.path.join(root, EXPERIMENTS_DIR)
    st = lstat(experiments)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise Doubt(f"{EXPERIMENTS_DIR}/ is not a directory")
    for entry in _entries(experiments):
        if stat.S_ISREG(entry[1].st_mode):
            add(entry[0], f"{EXPERIMENTS_DIR}/{os.path.basename(entry[0])}", entry[1])
        elif not stat.S_ISDIR(entry[1].st_mode):  # render reads no subdirectory of experiments/
            raise Doubt(f"{entry[0]} is a symlink or special file")
    for top in TREES:
        path = os.path.join(root, top)
        st = lstat(path)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise Doubt(f"{top} is not a directory")
        todo = [path]
        while todo:
            for child, cst in _entries(todo.pop()):
                if stat.S_ISDIR(cst.st_mode):
                    todo.append(child)
                elif stat.S_ISREG(cst.st_mode):
                    add(child, os.path.relpath(child, root).replace(os.sep, "/"), cst)
                else:
                    raise Doubt(f"{child} is a symlink or special file")
    return Scan(files)


def _entries(directory: str) -> list[tuple[str, os.stat_result]]:
    try:
        with os.scandir(directory) as it:
            return [(e.path, e.stat(follow_symlinks=False)) for e in it]
    except OSError as exc:
        raise Doubt(f"cannot list {directory}: {exc.strerror}") from None


# The fields of a Kustomization that name files or directories kustomize reads (kustomize's types.Kustomization).
_PATH_LISTS = ("resources", "components", "bases", "crds", "configurations", "generators", "transformers",
               "validators", "patchesStrategicMerge")
_PATH_ENTRIES = ("patches", "patchesJson6902", "replacements")  # lists of mappings with a `path`
_GENERATORS = ("configMapGenerator", "secretGenerator")  # lists of mappings with files, envs, env


def _only_local_references(rel: str, data: bytes, root: Path) -> None:
    """Doubt unless every path a hand-written kustomization names is inside base/, overlays/ or deploy/ and there."""
    import posixpath

    import yaml

    try:
        kust = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        raise Doubt(f"{rel} is not YAML") from None
    if not isinstance(kust, dict):
        raise Doubt(f"{rel} is not a mapping")
    named: list[object] = []

    def listed(value: object) -> list[object]:
        return value if isinstance(value, list) else [] if value is None else [value]

    for key in _PATH_LISTS:
        named += [v for v in listed(kust.get(key)) if not (isinstance(v, str) and "\n" in v)]  # inline YAML
    for key in _PATH_ENTRIES:
        named += [e.get("path") for e in listed(kust.get(key)) if isinstance(e, dict) and "path" in e]
    for key in _GENERATORS:
        for g in listed(kust.get(key)):
            if isinstance(g, dict):
                named += [f.split("=", 1)[-1] if isinstance(f, str) else f for f in listed(g.get("files"))]
                named += listed(g.get("envs")) + listed(g.get("env"))
    openapi = kust.get("openapi")
    if isinstance(openapi, dict) and "path" in openapi:
        named.append(openapi["path"])
    if kust.get("helmCharts") or kust.get("helmGlobals") or kust.get("helmChartInflationGenerator"):
        raise Doubt(f"{rel} inflates Helm charts")
    here = posixpath.dirname(rel)
    for name in named:
        if not isinstance(name, str) or not name or "://" in name or name.startswith(("/", "~")):
            raise Doubt(f"{rel} names {name!r}")
        target = posixpath.normpath(posixpath.join(here, name))
        if target.split("/", 1)[0] not in TREES or not os.path.lexists(os.path.join(root, target)):
            raise Doubt(f"{rel} names {name!r}, outside what the digest covers")


# --------------------------------------------------------------------------- the tool


def tool_identity() -> str:
    """A digest of everything besides the tree that decides render's verdict (see the module's docstring)."""
    import shutil
    from importlib.util import find_spec

    from .kustomize import kustomize_command
    from ..io.findings import UserError

    parts = [f"format {FORMAT}", f"katib-gitops {__version__}", f"python {sys.version} {sys.executable}"]
    for package in ("katib_gitops", "katib_gitops.schemas"):
        spec = find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            for dirpath, dirnames, filenames in os.walk(location):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for name in sorted(filenames):
                    st = os.stat(os.path.join(dirpath, name))
                    parts.append(f"{package} {os.path.relpath(os.path.join(dirpath, name), location)} "
                                 f"{st.st_size} {st.st_mtime_ns}")
    for name in LIBRARIES:
        try:
            spec = find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        st = os.stat(origin) if origin and os.path.isfile(origin) else None
        parts.append(f"library {name} {origin} {st.st_size if st else '-'} {st.st_mtime_ns if st else '-'}")
    try:
        command = kustomize_command()
    except UserError:
        raise Doubt("no kustomize") from None
    binary = shutil.which(command[0])
    if binary is None:
        raise Doubt("no kustomize")
    real = os.path.realpath(binary)
    st = os.stat(real)
    parts.append(f"kustomize {' '.join(command)} {real} {st.st_size} {st.st_mtime_ns} {st.st_ino}")
    parts += [f"env {k}={v}" for k, v in sorted(os.environ.items()) if k.startswith(KUSTOMIZE_ENV)]
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


# --------------------------------------------------------------------------- where the stamp lives


def stamp_path(root: Path) -> Path:
    """<git dir>/katib-gitops/render-<key>.json, the key naming root inside the work tree."""
    directory, key = _place(root)
    return directory / f"render-{key}.json"


def shard_cache(root: Path) -> Any:
    """The cache of kustomize's shard outputs for render's gate (``shards.ShardCache``) beside the stamp;
    None where no stamp can be kept."""
    from .shards import ShardCache

    try:
        directory, key = _place(root)
        return ShardCache(directory / f"shards-{key}", tool_identity())
    except Doubt:
        return None


def _place(root: Path) -> tuple[Path, str]:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--absolute-git-dir", "--show-toplevel"], cwd=root,
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        raise Doubt("no git") from None
    lines = out.stdout.decode("utf-8", "surrogateescape").splitlines()
    if out.returncode != 0 or len(lines) != 2:
        raise Doubt("not in a git work tree")
    git_dir, top = Path(lines[0]), Path(lines[1])
    try:
        key = Path(os.path.realpath(root)).relative_to(os.path.realpath(top)).as_posix()
    except ValueError:
        raise Doubt("the repository is not inside its git work tree") from None
    return git_dir / STAMP_DIR, hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]


# --------------------------------------------------------------------------- reading and writing it


def load(path: Path) -> Stamp:
    """The stamp at path, if it has exactly the shape ``save`` writes; Doubt otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise Doubt("no stamp") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Doubt("the stamp is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_STAMP_BYTES + 1)
    except OSError:
        raise Doubt("the stamp cannot be read") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_STAMP_BYTES:
        raise Doubt("the stamp is larger than any render writes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Doubt("the stamp is not JSON") from None
    if not isinstance(data, dict) or set(data) != {"format", "tool", "state", "experiments", "findings"}:
        raise Doubt("the stamp has another shape")
    if data["format"] != FORMAT or not all(_is_hex(data[k]) for k in ("tool", "state")):
        raise Doubt("the stamp has another format")
    n, findings = data["experiments"], data["findings"]
    if type(n) is not int or n < 0 or not isinstance(findings, list):
        raise Doubt("the stamp has another shape")
    return Stamp(data["tool"], data["state"], n, tuple(_finding(f) for f in findings))


def _is_hex(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _finding(raw: Any) -> Finding:
    keys = {"message", "path", "file", "line", "column", "severity", "rule"}
    if not isinstance(raw, dict) or set(raw) != keys:
        raise Doubt("a finding in the stamp has another shape")
    texts = all(isinstance(raw[k], str) for k in ("message", "file", "rule"))
    numbers = all(type(raw[k]) is int and raw[k] >= 0 for k in ("line", "column"))
    path = raw["path"]
    if not (texts and numbers and isinstance(raw["severity"], str) and raw["severity"] != ERROR and isinstance(path, list)
            and all(isinstance(p, str) or type(p) is int for p in path)):
        raise Doubt("a finding in the stamp has another shape")
    return Finding(raw["message"], tuple(path), raw["file"], raw["line"], raw["column"], raw["severity"], raw["rule"])


def save(path: Path, stamp: Stamp) -> None:
    """Write the stamp (a new file renamed into place); a stamp that cannot be written only costs time."""
    body = json.dumps({"format": FORMAT, "tool": stamp.tool, "state": stamp.state, "experiments": stamp.experiments,
                       "findings": [{"message": f.message, "path": list(f.path), "file": f.file, "line": f.line,
                                     "column": f.column, "severity": f.severity, "rule": f.rule}
                                    for f in stamp.findings]}, ensure_ascii=False).encode("utf-8", "surrogateescape")
    if len(body) > MAX_STAMP_BYTES:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.parent.is_symlink():
            return
        path.parent.mkdir(exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def forget(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# --------------------------------------------------------------------------- the two uses


def reusable(root: Path) -> Stamp | None:
    """The stamp, when the tree and the tool are exactly those of the last validated render. Caller holds the
    render lock."""
    try:
        stored = load(stamp_path(root))
        if stored.state == scan(root).digest() and stored.tool == tool_identity():
            return stored
    except Doubt:
        pass
    return None


@dataclass(frozen=True)
class Pending:
    """A render about to run in full: where its stamp goes, and the tree before it read anything."""

    path: Path
    before: Scan


def before_render(root: Path) -> Pending | None:
    """Scan the tree for ``after_render``; None when no stamp can be kept (no git, or doubt). Caller holds the
    render lock and has read nothing yet."""
    try:
        return Pending(stamp_path(root), scan(root))
    except Doubt:
        return None


def after_render(root: Path, pending: Pending | None, files: dict[str, str], removed: Iterable[str],
                 experiments: int, findings: list[Finding]) -> None:
    """Stamp the tree a render has just validated and written (``files``; ``removed``: the stale files it
    deleted), when nothing changed under it while it ran; else drop any stamp."""
    if pending is None:
        return
    before = pending.before
    try:
        expected = {rel: e.digest for rel, e in before.files.items()}
        for rel in removed:
            expected.pop(rel, None)
        # What render did not write must be what it read: not edited since the scan (not even and back).
        kept = set(expected) - set(files)
        if any(before.files[rel].generated for rel in kept):
            raise Doubt("a generated-looking file render neither writes nor removes (the gate never saw it)")
        for rel, text in files.items():
            expected[rel] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        after = scan(root)
        if {rel: e.digest for rel, e in after.files.items()} != expected:
            raise Doubt("the tree is not what was validated")
        if any(after.files[rel].identity != before.files[rel].identity for rel in kept):
            raise Doubt("an input changed while render ran")
        save(pending.path, Stamp(tool_identity(), after.digest(), experiments, tuple(findings)))
    except Doubt:
        forget(pending.path)
