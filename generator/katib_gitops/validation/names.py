"""Kubernetes qualified names and label values in a pod template: what the API server refuses.

From k8s.io/apimachinery/pkg/util/validation (IsQualifiedName, IsValidLabelValue):
a key is ``[prefix/]name``, the prefix a DNS-1123 subdomain (at most 253
characters), the name at most 63 characters of ``[A-Za-z0-9._-]`` that starts
and ends alphanumeric. A label value is empty or such a name. Label, annotation
and nodeSelector keys and toleration keys are qualified names (pkg/apis/core/
validation: ValidateLabels, ValidateAnnotations, validateTolerations).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Sequence

from ..io.findings import ERROR, Finding, PathPart
from ..io.yamlio import Document

_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@lru_cache(maxsize=8192)  # the same keys and values recur in every Experiment of a repository
def qualified_name_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.fullmatch(prefix)):
        return "the prefix (before '/') must be a DNS subdomain: lower-case letters, digits, '-' and '.'"
    if not name or len(name) > 63 or not _NAME.fullmatch(name):
        return ("the name must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit "
                "(optionally after a DNS-subdomain prefix and '/')")
    return None


ANNOTATIONS_LIMIT = 256 * 1024  # TotalAnnotationSizeLimitB: keys and values together


def annotations_size(annotations: dict[Any, Any]) -> int:
    return sum(len(str(k).encode()) + len(str(v).encode() if v is not None else b"") for k, v in annotations.items())


@lru_cache(maxsize=8192)
def label_value_problem(value: str) -> str | None:
    if value == "" or (len(value) <= 63 and _NAME.fullmatch(value)):
        return None
    return "a label value must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"


def check_template(doc: Document, template_path: Sequence[PathPart], template: dict[str, Any]) -> list[Finding]:
    """Label and annotation keys, label values, nodeSelector and toleration keys of one pod template."""
    out: list[Finding] = []

    def bad(path: tuple[PathPart, ...], message: str) -> None:
        out.append(doc.finding(message, (*template_path, *path), severity=ERROR, rule="k8s-name"))

    meta, pod = template.get("metadata"), template.get("spec")
    for field, values_too in (("labels", True), ("annotations", False)):
        mapping = meta.get(field) if isinstance(meta, dict) else None
        for key, value in (mapping or {}).items() if isinstance(mapping, dict) else ():
            problem = qualified_name_problem(str(key))
            if problem:
                bad(("metadata", field, key), f"`{key}` is not a valid {field[:-1]} key: {problem}")
            elif values_too and isinstance(value, str) and label_value_problem(value):
                bad(("metadata", field, key), f"`{value}` is not a valid label value: {label_value_problem(value)}")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(annotations, dict) and annotations_size(annotations) > ANNOTATIONS_LIMIT:
        bad(("metadata", "annotations"), f"annotations total {annotations_size(annotations):,} bytes, over the "
                                         f"{ANNOTATIONS_LIMIT:,} bytes (256 KiB) the API server accepts")
    if not isinstance(pod, dict):
        return out
    selector = pod.get("nodeSelector")
    for key, value in selector.items() if isinstance(selector, dict) else ():
        problem = qualified_name_problem(str(key))
        if problem:
            bad(("spec", "nodeSelector", key), f"`{key}` is not a valid label key: {problem}")
        elif isinstance(value, str) and label_value_problem(value):
            bad(("spec", "nodeSelector", key), f"`{value}` is not a valid label value: {label_value_problem(value)}")
    tolerations = pod.get("tolerations")
    for i, tol in enumerate(tolerations if isinstance(tolerations, list) else ()):
        key = tol.get("key") if isinstance(tol, dict) else None
        if isinstance(key, str) and key:
            problem = qualified_name_problem(key)
            if problem:
                bad(("spec", "tolerations", i, "key"), f"`{key}` is not a valid toleration key: {problem}")
    return out
