"""What the Argo CD and Flux manifests share: names, paths, annotations.

Each Experiment is in exactly one overlay, under a name of its own, so every
overlay can be synced at once: by default one Argo CD Application and one Flux
Kustomization sync the root kustomization.yaml (all overlays); with
``sync: profiles`` there is one of each per overlay instead.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Sequence

from ..repo.repository import OVERLAYS_DIR, RepoConfig

MANAGED_BY = {"app.kubernetes.io/managed-by": "katib-gitops"}
PROFILE_LABEL = "katib-gitops/profile"
NAME_PREFIX = "katib"

KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
EXPERIMENT_API_VERSION = "kubeflow.org/v1beta1"
EXPERIMENT_KIND = "Experiment"

# Flux postBuild substitution only knows ${[A-Za-z0-9_]+}: it would choke on
# ${trialParameters.lr}; this annotation makes Flux leave the object alone.
FLUX_SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"
FLUX_PRUNE = "kustomize.toolkit.fluxcd.io/prune"
ARGO_SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
# A kept Experiment that left git is "extraneous" to Argo CD; without this it
# would hold the Application OutOfSync for ever.
ARGO_COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"

HEALTH_SCRIPT = "experiment_health.lua"


def experiment_annotations(config: RepoConfig, prune: bool) -> dict[str, str]:
    """Annotations every rendered Experiment carries.

    ``prune`` is the effective setting for that Experiment (spec overrides
    repo). When superseded Experiments are kept, both tools are told never to
    delete them, so their trials and results outlive the spec change. The
    annotations are the same for every repository today; ``config`` is taken so
    callers need not change when a setting starts to matter.
    """
    out = {FLUX_SUBSTITUTE: "disabled"}
    if not prune:
        out[ARGO_SYNC_OPTIONS] = "Prune=false"
        out[ARGO_COMPARE_OPTIONS] = "IgnoreExtraneous"
        out[FLUX_PRUNE] = "disabled"
    return dict(sorted(out.items()))


def namespace_annotations() -> dict[str, str]:
    """Annotations of the Namespace render emits with ``createNamespace: true``.

    That namespace usually holds Katib itself (kubeflow) and every Experiment, whatever the prune setting:
    neither tool may ever delete it, not when pruning is on and it leaves git (Argo CD ``Prune=false``,
    Flux ``prune: disabled``), nor when the Application or Kustomization is deleted (Argo CD
    ``Delete=false``; Flux garbage-collects a deleted Kustomization's objects unless ``prune: disabled``).
    """
    return {ARGO_SYNC_OPTIONS: "Prune=false,Delete=false", FLUX_PRUNE: "disabled"}


def object_name(profile: str | None) -> str:
    """katib for the object syncing the whole repository, katib-<profile> for one overlay's."""
    return f"{NAME_PREFIX}-{profile}" if profile else NAME_PREFIX


def repo_subpath(config: RepoConfig) -> str:
    """git.path without "./" or slashes at either end; "" for the repository root."""
    path = config.git.path.strip().strip("/")
    while path.startswith("./"):
        path = path[2:].lstrip("/")
    return "" if path in ("", ".") else path


def overlay_path(config: RepoConfig, profile: str) -> str:
    """Path of a profile's overlay from the git repository root, no leading "./"."""
    sub = repo_subpath(config)
    rel = f"{OVERLAYS_DIR}/{profile}"
    return f"{sub}/{rel}" if sub else rel


def sync_targets(config: RepoConfig, profiles: Sequence[str]) -> list[tuple[str | None, str]]:
    """(profile or None for the whole repository, path from the git root) for each object that syncs."""
    if config.sync == "profiles":
        return [(p, overlay_path(config, p)) for p in sorted(profiles)]
    return [(None, repo_subpath(config) or ".")]


def kustomization(resources: Sequence[str]) -> dict[str, object]:
    """The kustomization.yaml that lets a user apply a deploy/ directory in one go."""
    return {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": list(resources)}


def per_sync_target(folder: str, config: RepoConfig, profiles: Sequence[str],
                    make: Callable[[RepoConfig, str | None, str], Any], files: dict[str, Any],
                    resources: list[str]) -> dict[str, Any]:
    """One object per sync target (the root, or each profile's overlay) in folder, then the folder's
    kustomization listing resources and them: how Argo CD Applications and Flux Kustomizations are laid out."""
    for profile, path in sync_targets(config, profiles):
        name = f"{object_name(profile)}.yaml"
        files[f"{folder}/{name}"] = make(config, profile, path)
        resources.append(name)
    return finish_folder(folder, files, resources)


def finish_folder(folder: str, files: dict[str, Any], resources: list[str]) -> dict[str, Any]:
    files[f"{folder}/kustomization.yaml"] = kustomization(resources)
    return files


def labels(profile: str | None = None) -> dict[str, str]:
    out = dict(MANAGED_BY)
    if profile is not None:
        out[PROFILE_LABEL] = profile
    return out


@lru_cache(maxsize=None)
def health_script() -> str:
    """The Lua health check for Experiment, as shipped in argocd-cm."""
    return resources.files(__package__).joinpath(HEALTH_SCRIPT).read_text(encoding="utf-8")
