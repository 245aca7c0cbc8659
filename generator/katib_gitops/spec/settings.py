"""katib-gitops.yaml: checked against schemas/config.schema.json (``repo.repository`` turns it into RepoConfig).

Reads only; knows nothing of the repository model, so imports flow one way (config_schema -> repo).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from ..io import jsondata
from ..io.findings import UserError
from ..io.packaged import load_schema
from ..io.yamlio import Document, load_one


@lru_cache(maxsize=None)
def _validator() -> Any:
    import jsonschema

    schema = load_schema("config.schema.json")
    # One definition of a profile, in spec.schema.json: the settings file and a spec's overrides take the same keys.
    spec_defs = load_schema("spec.schema.json")["$defs"]
    schema["$defs"] = {**spec_defs, **schema.get("$defs", {})}
    return jsonschema.validators.validator_for(schema)(schema)


def load_settings(path: Path, display: str = "katib-gitops.yaml") -> Document:
    """The settings file, checked against the schema (``repo.load_config`` types it, with positions)."""
    from .model import _schema_finding  # one wording for schema errors in every human-owned file

    doc = load_one(str(path), display)
    if not isinstance(doc.data, dict):
        raise UserError(doc.finding("expected a mapping of settings", rule="config"))
    # Settings are one line each; a profile's env values are the trial's own business.
    not_json = jsondata.problems(doc, rule="config", one_line=True, multi_line_ok=("profiles",))
    if not_json:
        raise UserError(not_json[0])
    errors = sorted(_validator().iter_errors(doc.data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise UserError(_schema_finding(doc, errors[0]))
    return doc
