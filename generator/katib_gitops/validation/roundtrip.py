"""Katib's Job round trip: what a batch/v1 Job trial template loses or changes when Go re-encodes it.

Katib's validating webhook (pkg/webhook/v1beta1/experiment/validator/validator.go,
validateTrialJob and validatePatchJob) substitutes every ``${trialParameters.X}``
with ``test-value``, decodes the template into the typed ``batchv1.Job``
(runtime.DefaultUnstructuredConverter.FromUnstructured), encodes it again with
encoding/json, and diffs the two with mattbaird/jsonpatch CreatePatch. Any
operation other than ``remove`` is refused unless its path contains
``/resources/limits/`` or ``/resources/requests/``. So, outside resources:

- a field whose Go tag has ``omitempty`` and whose value is empty (``""``,
  ``false``, ``0``, ``[]``, ``{}`` for a map, or null) is dropped: "add";
- a null where Go writes something else (``resources: null`` becomes ``{}``): "replace";
- a quantity Go writes differently (``sizeLimit: 1024Mi`` becomes ``1Gi``, a
  bare number becomes a string): "replace";
- a value that does not decode at all (``test-value`` in a quantity field, so
  any placeholder there, even under resources): the conversion fails.

Unknown fields and wrong scalar types are reported by the strict Job schema
(rule katib-14) and are skipped here. The Go field model (types, pointers,
omitempty) is generated from k8s.io/api v0.34.0 into schemas/k8s-job-types.json
by scripts/gen_job_types.py.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Iterator

from ..spec import quantity
from ..io.findings import ERROR, Finding, PathPart
from ..io.yamlio import Document
from .katib_rules import PLACEHOLDER

RULE = "katib-job-roundtrip"
TYPES_FILE = "k8s-job-types.json"
EXEMPT = ("/resources/limits/", "/resources/requests/")
TEST_VALUE = "test-value"  # what Katib's webhook substitutes for every trial parameter
SCALAR_ZERO = {"string": "", "bool": False, "int": 0, "float": 0}

Fields = dict[str, tuple[str, bool]]


@lru_cache(maxsize=1)
def _types() -> dict[str, dict[str, list[Any]]]:
    from ..io.packaged import load_schema

    return (load_schema(TYPES_FILE) or {})["types"]


@lru_cache(maxsize=None)
def struct_fields(name: str) -> Fields:
    """A Go struct's JSON fields, inline (embedded) structs flattened in."""
    raw = _types()[name]
    out: Fields = {}
    for key, (expr, omit) in raw.items():
        if key == "<inline>":
            for embedded in expr.split(","):
                out.update(struct_fields(embedded))
        else:
            out[key] = (expr, omit)
    return out


def katib_substitute(node: Any) -> Any:
    """The template as Katib's webhook decodes it: every placeholder replaced by `test-value`."""
    if isinstance(node, str):
        return PLACEHOLDER.sub(TEST_VALUE, node) if "${trialParameters." in node else node
    if isinstance(node, dict):
        return {k: katib_substitute(v) for k, v in node.items()}
    if isinstance(node, list):
        return [katib_substitute(v) for v in node]
    return node


def _pointer(path: tuple[PathPart, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _exempt(path: tuple[PathPart, ...]) -> bool:
    pointer = _pointer(path)
    return any(e in pointer for e in EXEMPT)


def _empty_word(value: Any) -> str:
    if value is None:
        return "null"
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def differences(value: Any, expr: str, omit: bool, path: tuple[PathPart, ...]) -> Iterator[tuple[tuple[PathPart, ...], str]]:
    """(path, why) for each difference Go's decode/encode makes to value, a field of Go type expr."""
    pointer = expr.startswith("*")
    inner = expr[1:] if pointer else expr
    if value is None:
        # A nil pointer, slice or map is written as null unless omitempty drops it; anything else is a zero value.
        nil_kept = (pointer or inner.startswith(("[]", "map["))) and not omit
        if not nil_kept and not _exempt(path) and inner not in ("Time", "Raw"):
            yield path, "is null, which Go does not write back (drop the field)"
        return
    if inner.startswith(("[]", "map[")):
        is_list = inner.startswith("[]")
        if not isinstance(value, list if is_list else dict):
            return
        if not value and omit and not pointer:
            yield path, f"is an empty {'list' if is_list else 'map'}, which Go drops (omitempty): remove it"
            return
        element = inner[2:] if is_list else inner[4:-1]
        for key, item in (enumerate(value) if is_list else value.items()):
            yield from differences(item, element, False, (*path, key))
        return
    if inner == "Quantity":
        yield from _quantity(value, path)
        return
    if inner in SCALAR_ZERO:
        zero = SCALAR_ZERO[inner]
        if omit and not pointer and value == zero and type(value) is type(zero) and not _exempt(path):
            yield path, f"is {_empty_word(value)}, which Go drops (omitempty): remove it"
        return
    if inner in ("IntOrString", "Time", "Raw"):
        return
    if isinstance(value, dict):
        fields = struct_fields(inner)
        for key, item in value.items():
            field = fields.get(key)
            if field is not None:
                yield from differences(item, field[0], field[1], (*path, key))


def _quantity(value: Any, path: tuple[PathPart, ...]) -> Iterator[tuple[tuple[PathPart, ...], str]]:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if not _exempt(path):
            yield path, f"Go writes the number {value} back as the string \"{quantity.canonical_text(str(value)) or value}\": quote it"
        return
    if not isinstance(value, str):
        return
    canonical = quantity.canonical_text(value)
    if canonical is None:
        if TEST_VALUE in value:
            yield path, ("takes a trial parameter, but Katib's webhook substitutes `test-value`, which is not a "
                         "quantity, so it cannot decode the Job: a Job template cannot take a quantity from a parameter")
        return  # otherwise k8s-quantity reports it
    if canonical != value and not _exempt(path):
        yield path, f"`{value}` is written back by Go as `{canonical}`: write `{canonical}`"


def check_job_template(doc: Document, prefix: tuple[PathPart, ...], template: dict[str, Any]) -> list[Finding]:
    """Findings for a batch/v1 Job trial template found at prefix (the raw template, before substitution)."""
    job = katib_substitute(template)
    out = []
    for path, why in differences(job, "Job", False, ()):
        message = (f"{why} (Katib's webhook round-trips the Job template through the typed batch/v1 Job and "
                   "refuses any change outside resources)")
        out.append(doc.finding(message, (*prefix, *path), severity=ERROR, rule=RULE))
    return out
