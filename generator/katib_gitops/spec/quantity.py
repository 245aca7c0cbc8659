"""Kubernetes quantities ('8Gi', '500m'): parsing, and the form Go writes them back in.

A leaf module (no project imports) so the spec/build stage and the validators share it.
It models k8s.io/apimachinery v0.34.0 pkg/api/resource (quantity.go ParseQuantity,
parseQuantityString, CanonicalizeBytes, MarshalJSON; amount.go AsCanonicalBytes,
AsCanonicalBase1024Bytes), the version Katib's go.mod pins. It matters because
Katib's webhook round-trips a Job trial template through the typed Job
(validator.go validatePatchJob): a quantity outside resources.limits/requests that
Go would write differently (`1024Mi` -> `1Gi`) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_UP, Decimal, localcontext

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {e: s for s, e in _DECIMAL.items()}
_BINARY_SUFFIX = {e: s for s, e in _BINARY.items()} | {0: ""}
_SUFFIX_CHARS = set("eEinumkKMGTP")
_DIGITS = set("0123456789")
_NANO = Decimal("1e-9")
_MAX_INT64_FACTORS = 18


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    format: str  # "DecimalSI", "BinarySI" or "DecimalExponent"
    cached: str | None  # the input string, when Go keeps it verbatim (already canonical in Go's eyes)


def _scan(text: str) -> tuple[bool, str, str, str, str] | None:
    """parseQuantityString: (positive, value, num, denom, suffix) or None for ErrFormatWrong."""
    positive, pos, end = True, 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    if pos >= end:
        return positive, text, num, "", ""
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, text, num, denom, ""
    value, suffix_start = text[:pos], pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos >= end:
        return positive, value, num, denom, text[suffix_start:]
    if text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        return None
    return positive, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str] | None:
    """suffixHandler.interpret: (base, exponent, format)."""
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], "DecimalSI"
    if suffix in _BINARY:
        return 2, _BINARY[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        try:
            return 10, int(suffix[1:], 10), "DecimalExponent"
        except ValueError:
            return None
    return None


def parse(text: str) -> Quantity | None:
    """ParseQuantity, or None where Go returns an error."""
    if not text:
        return None
    if text == "0":
        return Quantity(Decimal(0), "DecimalSI", text)
    scanned = _scan(text)
    if scanned is None:
        return None
    positive, value, num, denom, suffix = scanned
    interpreted = _interpret(suffix)
    if interpreted is None:
        return None
    base, exponent, fmt = interpreted
    if fmt == "BinarySI":
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1 if not denom else -1
        scale = 0
    else:
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
        scale = exponent
    if precision >= 0 and scale - len(denom) >= -9:
        # Go's int64 fast path; it keeps the input string when it is already in canonical form.
        shifted = num + denom
        scale -= len(denom)
        digits = int(shifted)
        mantissa = 1 << exponent if fmt == "BinarySI" else 1
        result = digits * mantissa
        if result < 2 ** 63:
            amount = Decimal(result if positive else -result).scaleb(scale)
            if fmt == "BinarySI":
                keep = exponent % 10 == 0 and digits & 0x07 != 0
            else:
                keep = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
            return Quantity(amount, fmt, text if keep else None)
    try:
        amount = abs(Decimal(value))
    except ArithmeticError:
        return None
    with localcontext() as ctx:
        ctx.prec = 200
        amount = amount.scaleb(exponent) if base == 10 else amount * (Decimal(2) ** exponent)
        if amount != 0:
            amount = amount.quantize(_NANO, rounding=ROUND_UP)
    if fmt == "BinarySI" and 0 < amount < 1:
        fmt = "DecimalSI"
    return Quantity(amount if positive else -amount, fmt, None)


def _decimal_form(value: Decimal) -> tuple[int, int]:
    """AsCanonicalBytes: an integer mantissa and an exponent that is a multiple of 3."""
    sign, digits, exponent = value.normalize().as_tuple()
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    shift = exponent % 3  # Python's modulo floors, as Go's switch over exponent % 3 does in effect
    return mantissa * 10 ** shift, int(exponent) - shift


def canonical(quantity: Quantity) -> str:
    """What Go's Quantity.MarshalJSON writes."""
    if quantity.cached is not None:
        return quantity.cached
    value, fmt = quantity.value, quantity.format
    if value == 0:
        return "0"
    if fmt == "BinarySI":
        if -1024 < value < 1024 or value != value.to_integral_value():
            fmt = "DecimalSI"
        else:
            whole, power = int(value), 0
            while whole % 1024 == 0 and power < 6:
                whole //= 1024
                power += 1
            return f"{whole}{_BINARY_SUFFIX[power * 10]}"
    mantissa, exponent = _decimal_form(value)
    if fmt == "DecimalExponent":
        return f"{mantissa}" + (f"e{exponent}" if exponent else "")
    return f"{mantissa}{_DECIMAL_SUFFIX.get(exponent, '')}"


def canonical_text(text: str) -> str | None:
    """text as Go writes it back, or None when it is not a quantity."""
    parsed = parse(text)
    return canonical(parsed) if parsed is not None else None


def value_of(text: str) -> Decimal | None:
    parsed = parse(text)
    return parsed.value if parsed is not None else None
