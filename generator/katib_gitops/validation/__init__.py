"""Offline validation: everything a Katib cluster would reject, found before Argo CD or Flux syncs.

Layers (one module each), all reported together:
YAML (``yamlio``), the Experiment schema (``schema``), Katib's webhook rules
(``katib_rules``), the trial template as Kubernetes (``kubernetes``), other
kinds (``resources``), plus pod security (``podsecurity``) and container
hygiene (``hygiene``). ``engine`` wires them; ``reporters`` formats findings.
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
