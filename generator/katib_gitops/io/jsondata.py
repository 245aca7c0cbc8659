"""What JSON can carry: string keys and finite numbers.

Kubernetes, Argo CD and Flux turn every manifest into JSON. YAML can say more:
``1:``, ``yes:`` or ``~:`` as mapping keys, ``.nan`` and ``.inf`` as numbers
(and ``1e400`` overflows to infinity). kustomize refuses such a file with no
line number ("json: unsupported value: NaN"), and code that expects names to
be strings breaks on them. This check finds the first such node of a document,
at its line, before anything else reads it.

It also refuses control characters (a newline, say) in mapping keys: no name
Kubernetes knows may hold one, and a profile named ``"gpu2\n"`` would become a
directory of that name. Settings (``one_line=True``) refuse them in values too.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

import yaml

from .findings import Finding, PathPart
from .yamlio import Document

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEY_WORDS = {True: "true", False: "false", None: "null"}


def problems(doc: Document, rule: str = "json", one_line: bool = False,
             multi_line_ok: tuple[str, ...] = ()) -> list[Finding]:
    """At most one finding per document (the first bad node, in reading order)."""
    if not one_line and _plain(doc.data):
        return []  # nearly every document: looked at once, without building a path for every node
    stack: list[tuple[Any, tuple[PathPart, ...]]] = [(doc.data, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            items = list(node.items())
            for index, (key, value) in reversed(list(enumerate(items))):
                if not isinstance(key, str):
                    written = _key_node(doc, path, index, len(items))
                    shown = written.value if written is not None else _KEY_WORDS.get(key, key)
                    found = doc.finding(f"mapping key `{shown}` is read as a {_kind(key)}, not a string: quote it "
                                        f"('{shown}') if it is a name", path, rule=rule)
                    if written is not None:
                        found = replace(found, line=written.start_mark.line + 1, column=written.start_mark.column + 1)
                    return [found]
                if _CONTROL.search(key):
                    return [doc.finding(f"mapping key {key!r} holds a control character (a newline?): names cannot",
                                        path, rule=rule)]
                stack.append((value, (*path, key)))
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))
        elif one_line and isinstance(node, str) and _CONTROL.search(node) and path[:1] not in [(k,) for k in multi_line_ok]:
            return [doc.finding(f"{node!r} holds a control character (a newline?): settings are one line each",
                                path, rule=rule)]
        elif isinstance(node, float) and not math.isfinite(node):
            return [doc.finding(f"{node} is not a finite number: JSON, and so the API server and kustomize, cannot "
                                "carry it", path, rule=rule)]
    return []


def _plain(node: Any) -> bool:
    """True when nothing under node is a problem (string keys without control characters, finite numbers)."""
    if isinstance(node, dict):
        return all(isinstance(k, str) and not _CONTROL.search(k) and _plain(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_plain(v) for v in node)
    return not isinstance(node, float) or math.isfinite(node)


def _key_node(doc: Document, path: tuple[PathPart, ...], index: int, count: int) -> Any:
    """The YAML node of the index-th key of the mapping at path (None when it cannot be told for sure)."""
    try:
        node = doc.node()
    except yaml.YAMLError:
        return None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    if not isinstance(node, yaml.MappingNode) or len(node.value) != count:
        return None  # merge keys (<<) change the count: no guessing
    key = node.value[index][0]
    return key if isinstance(key, yaml.ScalarNode) else None


def _kind(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "boolean"
    if isinstance(key, (int, float)):
        return "number"
    return type(key).__name__
