"""What a profile is, the built-in cpu and gpu, and how settings combine.

A profile holds a cluster's facts: its GPU taint and resource name, node labels,
a runtime or priority class, a Kueue queue label. They live once, in
katib-gitops.yaml (``profiles:``); ``cpu`` and ``gpu`` always exist (the repo may
change them), and a spec's own ``profiles:`` only adjusts them for that
experiment (``gpu: {gpus: 4}``), or switches one off for it (``cpu: null``: the
profile adds nothing to this experiment).

Built-in defaults follow the original tutorial: 2 CPUs, 4Gi requested and 8Gi
limit; gpu adds one nvidia.com/gpu, the tutorial's node-feature toleration and a
Memory-backed /dev/shm (PyTorch data loaders need more than a container's 64Mi).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

# Quantities and env values are kept as Kubernetes and Katib keep them: strings ("2", "0.5", "8Gi").
from ..spec.model import katib_string as quantity

GPU_TOLERATION = {
    "key": "feature.node.kubernetes.io/type",
    "operator": "Equal",
    "value": "gpu",
    "effect": "NoSchedule",
}
BUILTIN_NAMES = ("cpu", "gpu")
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"

Pairs = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Profile:
    name: str
    base: str = "cpu"  # the built-in whose defaults it starts from
    gpus: int = 0
    gpu_resource: str = DEFAULT_GPU_RESOURCE
    limits: Pairs = ()
    requests: Pairs = ()
    # False while limits/requests are the built-in defaults: those only fill a container that has no
    # resources of its own. Values a repository or spec writes must agree with the trial's.
    resources_set: bool = False
    tolerations: tuple[Mapping[str, Any], ...] = ()
    env: Pairs = ()
    shm: bool = False
    shm_size: str | None = None
    node_selector: Pairs = ()
    affinity: Mapping[str, Any] | None = None
    runtime_class: str | None = None
    priority_class: str | None = None
    pod_labels: Pairs = ()
    pod_annotations: Pairs = ()
    # True: this experiment takes nothing from the profile (a spec's `NAME: null`).
    disabled: bool = False
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)  # key -> where it was set (for messages)


def builtin(name: str, base: str | None = None) -> Profile:
    base = base or ("gpu" if name.startswith("gpu") else "cpu")
    common: dict[str, Any] = dict(limits=(("cpu", "2"), ("memory", "8Gi")), requests=(("cpu", "2"), ("memory", "4Gi")))
    if base == "gpu":
        return Profile(name=name, base="gpu", gpus=1, tolerations=(GPU_TOLERATION,), shm=True, **common)
    return Profile(name=name, base="cpu", **common)


def _pairs(mapping: Mapping[str, Any] | None, convert: Any = lambda v: v) -> Pairs:
    return tuple((str(k), convert(v)) for k, v in (mapping or {}).items())


def _env_value(v: Any) -> Any:
    return v if isinstance(v, dict) else quantity(v)


def _merge_pairs(have: Pairs, new: Pairs) -> Pairs:
    out = dict(have)
    out.update(new)
    return tuple(out.items())


def apply(profile: Profile, raw: Mapping[str, Any] | None, source: str) -> Profile:
    """profile with the settings in raw (a profile mapping from katib-gitops.yaml or a spec) applied.

    Maps (limits, requests, env, nodeSelector, podLabels, podAnnotations) are merged key by key, so a
    spec's `gpu: {env: {X: "1"}}` keeps the repository's other env; lists (tolerations) and affinity
    replace. ``source`` names where the values came from, for conflict messages.
    """
    if raw is None:
        return replace(profile, disabled=True)
    kw: dict[str, Any] = {}
    sources = dict(profile.sources)
    if "gpus" in raw:
        kw["gpus"] = raw["gpus"]
    if "gpuResource" in raw:
        kw["gpu_resource"] = raw["gpuResource"]
    for key, attr in (("limits", "limits"), ("requests", "requests")):
        if key in raw:
            kw[attr] = _merge_pairs(getattr(profile, attr) if profile.resources_set else (), _pairs(raw[key], quantity))
            kw["resources_set"] = True
    if "tolerations" in raw:
        kw["tolerations"] = tuple(dict(t) for t in raw["tolerations"])
    if "env" in raw:
        kw["env"] = _merge_pairs(profile.env, _pairs(raw["env"], _env_value))
    if "shm" in raw:
        shm = raw["shm"]
        kw["shm"] = bool(shm)
        if isinstance(shm, dict) and "sizeLimit" in shm:
            kw["shm_size"] = quantity(shm["sizeLimit"])
    if "nodeSelector" in raw:
        kw["node_selector"] = _merge_pairs(profile.node_selector, _pairs(raw["nodeSelector"]))
    if "affinity" in raw:
        kw["affinity"] = dict(raw["affinity"]) if raw["affinity"] is not None else None
    if "runtimeClassName" in raw:
        kw["runtime_class"] = raw["runtimeClassName"]
    if "priorityClassName" in raw:
        kw["priority_class"] = raw["priorityClassName"]
    if "podLabels" in raw:
        kw["pod_labels"] = _merge_pairs(profile.pod_labels, _pairs(raw["podLabels"]))
    if "podAnnotations" in raw:
        kw["pod_annotations"] = _merge_pairs(profile.pod_annotations, _pairs(raw["podAnnotations"]))
    for key in raw:
        sources[key] = source
    return replace(profile, **kw, sources=sources, disabled=False)


class ProfileError(Exception):
    """A profile that cannot be built: path inside ``profiles:`` (starting with the profile's name), message."""

    def __init__(self, path: tuple[str, ...], message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def base_name(name: str, raw: Mapping[str, Any] | None) -> str:
    """The profile NAME starts from: its ``from:``, else gpu for a name starting with gpu, else cpu."""
    return str((raw or {}).get("from") or ("gpu" if name.startswith("gpu") else "cpu"))


def _start(name: str, start: str, parents: Mapping[str, Profile], what: str) -> Profile:
    """What a profile called name starting from start begins as: the repository's profile of that name when
    there is one (then it inherits everything the repository set there), else the built-in."""
    if start != name and start in parents:
        return replace(parents[start], name=name, disabled=False)
    if start not in BUILTIN_NAMES:
        known = ", ".join(sorted({*parents, *BUILTIN_NAMES}))
        raise ProfileError((name, "from"), f"from: {start!r} names no profile of {what} (have: {known})")
    return builtin(name, start)


def repo_profiles(raw: Mapping[str, Any] | None) -> dict[str, Profile]:
    """Every profile of a repository: cpu and gpu always, then katib-gitops.yaml's (which may change them).

    A profile starts from the one its ``from:`` names (default: gpu for a name starting with gpu, else
    cpu) as the repository defines it, so ``gpu-a100`` gets the repository's gpu tolerations, shm and env
    and adds its own; cpu and gpu themselves (and a profile whose ``from:`` the repository does not
    define) start from the built-in. A ``from:`` chain that comes back to itself is an error.
    """
    settings = {str(k): (v or {}) for k, v in (raw or {}).items()}
    out: dict[str, Profile] = {n: builtin(n) for n in BUILTIN_NAMES if n not in settings}

    def resolve(name: str, chain: tuple[str, ...]) -> Profile:
        if name in out:
            return out[name]
        start = base_name(name, settings[name])
        if start != name and start in settings:
            if start in chain:
                raise ProfileError((name, "from"), "from: makes a cycle (" + " -> ".join((*chain, name, start))
                                   + "): a profile cannot start from itself")
            resolve(start, (*chain, name))
        out[name] = apply(_start(name, start, out, "katib-gitops.yaml"), settings[name], "katib-gitops.yaml")
        return out[name]

    for name in settings:
        resolve(name, ())
    return {n: out[n] for n in (*BUILTIN_NAMES, *[n for n in settings if n not in BUILTIN_NAMES])}


def conflicts(profile: Profile) -> list[tuple[tuple[str, ...], str]]:
    """Settings of one profile that contradict each other: (path inside the profile, message)."""
    out = []
    if profile.disabled:
        return out
    for section in ("limits", "requests"):
        have = dict(getattr(profile, section))
        if profile.gpus and profile.gpu_resource in have and have[profile.gpu_resource] != str(profile.gpus):
            out.append(((section, profile.gpu_resource),
                        f"{section}.{profile.gpu_resource} is {have[profile.gpu_resource]} but gpus is {profile.gpus}; "
                        f"set only gpus (the profile writes it as both limit and request)"))
    return out


def for_experiment(profiles: Mapping[str, Profile], name: str,
                   overrides: Mapping[str, Mapping[str, Any] | None]) -> Profile | None:
    """The profile NAME as one experiment gets it: the repository's, adjusted by the spec's overrides.

    A name the repository lacks may be defined by the spec alone, starting as a repository profile would
    (from the repository's profile its ``from:`` names, else the built-in; ProfileError when ``from:`` names
    neither); None when neither has it.
    """
    if name in profiles:
        base = profiles[name]
    elif name in overrides:
        base = _start(name, base_name(name, overrides[name]), profiles, "this repository")
    else:
        return None
    if name not in overrides:
        return base
    return apply(base, overrides[name], "this spec")
