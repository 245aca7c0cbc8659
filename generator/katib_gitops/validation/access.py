"""Readers that tolerate whatever a hand-written manifest holds.

The rule layers look at values the schema layer may already have reported as
mistyped; they must skip such values rather than crash on them.
"""

from __future__ import annotations

from typing import Any


def as_map(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
