"""katib-gitops.yaml: checked against schemas/config.schema.json (``repo`` turns it into RepoConfig).

Reads only; knows nothing of the repository model, so imports flow one way (config_schema -> repo).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from . import jsondata
from .findings import UserError
from .yamlio import load_one


@lru_cache(maxsize=None)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(resources.files("katib_gitops.schemas").joinpath("config.schema.json").read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def load_settings(path: Path, display: str = "katib-gitops.yaml") -> dict[str, Any]:
    """The settings file's mapping, checked against the schema (``repo.load_config`` types it)."""
    from .spec import _schema_finding  # one wording for schema errors in every human-owned file

    doc = load_one(str(path), display)
    if not isinstance(doc.data, dict):
        raise UserError(doc.finding("expected a mapping of settings", rule="config"))
    not_json = jsondata.problems(doc, rule="config", one_line=True)
    if not_json:
        raise UserError(not_json[0])
    errors = sorted(_validator().iter_errors(doc.data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise UserError(_schema_finding(doc, errors[0]))
    return doc.data
