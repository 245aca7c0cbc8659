"""How Katib's suggestion services turn a feasible space into values, and values into the strings trials get.

Both `validate` (how many grid points there are, what a service raises on) and
the local runner (the exact text a trial receives) need these facts, so they
live in one leaf module that imports nothing else of the package.

Which service runs which algorithm is the default katib-config's
(manifests/v1beta1/installs/katib-standalone/katib-config.yaml): hyperopt runs
random and tpe, optuna runs grid and multivariate-tpe, goptuna runs cmaes and
sobol, skopt runs bayesianoptimization; hyperband, pbt, enas and darts have
services of their own.

Values reach the trial as the text each service writes into
GetSuggestionsReply (Python services: internal/trial.py Assignment.generate,
``str(value)``; goptuna: sample.go sampleNextParam, ``strconv.FormatFloat(v,
'f', -1, 64)`` and ``strconv.Itoa``). numpy is not imported: a light install
validates without it; ``arange`` below reproduces numpy's arithmetic exactly
(tests compare it with numpy itself).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

SERVICE = {"random": "hyperopt", "tpe": "hyperopt", "grid": "optuna", "multivariate-tpe": "optuna",
           "cmaes": "goptuna", "sobol": "goptuna", "bayesianoptimization": "skopt", "hyperband": "hyperband",
           "pbt": "pbt", "enas": "enas", "darts": "darts"}


def arange(start: float, stop: float, step: float) -> list[float]:
    """numpy.arange(start, stop, step) for float64, value for value.

    numpy computes the length as ceil((stop - start) / step), sets the first two
    values to start and start + step, and fills the rest as start + i * delta
    with delta = (start + step) - start (arraytypes.c.src DOUBLE_fill), which is
    not always step.
    """
    length = math.ceil((stop - start) / step)  # ZeroDivisionError for step 0, as numpy raises
    if length <= 0:
        return []
    values = [start]
    if length > 1:
        second = start + step
        values.append(second)
        delta = second - start
        values.extend(start + i * delta for i in range(2, length))
    return values


def grid_doubles(low: str, high: str, step: str) -> list[float]:
    """internal/search_space.py convert_to_combinations for a double: numpy.arange(min, max + step, step)
    without its last value when that is above max. Raises what the service raises (IndexError for an
    empty range, ZeroDivisionError, ValueError for text that is not a number)."""
    lo, hi, st = float(low), float(high), float(step)
    values = arange(lo, hi + st, st)
    if values[-1] > hi:
        values = values[:-1]
    return values


def grid_ints(low: str, high: str, step: str | None) -> range:
    """convert_to_combinations for an int: range(min, max + 1, step); convert_parameter defaults step to 1."""
    return range(int(low), int(high) + 1, int(step or 1))


# ---------------------------------------------------------------------------
# the text of a value


def python_text(value: Any) -> str:
    """str(value) as a Python service writes it (a float's shortest repr: 0.30000000000000004, 1e-05, 5.0)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def go_float_text(value: float) -> str:
    """strconv.FormatFloat(value, 'f', -1, 64): the shortest digits, never an exponent (1e-05 -> 0.00001, 3.0 -> 3)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def hyperopt_quantized(value: float, step: float) -> float:
    """hyperopt's quniform/qloguniform/qnormal: numpy.round(draw / q) * q (half to even, as Python's round)."""
    return float(round(value / step)) * step


def goptuna_discrete(value: float, low: float, step: float) -> float:
    """goptuna DiscreteUniformDistribution.ToExternalRepr: floor((v - low) / q + 0.5) * q + low."""
    return math.floor((value - low) / step + 0.5) * step + low


def service_text(algorithm: str, ptype: str, value: Any, low: str | None = None, step: str | None = None) -> str:
    """The text the algorithm's service sends for a value it drew (before any rounding of ours).

    hyperopt (random, tpe) quantizes a stepped double or int with numpy.round(v / q) * q and sends a
    double as str(float), an int as str(int(v)) (hyperopt/base_service.py convert); optuna and skopt send
    str() of what the library returned; goptuna formats doubles with FormatFloat 'f' (sample.go).
    """
    service = SERVICE.get(algorithm, "")
    if ptype == "int":
        number = float(value)
        if service == "hyperopt" and step:
            number = hyperopt_quantized(number, float(step))
        return str(int(number))
    if ptype != "double":
        return str(value)
    number = float(value)
    if service == "hyperopt":
        if step:
            number = hyperopt_quantized(number, float(step))
        return python_text(number)
    if service == "goptuna":
        if step and low is not None:
            number = goptuna_discrete(number, float(low), float(step))
        return go_float_text(number)
    return python_text(number)
