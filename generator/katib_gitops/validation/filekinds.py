"""YAML files that are not Kubernetes manifests, and what `validate` makes of each.

A repository holds more YAML than manifests, and the pre-commit hook hands `validate` every YAML file:

- kustomize's JSON 6902 patch files (a list of operations, what render writes under overlays/*/patches/):
  checked against RFC 6902 (schemas/json6902-patch.schema.json, rule ``json6902``; our lint: kustomize's
  json-patch library reads a missing value as null, the RFC requires one);
- the tool's own files: katib-gitops.yaml (the settings schema, as every command reads it), the render
  record katib-gitops.generated.yaml, and results/<spec>.yaml (the results schema), each as `check` reads it;
- other tools' files, left alone: a GitHub Actions workflow (its `on:` key is YAML 1.1's boolean true, which
  the rules for manifests refuse), an action's action.yml, pre-commit's two files, Dependabot's config.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..io.findings import Finding, UserError
from ..io.yamlio import Document
from .results_files import RESULTS_DIR
from .schema import packaged_validator, schema_findings

JSON6902_SCHEMA = "json6902-patch.schema.json"
SETTINGS_FILE = "katib-gitops.yaml"
RECORD_FILE = "katib-gitops.generated.yaml"


def is_json6902(data: Any) -> bool:
    """A list of mappings that reads as JSON patch operations (one of them has an op or a path)."""
    return (isinstance(data, list) and bool(data) and all(isinstance(item, dict) for item in data)
            and any("op" in item or "path" in item for item in data))


def json6902_findings(doc: Document) -> list[Finding]:
    validator = packaged_validator(JSON6902_SCHEMA)
    found = [] if validator is None else schema_findings(validator, doc.data, doc, (), "json6902")
    return [replace(f, message=_pointer_message(f)) if _bad_pointer(f) else f for f in found]


def _bad_pointer(f: Finding) -> bool:
    return bool(f.path) and f.path[-1] in ("path", "from") and "does not match" in f.message


def _pointer_message(f: Finding) -> str:
    value = f.message.split(" does not match", 1)[0]
    return (f"{value} is not a JSON Pointer (RFC 6901): empty for the whole object, else /-separated tokens, "
            "~ written ~0 and / written ~1")


def _mapping_without_kind(data: Any) -> bool:
    return isinstance(data, dict) and "apiVersion" not in data and "kind" not in data


def other_tool(data: Any, path: Path | None = None) -> str | None:
    """The tool whose file this is ("a GitHub Actions workflow", ...); None for a manifest or anything else."""
    name = path.name if path is not None else ""
    if _mapping_without_kind(data) and "jobs" in data and ("on" in data or True in data):
        return "a GitHub Actions workflow"
    if name in ("action.yml", "action.yaml") and _mapping_without_kind(data) and "runs" in data:
        return "a GitHub Action"
    if name == ".pre-commit-config.yaml" and _mapping_without_kind(data) and "repos" in data:
        return "a pre-commit configuration"
    if name == ".pre-commit-hooks.yaml" and isinstance(data, list) and all(isinstance(h, dict) and "id" in h
                                                                           for h in data):
        return "pre-commit hooks"
    if name in ("dependabot.yml", "dependabot.yaml") and _mapping_without_kind(data) and "updates" in data:
        return "a Dependabot configuration"
    return None


def own_file_findings(path: Path, display: str) -> list[Finding] | None:
    """Findings for one of the tool's own files (by its name and place); None for any other file."""
    if path.name == SETTINGS_FILE:
        from ..repo.repository import load_config

        try:
            load_config(path)
            return []
        except UserError as exc:
            return [replace(f, file=display) for f in getattr(exc, "findings", (exc.finding,))]
    if path.name == RECORD_FILE:
        from ..repo.record import read_record

        return [replace(f, file=display) for f in read_record(path.parent)[1]]
    if path.parent.name == RESULTS_DIR and path.suffix in (".yaml", ".yml") and _in_repository(path.parent.parent):
        from ..repo.repository import load_repo
        from .results_files import file_findings

        repo = load_repo(path.parent.parent)
        shown = repo.rel(path)
        return [replace(f, file=display) if f.file == shown else f for f in file_findings(repo, path)]
    return None


def _in_repository(directory: Path) -> bool:
    from ..repo.paths import CONFIG_FILE, EXPERIMENTS_DIR

    return (directory / CONFIG_FILE).is_file() or (directory / EXPERIMENTS_DIR).is_dir()
