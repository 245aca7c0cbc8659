"""Built-in profiles: what the cpu and gpu overlays add when a spec says nothing.

Defaults follow the original tutorial: 2 CPUs, 4Gi requested and 8Gi limit;
the gpu profile adds one nvidia.com/gpu, the tutorial's node-feature
toleration, and a Memory-backed /dev/shm (PyTorch data loaders need more shared
memory than a container's default 64Mi).
"""

from __future__ import annotations

from .spec import Profile, Spec

GPU_TOLERATION = {
    "key": "feature.node.kubernetes.io/type",
    "operator": "Equal",
    "value": "gpu",
    "effect": "NoSchedule",
}

BUILTIN_NAMES = ("cpu", "gpu")


def builtin_profile(name: str, base: str) -> Profile:
    common = dict(
        limits=(("cpu", "2"), ("memory", "8Gi")),
        requests=(("cpu", "2"), ("memory", "4Gi")),
    )
    if base == "gpu":
        return Profile(name=name, base="gpu", gpus=1, tolerations=(GPU_TOLERATION,), shm=True, **common)
    return Profile(name=name, base="cpu", **common)


def spec_profiles(spec: Spec) -> dict[str, Profile | None]:
    """Profile name -> settings for this spec (built-ins unless the spec names its own)."""
    out: dict[str, Profile | None] = {n: builtin_profile(n, n) for n in BUILTIN_NAMES}
    if spec.profiles is not None:
        named = dict(spec.profiles)
        for n in BUILTIN_NAMES:
            if n not in named:
                out[n] = builtin_profile(n, n)
        out.update(named)
    return out


def profile_for(spec: Spec, profile: str) -> Profile | None:
    """Settings a spec gets in an overlay it does not name: the built-in it resembles."""
    profiles = spec_profiles(spec)
    if profile in profiles:
        return profiles[profile]
    return builtin_profile(profile, "gpu" if profile.startswith("gpu") else "cpu")
