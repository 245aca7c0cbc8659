"""Layer 2: JSON Schema checks, and the machinery every schema-backed layer shares.

Schemas are compiled once per process. Before compiling, ``$ref``s are inlined
(keeping a ``$ref`` only where a definition refers back to itself): jsonschema
resolves each reference through its registry on every visit, which costs more
than the validation itself on Kubernetes' deeply nested pod schemas. Valid
documents are then accepted by jsonschema-rs in microseconds; only invalid ones
are walked by python-jsonschema for detailed errors (see ``CompiledSchema``).

Errors are turned into findings a PR author can act on: one finding per
unknown field (with a "did you mean" for near misses), the missing field named
in the path, types written in words, and a hint to quote numbers where Katib
wants strings.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

if TYPE_CHECKING:
    import jsonschema

# python-jsonschema (about 60 ms to import) is loaded only when a document is invalid, so a per-file
# `validate` in a pre-commit hook starts fast (benchmarks/bench_startup.py).
try:  # optional accelerator; validation is complete without it, only slower
    import jsonschema_rs as _rs
except ImportError:  # pragma: no cover - depends on the environment
    _rs = None

from ..io.findings import ERROR, Finding, PathPart
from ..io.packaged import load_schema
from ..io.yamlio import Document

EXPERIMENT_SCHEMA = "experiment.schema.json"
RULE = "schema"
DEFAULT_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Keywords that carry documentation or Kubernetes merge hints, not constraints.
_INERT = frozenset({
    "description", "title", "$schema", "$id", "$comment", "examples", "format",
    "x-kubernetes-group-version-kind", "x-kubernetes-list-map-keys", "x-kubernetes-list-type",
    "x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy", "x-kubernetes-map-type",
    "x-kubernetes-unions", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource", "x-kubernetes-validations",
})
# Keywords whose value maps names to schemas (the names are data, not keywords).
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
# Keywords whose value is data, never a schema.
_DATA = frozenset({"enum", "const", "default", "required", "dependentRequired"})


def inline_refs(schema: Mapping[str, Any], definitions: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of schema with every ``.../$defs/NAME`` reference replaced by the definition.

    Self-referring definitions stay as ``#/$defs/NAME`` references, collected
    under the result's own ``$defs`` so that the result is self-contained.
    """
    done: dict[str, Any] = {}
    kept: set[str] = set()

    def walk(node: Any, stack: tuple[str, ...]) -> Any:
        """node is a schema (or a list of schemas)."""
        if isinstance(node, list):
            return [walk(x, stack) for x in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ("/$defs/" in ref or "/definitions/" in ref):
            name = ref.rsplit("/", 1)[-1]
            if name in stack:
                kept.add(name)
                return {"$ref": f"#/$defs/{name}"}
            if name not in done:
                done[name] = walk(definitions[name], stack + (name,))
            return done[name]
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _INERT or key in ("$defs", "definitions"):
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: walk(sub, stack) for name, sub in value.items()}
            elif key in _DATA:
                out[key] = value
            else:
                out[key] = walk(value, stack)
        return out

    root = walk(schema, ())
    if kept:
        pending = set(kept)
        defs: dict[str, Any] = {}
        while pending:
            name = pending.pop()
            defs[name] = walk(definitions[name], (name,))
            pending |= kept - defs.keys()
        root["$defs"] = defs
    return root


class CompiledSchema:
    """A schema compiled for fast acceptance and detailed rejection.

    Most documents are valid, so the common path asks jsonschema-rs (compiled
    Rust, microseconds) whether the instance is valid at all; only an invalid
    instance is walked by python-jsonschema, whose errors carry everything the
    messages need. Without jsonschema-rs every instance takes the slow path.
    """

    def __init__(self, schema: dict[str, Any], draft: Any = None):
        self.schema = schema
        self._draft = draft  # None: chosen from the schema's $schema when first needed
        self._full: Any = None
        self._fast: Any = None
        if _rs is not None:
            try:
                self._fast = _rs.validator_for(schema)
            except Exception:  # a schema jsonschema-rs does not take: keep the slow path
                self._fast = None

    @property
    def full(self) -> Any:
        if self._full is None:
            if self._draft is None:
                import jsonschema

                self._draft = jsonschema.validators.validator_for(self.schema,
                                                                  default=jsonschema.Draft202012Validator)
            self._full = self._draft(self.schema)
        return self._full

    def is_valid(self, instance: Any) -> bool:
        if self._fast is not None:
            try:
                return bool(self._fast.is_valid(instance))
            except Exception:  # values jsonschema-rs cannot convert (huge ints, non-string keys)
                pass
        return bool(self.full.is_valid(instance))

    def iter_errors(self, instance: Any) -> Iterator[jsonschema.ValidationError]:
        if self._fast is not None:
            try:
                if self._fast.is_valid(instance):
                    return iter(())
            except Exception:
                pass
        return self.full.iter_errors(instance)


def compile_schema(schema: Mapping[str, Any], definitions: Mapping[str, Any] | None = None) -> CompiledSchema:
    defs = definitions if definitions is not None else schema.get("$defs", {})
    inlined = inline_refs(schema, defs)
    inlined["$schema"] = schema.get("$schema", DEFAULT_DIALECT)
    return CompiledSchema(inlined)


@lru_cache(maxsize=None)
def packaged_validator(name: str) -> Any:
    schema = load_schema(name)
    return None if schema is None else compile_schema(schema)


def experiment_validator() -> Any:
    validator = packaged_validator(EXPERIMENT_SCHEMA)
    if validator is None:  # pragma: no cover - the file ships with the package
        raise RuntimeError(f"{EXPERIMENT_SCHEMA} is missing from katib_gitops.schemas")
    return validator


def check_experiment(doc: Document) -> list[Finding]:
    return schema_findings(experiment_validator(), doc.data, doc, (), RULE)


# ---------------------------------------------------------------------------
# Error translation


def schema_findings(validator: Any, instance: Any, doc: Document, prefix: Sequence[PathPart], rule: str,
                    rule_for: Any = None) -> list[Finding]:
    """Validate instance (found at prefix inside doc) and translate every error.

    rule_for, when given, picks the rule id per jsonschema error (so callers can
    tell "Katib rejects this at apply time" from "trials fail later").
    """
    out: list[Finding] = []
    for err in validator.iter_errors(instance):
        where = (*prefix, *err.absolute_path)
        r = rule_for(err) if rule_for else rule
        for path, message in describe_error(err):
            out.append(doc.finding(message, (*where, *path), severity=ERROR, rule=r))
    return out


def describe_error(err: jsonschema.ValidationError) -> Iterable[tuple[tuple[PathPart, ...], str]]:
    """(extra path below the error's instance, message) pairs for one jsonschema error."""
    kind = err.validator
    value = err.validator_value
    instance = err.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = sorted(err.schema.get("properties", {}))
        for key in sorted(k for k in instance if k not in err.schema.get("properties", {})):
            if any(_matches_pattern(p, key) for p in err.schema.get("patternProperties", {})):
                continue
            yield (key,), f"unknown field `{key}`{did_you_mean(str(key), known)}"
        return
    if kind == "required" and isinstance(instance, dict):
        for key in value:
            if key not in instance:
                yield (key,), f"missing required field `{key}`"
        return
    if kind == "type":
        yield (), f"must be {type_words(value, instance)}, not {kind_of(instance)}{quote_hint(value, instance)}"
        return
    if kind == "enum":
        choices = ", ".join(_show(v) for v in value)
        hint = did_you_mean(str(instance), [str(v) for v in value if v != ""]) if isinstance(instance, str) else ""
        yield (), f"{_show(instance)} is not one of: {choices}{hint}"
        return
    if kind == "const":
        yield (), f"must be {_show(value)}, not {_show(instance)}"
        return
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        extra = " (int32)" if abs(value) == 2147483647 or value == -2147483648 else ""
        yield (), f"must be {op} {value}{extra}, not {instance}"
        return
    if kind in ("oneOf", "anyOf"):
        types = _alternative_types(value)
        if types is not None:
            if not any(_is_type(instance, t) for t in types):
                yield (), f"must be {type_words(types, instance)}, not {kind_of(instance)}"
                return
    yield (), " ".join(err.message.split())


def _matches_pattern(pattern: str, key: Any) -> bool:
    import re

    return isinstance(key, str) and re.search(pattern, key) is not None


def _alternative_types(alternatives: Any) -> list[str] | None:
    """The types of a oneOf/anyOf whose branches only constrain the type (IntOrString, Quantity)."""
    types: list[str] = []
    for alt in alternatives:
        if not isinstance(alt, dict) or set(alt) != {"type"}:
            return None
        t = alt["type"]
        types.extend(t if isinstance(t, list) else [t])
    return types


_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "object": "a mapping", "array": "a list", "null": "null"}


def type_words(types: Any, instance: Any = None) -> str:
    names = types if isinstance(types, list) else [types]
    if instance is not None:
        names = [n for n in names if n != "null"] or names
    seen: list[str] = []
    for n in names:
        word = _TYPE_NAMES.get(n, n)
        if word not in seen:
            seen.append(word)
    return " or ".join(seen)


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def quote_hint(types: Any, instance: Any) -> str:
    """Katib keeps numbers as strings; YAML turns unquoted 0.01 or true into something else."""
    wanted = types if isinstance(types, list) else [types]
    if "string" in wanted and isinstance(instance, (int, float, bool)):
        text = ("true" if instance else "false") if isinstance(instance, bool) else repr(instance)
        return f"; quote it: \"{text}\""
    return ""


def _is_type(value: Any, t: str) -> bool:
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    return False


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"`{value}`" if value else '""'
    return json.dumps(value)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """'; did you mean `x`?' for a close candidate (case-insensitive), else ''."""
    cands = list(candidates)
    lowered = {c.lower(): c for c in cands}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"; did you mean `{lowered[word.lower()]}`?"
    import difflib

    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)
    return f"; did you mean `{lowered[close[0]]}`?" if close else ""
