"""Layer 5: the other kinds found beside the Experiments.

- Built-in Kubernetes kinds: the official strict schema of the chosen version.
- Argo CD and Flux kinds: the project's schemas in ``schemas/``.
- Kustomize's own config files (kustomize.config.k8s.io): not deployed, skipped.
- Anything else: "no schema for KIND" (a warning; an error under --strict),
  so nothing passes silently.

Pod templates inside these kinds get the same API-server, pod-security and
hygiene checks as trial templates (the engine runs those).
"""

from __future__ import annotations

import re
from typing import Any

from ..io.findings import ERROR, WARNING, Finding
from ..io.yamlio import Document
from . import kubernetes
from .schema import packaged_validator, schema_findings

SKIPPED_GROUPS = frozenset({"kustomize.config.k8s.io"})

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# Kinds whose names the API server holds to a label rather than a subdomain.
LABEL_NAMED = {"Namespace": DNS1123_LABEL, "Service": DNS1035_LABEL}

# (API group, kind) -> schema file in katib_gitops.schemas.
GITOPS_SCHEMAS = {
    ("argoproj.io", "Application"): "argocd-application.schema.json",
    ("argoproj.io", "ApplicationSet"): "argocd-applicationset.schema.json",
    ("argoproj.io", "AppProject"): "argocd-appproject.schema.json",
    ("source.toolkit.fluxcd.io", "GitRepository"): "flux-gitrepository.schema.json",
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): "flux-kustomization.schema.json",
}


def group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def check_resource(doc: Document, version: str, strict: bool) -> list[Finding]:
    """Schema findings for one non-Experiment document."""
    data: dict[str, Any] = doc.data
    api, kind = data.get("apiVersion"), data.get("kind")
    severity = ERROR if strict else WARNING
    if not isinstance(api, str) or not api or not isinstance(kind, str) or not kind:
        missing = " and ".join(k for k, v in (("apiVersion", api), ("kind", kind)) if not isinstance(v, str) or not v)
        return [doc.finding(f"not a Kubernetes object: {missing} missing; not checked", (), severity=severity,
                            rule="no-schema")]
    group = group_of(api)
    if group in SKIPPED_GROUPS:
        return []
    schema_file = GITOPS_SCHEMAS.get((group, kind))
    if schema_file:
        validator = packaged_validator(schema_file)
        if validator is not None:
            return schema_findings(validator, data, doc, (), "gitops-schema")
    elif kubernetes.is_kubeflow_job(api, kind):
        # No schema for the job itself; its pod templates are checked by the engine.
        validator = kubernetes.pod_template_validator(version)
        out: list[Finding] = []
        for path, template, _ in kubernetes.pod_templates(data):
            out += schema_findings(validator, template, doc, path, "k8s-schema")
        return out
    else:
        validator = kubernetes.kind_validator(version, api, kind)
        if validator is not None:
            return schema_findings(validator, data, doc, (), "k8s-schema") + _name(doc, kind)
    return [doc.finding(f"no schema for {kind} ({api}); not checked", ("kind",), severity=severity, rule="no-schema")]


def _name(doc: Document, kind: str) -> list[Finding]:
    """The API server's naming rule for built-in objects (a schema only says "string")."""
    meta = doc.data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        return []
    pattern = LABEL_NAMED.get(kind, DNS1123_SUBDOMAIN)
    limit = 63 if kind in LABEL_NAMED else 253
    if pattern.fullmatch(name) and len(name) <= limit:
        return []
    what = "a DNS-1123 subdomain" if pattern is DNS1123_SUBDOMAIN else "a DNS label"
    return [doc.finding(f"`{name}` is not a valid {kind} name: it must be {what} (lower-case letters, digits, '-'"
                        f"{', and .' if pattern is DNS1123_SUBDOMAIN else ''}; at most {limit} characters)",
                        ("metadata", "name"), rule="k8s-name")]
