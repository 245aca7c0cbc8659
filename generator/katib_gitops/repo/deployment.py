"""What a rendered repository deploys: which overlays reach the cluster, and the GPUs their trials hold.

Derived from the rendered tree itself, never from assumptions about its layout: the overlays the root
``kustomization.yaml`` includes (``kubectl apply -k .``), and those the Argo CD Applications /
ApplicationSets and Flux Kustomizations under ``deploy/`` point at (when their own kustomization lists
them). GPUs come from the ``*/gpu`` resource limits of each built overlay's Experiment trial templates.

Files are read through a ``read(relative_path) -> text | None`` callable, so the same code serves a tree on
disk (``validate``) and one rendered in memory (``plan``).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import yaml

from .repository import DEPLOY_DIR, OVERLAYS_DIR

Reader = Callable[[str], "str | None"]
KUSTOMIZATION = "kustomization.yaml"
MAX_DEPTH = 16  # kustomizations including kustomizations: a cycle in untrusted input must not hang


def disk_reader(root: Path) -> Reader:
    base = root.resolve()

    def read(rel: str) -> str | None:
        path = (base / rel).resolve()
        try:
            path.relative_to(base)  # never outside the repository, whatever a kustomization says
            return path.read_text(encoding="utf-8")
        except (ValueError, OSError, UnicodeDecodeError):
            return None
    return read


def memory_reader(files: Mapping[str, str]) -> Reader:
    return files.get


def _docs(text: str | None) -> list[dict[str, Any]]:
    if not text:
        return []
    try:
        return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError:
        return []


def _norm(path: str) -> str:
    return posixpath.normpath(path).lstrip("./") if path not in (".", "./") else ""


def _reachable(read: Reader, directory: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """("dir", d) for each kustomization directory reached from directory, ("file", f) for each resource file."""
    if depth > MAX_DEPTH:
        return
    yield "dir", directory
    for doc in _docs(read(posixpath.join(directory, KUSTOMIZATION) if directory else KUSTOMIZATION)):
        for res in doc.get("resources") or []:
            if not isinstance(res, str) or "://" in res:
                continue
            rel = _norm(posixpath.join(directory, res))
            if rel.startswith(".."):
                continue
            if read(posixpath.join(rel, KUSTOMIZATION) if rel else KUSTOMIZATION) is not None:
                yield from _reachable(read, rel, depth + 1)
            else:
                yield "file", rel


def overlay_dirs(read: Reader, candidates: list[str]) -> list[str]:
    return [d for d in candidates if read(posixpath.join(d, KUSTOMIZATION)) is not None]


def deployed_overlays(read: Reader, overlays: list[str]) -> dict[str, list[str]]:
    """overlay dir -> how it is deployed ("kustomization.yaml", "deploy/argocd", "deploy/flux", ...)."""
    out: dict[str, list[str]] = {}

    def add(overlay: str, how: str) -> None:
        out.setdefault(overlay, [])
        if how not in out[overlay]:
            out[overlay].append(how)

    for what, path in _reachable(read, ""):
        if what == "dir" and path in overlays:
            add(path, KUSTOMIZATION)
    for tool in ("argocd", "flux"):
        top = f"{DEPLOY_DIR}/{tool}"
        for what, path in _reachable(read, top):
            if what != "file":
                continue
            for doc in _docs(read(path)):
                targets = _targets(doc)
                excluded = {o for t, exclude in targets if exclude for o in _matching(t, overlays)}
                for target, exclude in targets:
                    if exclude:
                        continue
                    for overlay in _matching(target, overlays) + _through(read, target, overlays):
                        if overlay not in excluded:
                            add(overlay, top)
    return {o: out[o] for o in overlays if o in out}


def _through(read: Reader, target: str, overlays: list[str]) -> list[str]:
    """Overlays a synced directory includes through its kustomization (e.g. the repository root).

    The target is tried as given, then without each leading part (a monorepo prefix: git.path), then as the
    repository root itself (what a monorepo's Application names by its prefix alone).
    """
    t = _norm(target)
    if "*" in t:
        return []
    parts = t.split("/") if t else []
    for candidate in ["/".join(parts[i:]) for i in range(len(parts))] + [""]:
        if read(posixpath.join(candidate, KUSTOMIZATION) if candidate else KUSTOMIZATION) is not None:
            return [p for what, p in _reachable(read, candidate) if what == "dir" and p in overlays]
    return []


def _targets(doc: dict[str, Any]) -> list[tuple[str, bool]]:
    """(path, excluded) a GitOps object syncs: Application source(s), ApplicationSet git directories, Flux
    Kustomization."""
    kind, spec = doc.get("kind"), doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
    paths: list[tuple[Any, bool]] = []
    if kind == "Application":
        sources = [spec.get("source")] + list(spec.get("sources") or [])
        paths = [(s.get("path"), False) for s in sources if isinstance(s, dict)]
    elif kind == "ApplicationSet":
        for gen in spec.get("generators") or []:
            git = gen.get("git") if isinstance(gen, dict) else None
            if isinstance(git, dict):
                paths += [(d.get("path"), bool(d.get("exclude"))) for d in git.get("directories") or []
                          if isinstance(d, dict)]
    elif kind == "Kustomization" and str(doc.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/"):
        paths = [(spec.get("path"), False)]
    return [(p, x) for p, x in paths if isinstance(p, str)]


def _matching(target: str, overlays: list[str]) -> list[str]:
    """Overlays a target path names: exactly, below a monorepo prefix, or by a directory glob (overlays/*)."""
    from fnmatch import fnmatchcase

    t = _norm(target)
    suffixes = [t.split("/", i)[-1] for i in range(t.count("/") + 1)]  # without a monorepo prefix
    return [o for o in overlays if any(fnmatchcase(o, s) for s in suffixes)]


def repo_overlays(read: Reader, names: list[str]) -> list[str]:
    """overlays/<name> for each name whose kustomization exists."""
    return overlay_dirs(read, [f"{OVERLAYS_DIR}/{n}" for n in names])


# ---------------------------------------------------------------------------
# GPUs


@dataclass(frozen=True)
class GpuUse:
    per_trial: int
    parallel: int

    @property
    def at_once(self) -> int:
        return self.per_trial * self.parallel


def trial_gpus(experiment: dict[str, Any]) -> int:
    """GPUs one trial holds: */gpu limits of every container of every replica of the trial template."""
    spec = experiment.get("spec") if isinstance(experiment.get("spec"), dict) else {}
    template = spec.get("trialTemplate") if isinstance(spec.get("trialTemplate"), dict) else {}
    return _gpus(template.get("trialSpec"), 1)


def _gpus(node: Any, replicas: int) -> int:
    if isinstance(node, list):
        return sum(_gpus(x, replicas) for x in node)
    if not isinstance(node, dict):
        return 0
    if isinstance(node.get("replicas"), int) and "template" in node:
        replicas *= max(node["replicas"], 0)
    total = 0
    if isinstance(node.get("containers"), list):
        for c in node["containers"]:
            limits = ((c.get("resources") or {}).get("limits") or {}) if isinstance(c, dict) else {}
            for resource, value in limits.items() if isinstance(limits, dict) else ():
                if str(resource).endswith("/gpu"):
                    total += _int(value) * replicas
    for key, value in node.items():
        if key != "containers":
            total += _gpus(value, replicas)
    return total


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def gpu_use(experiment: dict[str, Any]) -> GpuUse:
    spec = experiment.get("spec") if isinstance(experiment.get("spec"), dict) else {}
    parallel = spec.get("parallelTrialCount")
    return GpuUse(trial_gpus(experiment), parallel if isinstance(parallel, int) else 3)  # Katib's default: 3
