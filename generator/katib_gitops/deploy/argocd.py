"""Argo CD manifests: Applications (or one ApplicationSet) and the Experiment health check."""

from __future__ import annotations

from typing import Any, Sequence

from ..repo.repository import OVERLAYS_DIR, RepoConfig
from .common import (
    EXPERIMENT_KIND,
    NAME_PREFIX,
    PROFILE_LABEL,
    finish_folder,
    health_script,
    labels,
    object_name,
    overlay_path,
    per_sync_target,
    repo_subpath,
)

API_VERSION = "argoproj.io/v1alpha1"
IN_CLUSTER = "https://kubernetes.default.svc"
HEALTH_KEY = f"resource.customizations.health.kubeflow.org_{EXPERIMENT_KIND}"
CONFIG_MAP = "argocd-cm"

# Katib's webhooks can be briefly unavailable (a restart, a rollout); retry a
# failed sync a few times before reporting it, rather than waiting for the
# next refresh.
RETRY = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}


def sync_policy(config: RepoConfig) -> dict[str, Any]:
    # SkipDryRunOnMissingResource: the first sync may run before Katib's CRD
    # is installed (or in the same wave); without it the dry run fails.
    options = ["SkipDryRunOnMissingResource=true"]
    if config.create_namespace:
        # The Namespace (with Katib's injection label) is part of the rendered
        # manifests; this only lets the first sync start before it exists.
        options.append("CreateNamespace=true")
    if config.prune:
        # Create the replacement Experiment before deleting the superseded one.
        options.append("PruneLast=true")
    return {
        "automated": {"prune": config.prune, "selfHeal": True},
        "syncOptions": options,
        "retry": RETRY,
    }


def application_spec(config: RepoConfig, path: str) -> dict[str, Any]:
    return {
        "project": config.argocd.project,
        "source": {
            "repoURL": config.git.repo_url,
            "targetRevision": config.git.revision,
            "path": path,
        },
        "destination": {"server": IN_CLUSTER, "namespace": config.namespace},
        "syncPolicy": sync_policy(config),
    }


def application(config: RepoConfig, profile: str | None, path: str | None = None) -> dict[str, Any]:
    """The Application that syncs overlays/<profile> (profile None: the root kustomization, every overlay)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {
            "name": object_name(profile),
            "namespace": config.argocd.namespace,
            "labels": labels(profile),
        },
        "spec": application_spec(config, path or (overlay_path(config, profile) if profile else ".")),
    }


def application_set(config: RepoConfig, profiles: Sequence[str]) -> dict[str, Any]:
    """One ApplicationSet whose git directory generator walks overlays/* (one Application per overlay).

    Every overlay holds its own Experiments under their own names, so all of them are synced.
    """
    sub = repo_subpath(config)
    glob = f"{sub}/{OVERLAYS_DIR}/*" if sub else f"{OVERLAYS_DIR}/*"
    directories: list[dict[str, Any]] = [{"path": glob}]
    # A team's own kustomize Component lives in overlays/<profile>/custom, not directly under overlays/.
    template_labels = {**labels(), PROFILE_LABEL: "{{.path.basename}}"}
    return {
        "apiVersion": API_VERSION,
        "kind": "ApplicationSet",
        "metadata": {
            "name": NAME_PREFIX,
            "namespace": config.argocd.namespace,
            "labels": labels(),
        },
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{
                "git": {
                    "repoURL": config.git.repo_url,
                    "revision": config.git.revision,
                    "directories": directories,
                },
            }],
            "template": {
                "metadata": {"name": f"{NAME_PREFIX}-{{{{.path.basename}}}}", "labels": template_labels},
                "spec": application_spec(config, "{{.path.path}}"),
            },
            # Deleting the ApplicationSet (or an overlay) must not take kept
            # Experiments and their results with it.
            "syncPolicy": {"preserveResourcesOnDeletion": not config.prune},
        },
    }


def health_config_map(config: RepoConfig) -> dict[str, Any]:
    """argocd-cm carrying only the Experiment health check.

    Meant to be merged into the live argocd-cm: as a kustomize patch of an
    Argo CD install, or applied server-side (the annotation makes Argo CD do
    that when it syncs this directory), so other settings keys survive.
    """
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIG_MAP,
            "namespace": config.argocd.namespace,
            # Argo CD only watches ConfigMaps labelled part-of: argocd.
            "labels": {"app.kubernetes.io/name": CONFIG_MAP, "app.kubernetes.io/part-of": "argocd"},
            "annotations": {"argocd.argoproj.io/sync-options": "ServerSideApply=true"},
        },
        "data": {HEALTH_KEY: health_script()},
    }


def argocd_files(config: RepoConfig, profiles: Sequence[str]) -> dict[str, Any]:
    """Relative path -> document for deploy/argocd/."""
    files: dict[str, Any] = {"deploy/argocd/argocd-cm.yaml": health_config_map(config)}
    resources = ["argocd-cm.yaml"]
    if config.argocd.mode == "applicationset":
        files["deploy/argocd/applicationset.yaml"] = application_set(config, profiles)
        resources.append("applicationset.yaml")
        return finish_folder("deploy/argocd", files, resources)
    return per_sync_target("deploy/argocd", config, profiles, application, files, resources)
