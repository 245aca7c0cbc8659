"""Limits the API server enforces on every object, whatever its kind, that no schema expresses.

- Labels (k8s.io/apimachinery/pkg/api/validation ValidateObjectMeta -> ValidateLabels): keys are qualified
  names, values empty or at most 63 characters of ``[A-Za-z0-9._-]`` starting and ending alphanumeric (a
  zero-width joiner, or any other non-ASCII character, is refused).
- Annotations (ValidateAnnotations): keys are qualified names, and keys and values together at most
  256 KiB (TotalAnnotationSizeLimitB).
- The whole object: the API server refuses a request body over etcd's limit (1.5 MiB,
  ``--max-request-bytes`` 1572864), so an Experiment over it can never be created.

Kubernetes only reports the first; katib-gitops reports each, at the object's (or the spec's) line.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..io.findings import ERROR, Finding, PathPart
from ..spec.limits import OBJECT_LIMIT, object_size, size_message
from ..io.yamlio import Document
from .names import ANNOTATIONS_LIMIT, annotations_size, label_value_problem, qualified_name_problem

RULE = "k8s-limits"


def check_metadata(doc: Document, prefix: Sequence[PathPart], meta: Any) -> list[Finding]:
    """Labels and annotations of one object's (or pod template's) metadata."""
    out: list[Finding] = []
    if not isinstance(meta, dict):
        return out

    def bad(path: tuple[PathPart, ...], message: str) -> None:
        out.append(doc.finding(message, (*prefix, *path), severity=ERROR, rule=RULE))

    labels = meta.get("labels")
    for key, value in labels.items() if isinstance(labels, dict) else ():
        problem = qualified_name_problem(str(key))
        if problem:
            bad(("labels", key), f"`{key}` is not a valid label key: {problem}")
        elif isinstance(value, str) and label_value_problem(value):
            bad(("labels", key), f"`{value}` is not a valid label value: {label_value_problem(value)}")
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in annotations:
            problem = qualified_name_problem(str(key))
            if problem:
                bad(("annotations", key), f"`{key}` is not a valid annotation key: {problem}")
        total = annotations_size(annotations)
        if total > ANNOTATIONS_LIMIT:
            bad(("annotations",), f"annotations total {total:,} bytes, over the {ANNOTATIONS_LIMIT:,} bytes (256 KiB) "
                                  "the API server accepts")
    return out


def check_object(doc: Document) -> list[Finding]:
    """The object's own metadata and its size."""
    data = doc.data
    if not isinstance(data, dict):
        return []
    out = check_metadata(doc, ("metadata",), data.get("metadata"))
    size = object_size(data)
    if size > OBJECT_LIMIT:
        kind = data.get("kind") if isinstance(data.get("kind"), str) else "object"
        out.append(doc.finding(size_message(size, f"this {kind}"), (), severity=ERROR, rule=RULE))
    return out
