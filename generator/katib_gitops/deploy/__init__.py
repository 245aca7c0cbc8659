"""GitOps delivery manifests for deploy/: Argo CD and Flux.

``deploy_files`` is what render calls; ``experiment_annotations`` is what every
rendered Experiment carries so both tools handle it safely.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..repo.repository import RepoConfig
from .argocd import application, application_set, argocd_files, health_config_map
from .common import experiment_annotations, health_script, namespace_annotations, sync_targets
from .flux import EXPERIMENT_HEALTH, flux_files, flux_kustomization, git_repository

__all__ = [
    "EXPERIMENT_HEALTH",
    "application",
    "application_set",
    "argocd_files",
    "deploy_files",
    "experiment_annotations",
    "flux_files",
    "flux_kustomization",
    "git_repository",
    "health_config_map",
    "health_script",
    "namespace_annotations",
    "sync_targets",
]


# The oldest versions the generated manifests work with, said in a comment at the top of each file.
REQUIREMENTS = {
    "deploy/argocd/": "# Needs Argo CD >= 2.5 (ServerSideApply sync option for argocd-cm); the ApplicationSet mode\n"
                      "# needs Argo CD >= 2.8 (goTemplateOptions).\n",
    "deploy/flux/": "# Needs Flux >= 2.5: Kustomization healthCheckExprs (CEL health checks for Experiments).\n",
}


def requirement_note(rel: str) -> str:
    return next((note for prefix, note in REQUIREMENTS.items() if rel.startswith(prefix)), "")


def deploy_files(config: RepoConfig, profiles: Sequence[str]) -> dict[str, Any]:
    """Relative posix path -> the document to write there, in sorted path order.

    ``profiles`` are the overlay directory names; every one is synced (see ``common.sync_targets``).
    """
    names = sorted(set(profiles))
    files: dict[str, Any] = {}
    if config.argocd.enabled:
        files.update(argocd_files(config, names))
    if config.flux.enabled:
        files.update(flux_files(config, names))
    return dict(sorted(files.items()))
