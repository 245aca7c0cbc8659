"""What a merge changes in deploy/: the Argo CD and Flux objects added, removed or changed.

deploy/ is not synced by Argo CD or Flux: a person applies it (``kubectl apply --server-side -k
deploy/argocd``, ``kubectl apply -k deploy/flux``). So an object that leaves deploy/ stays on the cluster
and keeps doing what it did (an Application keeps syncing its path, a Flux Kustomization keeps applying
it) until someone deletes it; the plan says so and gives the command that removes it without taking its
Experiments along:

- Application: the generated ones carry no resources finalizer, so deleting one leaves what it synced;
- ApplicationSet: deleting it deletes its Applications; with pruning on it does not preserve their
  resources, so the command switches ``preserveResourcesOnDeletion`` on first;
- Flux Kustomization: deleting one whose ``spec.prune`` is true garbage-collects everything it applied
  (Experiments included, unless they carry ``kustomize.toolkit.fluxcd.io/prune: disabled``), so the
  command sets ``prune: false`` first;
- GitRepository, the argocd-cm health check: plain deletes (of the object, or of the one data key).

Each side's deploy/ is the one ``render`` writes for that side's settings (as the rest of the plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from ..repo.repository import DEPLOY_DIR
from .model import ADDED, REMOVED, FieldChange, leaf_changes

CHANGED = "changed"
KUSTOMIZE_CONFIG = "kustomize.config.k8s.io/"  # deploy/'s own kustomization.yaml files, not cluster objects
APPLY = {"argocd": "kubectl apply --server-side -k deploy/argocd", "flux": "kubectl apply -k deploy/flux"}

Key = tuple[str, str, str, str]  # (apiVersion group, kind, namespace, name)


@dataclass
class DeployChange:
    file: str
    kind: str
    namespace: str
    name: str
    action: str  # added, removed, changed
    changes: list[FieldChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


def deploy_objects(files: Mapping[str, str]) -> dict[Key, tuple[str, dict[str, Any]]]:
    """(group, kind, namespace, name) -> (file, object) for every cluster object rendered under deploy/."""
    out: dict[Key, tuple[str, dict[str, Any]]] = {}
    for rel, text in sorted(files.items()):
        if not rel.startswith(f"{DEPLOY_DIR}/"):
            continue
        for doc in yaml.safe_load_all(text):
            if not isinstance(doc, dict) or str(doc.get("apiVersion", "")).startswith(KUSTOMIZE_CONFIG):
                continue
            meta = doc.get("metadata") or {}
            key = (str(doc.get("apiVersion", "")).split("/")[0], str(doc.get("kind")),
                   str(meta.get("namespace") or ""), str(meta.get("name")))
            out[key] = (rel, doc)
    return out


def compare_deploy(old: Mapping[Key, tuple[str, dict]], new: Mapping[Key, tuple[str, dict]]) -> list[DeployChange]:
    out = []
    for key in sorted(set(old) | set(new)):
        _, kind, namespace, name = key
        if key not in old:
            file, _ = new[key]
            out.append(DeployChange(file, kind, namespace, name, ADDED,
                                    notes=[f"created when deploy/ is applied: {APPLY.get(_tool(file), '')}".rstrip()]))
        elif key not in new:
            file, obj = old[key]
            out.append(DeployChange(file, kind, namespace, name, REMOVED, notes=[_removed_note(kind, obj)]))
        else:
            (file, a), (_, b) = old[key], new[key]
            changes = leaf_changes(a, b, ())
            if changes:
                out.append(DeployChange(file, kind, namespace, name, CHANGED, changes,
                                        [f"changed on the cluster only when deploy/ is applied: "
                                         f"{APPLY.get(_tool(file), '')}".rstrip()]))
    return out


def _tool(file: str) -> str:
    return file.split("/")[1] if file.count("/") >= 2 else ""


def _removed_note(kind: str, obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    name, ns = meta.get("name"), meta.get("namespace") or "default"
    spec = obj.get("spec") or {}
    stays = "deploy/ is applied by hand, so it stays on the cluster"
    if kind == "Application":
        path = (spec.get("source") or {}).get("path", "?")
        return (f"{stays} and keeps syncing {path!r} (the same Experiments as its replacement, which then fight "
                f"over them) until deleted; it has no resources finalizer, so deleting it leaves what it synced: "
                f"kubectl delete application {name} -n {ns}")
    if kind == "ApplicationSet":
        keep = "" if (spec.get("syncPolicy") or {}).get("preserveResourcesOnDeletion") else (
            f"kubectl patch applicationset {name} -n {ns} --type merge "
            "-p '{\"spec\":{\"syncPolicy\":{\"preserveResourcesOnDeletion\":true}}}' && ")
        return (f"{stays} and keeps generating its Applications (which keep syncing) until deleted; "
                f"to delete it and keep what they synced: {keep}kubectl delete applicationset {name} -n {ns}")
    if kind == "Kustomization":
        applying = f"{stays} and keeps applying {spec.get('path', '?')!r} until deleted"
        if spec.get("prune"):
            return (f"{applying}; its prune is on, so deleting it deletes what it applied (every Experiment without "
                    f"kustomize.toolkit.fluxcd.io/prune: disabled): turn prune off first: kubectl patch kustomization "
                    f"{name} -n {ns} --type merge -p '{{\"spec\":{{\"prune\":false}}}}' && kubectl delete "
                    f"kustomization {name} -n {ns}")
        return f"{applying}; its prune is off, so deleting it leaves what it applied: kubectl delete kustomization " \
               f"{name} -n {ns}"
    if kind == "GitRepository":
        return f"{stays} (Flux keeps fetching it) until deleted: kubectl delete gitrepository {name} -n {ns}"
    if kind == "ConfigMap":
        keys = sorted((obj.get("data") or {}))
        ops = ",".join(f'{{"op":"remove","path":"/data/{k.replace("~", "~0").replace("/", "~1")}"}}' for k in keys)
        return (f"{stays}: its keys stay in the live {name} (an Argo CD setting there is still used) until "
                f"removed: kubectl patch configmap {name} -n {ns} --type json -p '[{ops}]'")
    return f"{stays} until deleted: kubectl delete {kind.lower()} {name} -n {ns}"
