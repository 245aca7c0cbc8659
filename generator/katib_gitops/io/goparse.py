"""Go's strconv.ParseFloat and strconv.Atoi, for the places where Katib's Go code reads a string.

Python's float() and int() accept text Go refuses (" 1", "1_000", "1e400" as
inf) and refuse text Go accepts ("0x1p-2"); where Katib parses with Go (goptuna's
search space, the controller's metric values, the collector's early-stopping
values) the difference decides whether something runs.
"""

from __future__ import annotations

import math
import re

_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_HEX = re.compile(r"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?\d+")
_SPECIAL = re.compile(r"[+-]?(inf|infinity)|nan", re.IGNORECASE)
_INT = re.compile(r"[+-]?\d+")
INT64 = 2 ** 63


def parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64), or None where Go returns an error (out of range included)."""
    if not isinstance(text, str):
        return None
    if _SPECIAL.fullmatch(text):
        return float(text)
    if _HEX.fullmatch(text):
        try:
            value = float.fromhex(text)
        except OverflowError:
            return None
    elif _DECIMAL.fullmatch(text):
        value = float(text)
    else:
        return None
    return None if math.isinf(value) else value


def atoi(text: str) -> int | None:
    """strconv.Atoi(text) on a 64-bit platform, or None where Go returns an error."""
    if not isinstance(text, str) or not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if -INT64 <= value < INT64 else None
