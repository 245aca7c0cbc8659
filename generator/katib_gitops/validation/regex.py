"""Metrics filters as Katib's Go code sees them (regexp, i.e. RE2 syntax), via the google-re2 package.

validator.go validateMetricsCollector compiles each filter.metricsFormat entry
with Go's regexp.Compile and then requires it to match `.*\\(.*\\).*\\(.*\\).*`
("two top subexpressions" in its message, but textually: two bracket pairs,
in order, nested or not, capturing or not). Katib runs Go 1.24 (go.mod).

google-re2 is C++ RE2; Go's regexp/syntax is a port with a few differences,
handled here:
- `\\C` (any byte) is RE2-only: Go refuses it;
- Go refuses nesting deeper than 1000 (regexp/syntax maxHeight);
- both accept `(?P<name>...)`, `(?<name>...)` (Go >= 1.22), `\\Q...\\E`, `\\z`,
  and both refuse possessive and atomic groups, look-around, back-references,
  `(?x)`, `\\Z` and repeat counts over 1000.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Go's own pattern for the textual rule; Python's `.` excludes newlines exactly as Go's does.
TWO_BRACKETS = re.compile(r"\(.*\).*\(.*\)")
GO_MAX_NESTING = 1000


@lru_cache(maxsize=1)
def _re2() -> tuple[Any, Any]:
    """The re2 module and compile options, imported on first use (most Experiments have no filter)."""
    import re2

    opts = re2.Options()
    opts.log_errors = False  # RE2 would print every refused pattern on stderr
    opts.max_mem = 64 << 20  # closer to Go's own size limit than RE2's 8 MiB default
    return re2, opts


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> tuple[Any, str | None]:
    re2, options = _re2()
    try:
        return re2.compile(pattern, options), None
    except re2.error as exc:
        msg = exc.args[0] if exc.args else str(exc)
        return None, msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def _escapes(pattern: str) -> list[str]:
    """The escaped characters outside \\Q...\\E, in order."""
    out, i, quoted = [], 0, False
    while i < len(pattern):
        if quoted:
            if pattern.startswith("\\E", i):
                quoted = False
                i += 2
            else:
                i += 1
            continue
        if pattern[i] == "\\" and i + 1 < len(pattern):
            if pattern[i + 1] == "Q":
                quoted = True
            else:
                out.append(pattern[i + 1])
            i += 2
            continue
        i += 1
    return out


def _depth(pattern: str) -> int:
    depth = best = 0
    escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "(":
            depth += 1
            best = max(best, depth)
        elif ch == ")":
            depth -= 1
    return best


def go_compile_error(pattern: str) -> str | None:
    """Go's regexp.Compile error for pattern (RE2's wording), or None when it compiles."""
    compiled, error = _compile(pattern)
    if error is not None:
        return error
    if "C" in _escapes(pattern):
        return "invalid escape sequence: \\C (Go's regexp has no any-byte escape)"
    if _depth(pattern) > GO_MAX_NESTING:
        return "expression nests too deeply"
    return None


def has_two_bracket_pairs(pattern: str) -> bool:
    return TWO_BRACKETS.search(pattern) is not None


def capture_groups(pattern: str) -> int:
    """Capturing groups (so submatches - 1) of a pattern that compiles."""
    compiled, _ = _compile(pattern)
    return compiled.groups if compiled is not None else 0
