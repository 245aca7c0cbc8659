"""Flux manifests: one GitRepository, a Kustomization per profile, Experiment health.

Health semantics differ from the Argo CD check on purpose. Argo CD shows a
running Experiment as Progressing and carries on syncing; a Flux Kustomization
with ``wait: true`` stays not-Ready until every object is Current, so treating
a Running Experiment as in progress would hold it (and anything that dependsOn
it) failing for the hours a search takes. Here an Experiment is Current once
Katib runs it (Running) or it Succeeded, Failed when its Failed condition is
True, and in progress otherwise (no conditions yet, Created, Restarting).

Every expression guards ``status.conditions`` with ``has()`` and uses
``exists`` rather than ``all`` (which is true of an empty list), so a missing
or False condition is never read as Current or Failed. An object with no
``status`` at all (the moment after creation) makes Flux's evaluator report an
error, which it treats as Unknown and keeps polling: also not Current.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from ..repo.repository import RepoConfig
from .common import (
    EXPERIMENT_API_VERSION,
    EXPERIMENT_KIND,
    NAME_PREFIX,
    labels,
    object_name,
    overlay_path,
    per_sync_target,
)

SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API_VERSION = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_NAME = NAME_PREFIX

_TRUE = 'c.status == "True"'
EXPERIMENT_HEALTH: dict[str, str] = {
    "apiVersion": EXPERIMENT_API_VERSION,
    "kind": EXPERIMENT_KIND,
    "inProgress": ('!has(status.conditions) || !status.conditions.exists(c, '
                   f'{_TRUE} && c.type in ["Running", "Succeeded", "Failed"])'),
    "failed": f'has(status.conditions) && status.conditions.exists(c, {_TRUE} && c.type == "Failed")',
    "current": ('has(status.conditions) && status.conditions.exists(c, '
                f'{_TRUE} && c.type in ["Running", "Succeeded"])'),
}

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# scp-like git address (git@host:org/repo.git), which Flux does not accept.
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?!//)(?P<path>.+)$")


def git_ref(revision: str) -> dict[str, str]:
    """Flux's ref for an Argo-style targetRevision.

    HEAD becomes ``name: HEAD`` (Flux resolves it among the remote's refs):
    leaving ref out would mean the 'master' branch, not the default branch.
    """
    rev = revision.strip()
    if rev in ("", "HEAD"):
        return {"name": "HEAD"}
    if _COMMIT.match(rev):
        return {"commit": rev}
    if rev.startswith("refs/"):
        return {"name": rev}
    return {"branch": rev}


def git_url(url: str) -> str:
    """The repository URL in a form Flux accepts (http, https or ssh scheme)."""
    if "://" in url:
        return url
    m = _SCP_LIKE.match(url)
    if not m:
        return url
    user = f"{m['user']}@" if m["user"] else ""
    return f"ssh://{user}{m['host']}/{m['path'].lstrip('/')}"


def git_repository(config: RepoConfig) -> dict[str, Any]:
    spec = {
        "interval": config.flux.interval,
        "url": git_url(config.git.repo_url),
        "ref": git_ref(config.git.revision),
    }
    return {
        "apiVersion": SOURCE_API_VERSION,
        "kind": "GitRepository",
        "metadata": {"name": SOURCE_NAME, "namespace": config.flux.namespace, "labels": labels()},
        "spec": spec,
    }


def flux_kustomization(config: RepoConfig, profile: str | None, path: str | None = None) -> dict[str, Any]:
    """The Flux Kustomization that applies overlays/<profile> (profile None: the root kustomization)."""
    path = path or (overlay_path(config, profile) if profile else ".")
    return {
        "apiVersion": KUSTOMIZE_API_VERSION,
        "kind": "Kustomization",
        "metadata": {
            "name": object_name(profile),
            "namespace": config.flux.namespace,
            "labels": labels(profile),
        },
        "spec": {
            "interval": config.flux.interval,
            "sourceRef": {"kind": "GitRepository", "name": SOURCE_NAME},
            "path": "./" if path == "." else f"./{path}",
            "prune": config.prune,
            "targetNamespace": config.namespace,
            "wait": True,
            "healthCheckExprs": [dict(EXPERIMENT_HEALTH)],
        },
    }


def flux_files(config: RepoConfig, profiles: Sequence[str]) -> dict[str, Any]:
    """Relative path -> document for deploy/flux/."""
    files: dict[str, Any] = {"deploy/flux/gitrepository.yaml": git_repository(config)}
    resources = ["gitrepository.yaml"]
    return per_sync_target("deploy/flux", config, profiles, flux_kustomization, files, resources)
