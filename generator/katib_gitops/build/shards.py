"""An overlay of render's own layout built in shards: the same output, at a cost linear in its Experiments.

kustomize keeps a build's resources in a list and, before adding one, compares it with every resource
already there (``resWrangler.Append``, api/resmap/reswrangler.go); the default legacy sort then adds
them all once more. A build of N resources therefore makes about N^2 comparisons on top of its
per-resource work: at 1,000 specs (the cpu overlay: 659 Experiments) a tenth of its time, at 3,000
(1,971 Experiments) most of it. Nothing in the overlay's own layout avoids that: the Experiments must
all be in one build for Argo CD and Flux.

The gate only needs that build's *output*. When an overlay is exactly render's layout (its
kustomization names one base of plain files, its own plain files and targeted patch files, nothing
else: no component, no generator, no transformer) every resource comes out of kustomize on its own:
each patch is applied to each resource its target selects, and nothing looks at two resources at
once. So the base's files are split into shards of ``SHARD_SIZE``, each built by real kustomize with
the same patches (``sortOptions: fifo``: the order is restored here), and the documents are put back
in the order kustomize's legacy sort gives them (SortOrderTransformer.go: kinds in its fixed order,
then by group/version/kind, namespace and name). The joined text is byte for byte what the whole
build prints (tests/gitops/test_shards.py builds both ways).

Anything unexpected means the whole build, as before: an overlay of any other shape, a document
whose identity cannot be read, two documents with one identity (kustomize refuses those, and only the
whole build can say so in its own words), a shard that fails.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import posixpath
import re
import shutil
import stat
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path
from typing import Any, Sequence

SHARD_SIZE = 150
KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
KUSTOMIZATION = "kustomization.yaml"
OTHER_KUSTOMIZATIONS = ("kustomization.yml", "Kustomization")
TARGET_KEYS = {"group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector"}
# kustomize's legacy order (api/internal/builtins/SortOrderTransformer.go, defaultOrderFirst/defaultOrderLast).
ORDER_FIRST = ("Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
               "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
               "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
               "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget")
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_TYPE_ORDER = {**{k: i - len(ORDER_FIRST) for i, k in enumerate(ORDER_FIRST)},
               **{k: 1 + i for i, k in enumerate(ORDER_LAST)}}
_SEPARATOR = re.compile(r"^---\n", re.M)
_TOP_KEY = re.compile(r"^[^\s#-]", re.M)


class NotShardable(Exception):
    """The overlay is not exactly render's layout (or its output cannot be put back together): build it whole."""


@dataclass(frozen=True)
class Plan:
    overlay: Path
    shards: tuple[Path, ...]  # scratch kustomization directories, in the base's order


def plan(overlay: Path, scratch: Path) -> Plan | None:
    """Shards of overlay under scratch, or None when the overlay is small or not render's layout."""
    try:
        return _plan(overlay, scratch)
    except (NotShardable, OSError, ValueError):
        return None


def _plan(overlay: Path, scratch: Path) -> Plan | None:
    kust = _kustomization(overlay)
    if not set(kust) <= {"apiVersion", "kind", "resources", "patches"}:
        raise NotShardable("other fields")
    own: list[str] = []
    bases: list[Path] = []
    for ref in _strings(kust.get("resources")):
        if _plain_name(ref):
            _regular(overlay / ref)
            own.append(ref)
        else:
            bases.append(_directory(overlay, ref))
    patches = kust.get("patches") or []
    if len(bases) != 1 or not isinstance(patches, list):
        raise NotShardable("not one base")
    for p in patches:
        if not (isinstance(p, dict) and set(p) == {"path", "target"} and isinstance(p["target"], dict)
                and set(p["target"]) <= TARGET_KEYS and all(isinstance(v, str) for v in p["target"].values())):
            raise NotShardable("a patch of another shape")
        _regular(overlay / _relative(p["path"]))
    base = bases[0]
    base_kust = _kustomization(base)
    if not set(base_kust) <= {"apiVersion", "kind", "resources"}:
        raise NotShardable("a base with other fields")
    files = _strings(base_kust.get("resources"))
    if len(files) <= SHARD_SIZE:
        return None
    if len(set(files)) != len(files) or not all(_plain_name(f) for f in files):
        raise NotShardable("a base that is not plain files")
    for f in files:
        _regular(base / f)
    # Each file goes to the shard its name hashes to, so a spec added, removed or edited changes one shard
    # and leaves the others' inputs (and so their cached outputs, ``ShardCache``) as they were.
    buckets = 1 << max(0, math.ceil(math.log2(len(files) / SHARD_SIZE)))
    grouped: dict[int, list[str]] = {}
    for f in files:
        grouped.setdefault(int(hashlib.sha256(f.encode("utf-8", "surrogateescape")).hexdigest()[:8], 16) % buckets,
                           []).append(f)
    shards = []
    for i, (bucket, members) in enumerate(sorted(grouped.items())):
        d = scratch / f"{overlay.name}-{bucket}"
        d.mkdir(parents=True)
        for f in members:
            _link_or_copy(base / f, d / f)
        for f in own if i == 0 else []:
            _link_or_copy(overlay / f, d / f)
        for p in patches:
            rel = _relative(p["path"])
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(overlay / rel, d / rel)
        body = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
                "resources": [*(own if i == 0 else []), *members], "sortOptions": {"order": "fifo"}}
        if patches:
            body["patches"] = patches
        (d / KUSTOMIZATION).write_text(json.dumps(body, indent=1), encoding="utf-8")  # JSON is YAML
        shards.append(d)
    return Plan(overlay, tuple(shards))


def _kustomization(directory: Path) -> dict[str, Any]:
    import yaml

    if any(os.path.lexists(directory / name) for name in OTHER_KUSTOMIZATIONS):
        raise NotShardable("several kustomization files")  # kustomize refuses that: let it say so
    data = _regular(directory / KUSTOMIZATION).read_bytes()
    try:
        kust = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        raise NotShardable("not YAML") from None
    if not (isinstance(kust, dict) and kust.get("apiVersion") == KUSTOMIZE_API and kust.get("kind") == "Kustomization"):
        raise NotShardable("not a Kustomization")
    return kust


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NotShardable("not a list of names")
    return value


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def _relative(path: Any) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        raise NotShardable("a patch path")
    norm = posixpath.normpath(path)
    if norm.startswith("../") or norm in ("..", "."):
        raise NotShardable("a patch path")
    return norm


def _regular(path: Path) -> Path:
    """path, when it and every directory on the way from its overlay are real (no symlink) and it is a file."""
    if not stat.S_ISREG(os.lstat(path).st_mode) or os.path.realpath(path) != os.path.abspath(path):
        raise NotShardable(f"{path} is not a plain file")
    return path


def _directory(overlay: Path, ref: str) -> Path:
    if ref.startswith("/") or "://" in ref or "\\" in ref:
        raise NotShardable("not a local base")
    d = Path(os.path.abspath(overlay / ref))
    if not d.is_dir() or os.path.realpath(d) != str(d):
        raise NotShardable("not a plain directory")
    return d


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # the staged tree and the shards share a file system: no copy
    except OSError:
        shutil.copyfile(src, dst)


# --------------------------------------------------------------------------- putting the output back together


@dataclass(frozen=True)
class _Identity:
    group: str
    version: str
    kind: str
    namespace: str
    name: str

    def gvk_string(self) -> str:  # kyaml resid.Gvk.String
        return ".".join([self.kind or "[noKind]", self.version or "[noVer]", self.group or "[noGrp]"])

    def legacy_gvk(self) -> str:  # SortOrderTransformer.go legacyGVKSortString
        return "_".join([self.group or "~G", self.version or "~V", self.kind or "~K"])

    def legacy_id(self) -> str:  # SortOrderTransformer.go legacyResIDSortString
        return "|".join([self.gvk_string(), self.namespace or "~X", self.name or "~N"])


def _compare(a: tuple[_Identity, str], b: tuple[_Identity, str]) -> int:
    """kustomize's legacyIDSorter.Less, as a comparison."""
    x, y = a[0], b[0]
    if (x.group, x.version, x.kind) != (y.group, y.version, y.kind):
        ox, oy = _TYPE_ORDER.get(x.kind, 0), _TYPE_ORDER.get(y.kind, 0)
        if ox != oy:
            return -1 if ox < oy else 1
        sx, sy = x.legacy_gvk(), y.legacy_gvk()
        if x.kind == y.kind == "Namespace" and (x.group == "" or y.group == ""):
            sx, sy = sy, sx
        return (sx > sy) - (sx < sy)
    sx, sy = x.legacy_id(), y.legacy_id()
    return (sx > sy) - (sx < sy)


def _identity(document: str) -> _Identity:
    """apiVersion, kind, metadata.namespace and metadata.name of one document of kustomize's output."""
    import yaml

    # Only the top-level keys kustomize prints first (apiVersion, kind, metadata) are parsed, not the spec.
    end = len(document)
    for match in _TOP_KEY.finditer(document):
        if not document.startswith(("apiVersion:", "kind:", "metadata:"), match.start()):
            end = match.start()
            break
    try:
        top = yaml.load(document[:end], Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        raise NotShardable("unreadable document") from None
    meta = top.get("metadata") if isinstance(top, dict) else None
    api, kind = (top.get("apiVersion"), top.get("kind")) if isinstance(top, dict) else (None, None)
    if not (isinstance(meta, dict) and isinstance(api, str) and isinstance(kind, str)
            and isinstance(meta.get("name"), str) and isinstance(meta.get("namespace", ""), str)):
        raise NotShardable("a document without a readable identity")
    group, _, version = api.rpartition("/")
    return _Identity(group, version, kind, meta.get("namespace", ""), meta["name"])


def merge(outputs: Sequence[str]) -> str:
    """The whole build's output from its shards' outputs; NotShardable when it cannot be vouched for."""
    documents: list[tuple[_Identity, str]] = []
    for text in outputs:
        if not text.endswith("\n"):
            raise NotShardable("an output that does not end a line")
        documents += [(_identity(d), d) for d in _SEPARATOR.split(text) if d]
    seen: set[tuple[str, str, str]] = set()
    for ident, _ in documents:
        key = (ident.group, ident.kind, ident.name)  # stricter than kustomize's own identity: never fewer clashes
        if key in seen:
            raise NotShardable("two documents with one identity")
        seen.add(key)
    documents.sort(key=cmp_to_key(_compare))
    return "---\n".join(d for _, d in documents)


# --------------------------------------------------------------------------- outputs kept for the next render


class ShardCache:
    """kustomize's output for each shard, keyed by everything it read: what render's next gate reuses.

    A shard's output is decided by its directory (the kustomization, the Experiments' files, the patch
    files, every byte of them) and by the kustomize that built it (``tool``: the binary and the
    environment it reads, ``stamp.tool_identity``). When the next render stages a tree, every shard whose
    inputs are byte for byte the same has that output already; only the others are built. So a render
    that changes one spec builds the few shards holding it, not every overlay. Each entry starts with the
    SHA-256 of its text, checked when read (a truncated or edited entry is a miss); the entries the last
    gate did not use are deleted. It lives beside the render stamp in the git directory and is used by
    render's gate only: ``check``, the CI gate, always builds.
    """

    def __init__(self, directory: Path, tool: str):
        self.directory = directory
        self.tool = tool
        self.used: set[str] = set()

    def key(self, shard: Path) -> str:
        h = hashlib.sha256(f"{self.tool}\n".encode())
        for dirpath, dirnames, filenames in os.walk(shard):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                h.update(f"{path.relative_to(shard).as_posix()}\0".encode("utf-8", "surrogateescape"))
                h.update(hashlib.sha256(path.read_bytes()).digest())
        return h.hexdigest()

    def get(self, key: str) -> str | None:
        self.used.add(key)
        path = self.directory / key
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            with os.fdopen(fd, "rb", closefd=False) as fh:
                raw = fh.read()
        except OSError:
            return None
        finally:
            os.close(fd)
        digest, _, body = raw.partition(b"\n")
        if digest.decode("ascii", "replace") != hashlib.sha256(body).hexdigest():
            return None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def put(self, key: str, output: str) -> None:
        body = output.encode("utf-8")
        tmp = self.directory / f".{key}.{os.getpid()}.tmp"
        try:
            if self.directory.is_symlink():
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
            os.replace(tmp, self.directory / key)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def prune(self) -> None:
        """Delete the entries this gate did not use (older trees' shards)."""
        try:
            if self.directory.is_symlink():
                return
            for entry in os.scandir(self.directory):
                if entry.name not in self.used:
                    os.unlink(entry.path)
        except OSError:
            pass
