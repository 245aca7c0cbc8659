"""Validation: everything a Katib cluster would reject, found before Argo CD or Flux syncs.

Layers (one module each), all reported together: YAML (``io.yamlio``), the Experiment schema
(``schema``), Katib's webhook rules (``katib_rules``) and what Katib refuses later (``roundtrip``,
``services``, ``never_starts``, ``podwebhook``, ``wrapper``, ``regex``), the trial template as Kubernetes
(``kubernetes``, ``names``, ``apilimits``), other kinds (``resources``), files that are not manifests
(``filekinds``, ``results_files``), plus pod security (``podsecurity``) and container hygiene
(``hygiene``, ``secrets``). ``engine`` wires them; ``provenance`` and ``spec_lines`` move findings from
generated files to the spec or settings line a person edits; ``reporters`` formats findings.
"""

from .engine import (
    ValidationOptions,
    ValidationReport,
    rendered_findings,
    validate_document,
    validate_paths,
    validate_repo,
)

__all__ = ["ValidationOptions", "ValidationReport", "rendered_findings", "validate_document", "validate_paths",
           "validate_repo"]
