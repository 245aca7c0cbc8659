"""The project's own JSON Schemas for the Argo CD and Flux objects in deploy/.

Schemas live in ``schemas/`` (package ``katib_gitops.schemas``) and are
compiled once per process. Objects of other kinds (ConfigMap, kustomize's
kustomization.yaml) have no schema here and yield no errors.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..io.packaged import load_schema

SCHEMA_FILES: dict[tuple[str, str], str] = {
    ("argoproj.io/v1alpha1", "Application"): "argocd-application.schema.json",
    ("argoproj.io/v1alpha1", "ApplicationSet"): "argocd-applicationset.schema.json",
    ("source.toolkit.fluxcd.io/v1", "GitRepository"): "flux-gitrepository.schema.json",
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): "flux-kustomization.schema.json",
}


@lru_cache(maxsize=None)
def validator(filename: str) -> Any:
    import jsonschema

    schema = load_schema(filename)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_file_for(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return None
    return SCHEMA_FILES.get((obj.get("apiVersion"), obj.get("kind")))


def schema_errors(obj: Any) -> list[Any]:
    """jsonschema ValidationErrors of obj against its schema, in document order."""
    filename = schema_file_for(obj)
    if filename is None:
        return []
    return sorted(validator(filename).iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
