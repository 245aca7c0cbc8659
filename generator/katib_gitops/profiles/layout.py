"""The overlays: one per profile, holding only the experiments deployed under it.

``overlays/<profile>/kustomization.yaml`` takes ``../../base/<profile>`` (the
Experiments of that profile, already named) and one patch entry per *distinct*
operation list: experiments whose trial pods have the same shape get the same
operations, so they share one file under ``patches/``, named after a hash of
its content and targeted by a label selector on the spec names
(``katib-gitops.dev/spec in (a, b)``). kustomize matches each patch against
each resource, so its cost grows with experiments x patch files; with one file
per shape rather than per experiment and concern it stays linear in the number
of experiments. A PR adding an experiment of an existing shape changes one line
(the selector) of one overlay file.

A team's own kustomize Component in ``overlays/<profile>/custom/`` (a
``kustomization.yaml`` of kind Component) is listed under ``components:`` and
never written or removed by render.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

from ..spec.experiment import SPEC_LABEL
from .patches import CONCERNS, Ops

KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
PROFILE_LABEL = "katib-gitops.dev/profile"
CUSTOM_DIR = "custom"
PATCH_DIR = "patches"
EXPERIMENT_TARGET = {"group": "kubeflow.org", "version": "v1beta1", "kind": "Experiment"}


@dataclass(frozen=True)
class Member:
    """One experiment of an overlay: its spec name, the trial kind and the operations the profile adds."""

    spec: str
    kind: str
    patches: dict[str, Ops]


@dataclass(frozen=True)
class PatchGroup:
    file: str  # relative to the overlay
    specs: tuple[str, ...]
    patches: dict[str, Ops]

    @property
    def selector(self) -> str:
        if len(self.specs) == 1:
            return f"{SPEC_LABEL}={self.specs[0]}"
        return f"{SPEC_LABEL} in ({', '.join(self.specs)})"


def canonical(value: Any) -> str:
    # Exact: tells 1, 1.0, "1" and True apart (JSON keeps those distinct; key order is the operations' own).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def group(members: Iterable[Member]) -> list[PatchGroup]:
    """Members with identical operations share one patch file; groups in file-name order."""
    by_ops: dict[str, tuple[str, list[str], dict[str, Ops]]] = {}
    for m in members:
        if not m.patches:
            continue
        key = canonical([[c, m.patches[c]] for c in CONCERNS if c in m.patches])
        if key not in by_ops:
            digest = hashlib.sha256(key.encode()).hexdigest()[:8]
            by_ops[key] = (f"{PATCH_DIR}/{(m.kind or 'trial').lower()}-{digest}.yaml", [], m.patches)
        by_ops[key][1].append(m.spec)
    return sorted((PatchGroup(f, tuple(sorted(specs)), p) for f, specs, p in by_ops.values()), key=lambda g: g.file)


def patch_text(profile: str, group_: PatchGroup, dump: Any) -> str:
    """The patch file body: the operations concern by concern, each under a comment saying what it adds."""
    # The experiments are named in kustomization.yaml only, so adding one of this shape leaves this file alone.
    lines = [f"# The {profile} profile, for the experiments kustomization.yaml selects with this file."]
    body = []
    for concern, title in CONCERNS.items():
        ops = group_.patches.get(concern)
        if ops:
            body.append(f"# {title}\n" + dump(ops))
    return "\n".join(lines) + "\n" + "".join(body)


def overlay_kustomization(profile: str, groups: list[PatchGroup], has_custom: bool) -> dict[str, Any]:
    kust: dict[str, Any] = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": [f"../../base/{profile}"]}
    if has_custom:
        kust["components"] = [CUSTOM_DIR]
    if groups:
        kust["patches"] = [{"path": g.file, "target": {**EXPERIMENT_TARGET, "labelSelector": g.selector}}
                           for g in groups]
    return kust
