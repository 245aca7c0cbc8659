"""searchspace and goparse: the text a service sends for a value, and strings read as Katib's Go code reads them."""

from __future__ import annotations

import math

import pytest

from katib_gitops.io import goparse
from katib_gitops.spec import searchspace


@pytest.mark.parametrize("value, text", [
    (1e-05, "0.00001"), (3.0, "3"), (0.30000000000000004, "0.30000000000000004"), (1e21, "1000000000000000000000"),
    (-0.0, "-0"), (123456789.125, "123456789.125"), (0.1, "0.1"), (2.5e-10, "0.00000000025"),
])
def test_go_format_float_f_minus_one(value, text):
    """strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent (goptuna/sample.go)."""
    assert searchspace.go_float_text(value) == text


@pytest.mark.parametrize("text, value", [
    ("0.5", 0.5), ("1e3", 1000.0), ("+.5", 0.5), ("0x1p-2", 0.25), ("Inf", math.inf), ("-infinity", -math.inf),
    (" 1", None), ("1_000", None), ("1e400", None), ("", None), ("0.5.1", None), ("+nan", None), ("abc", None),
])
def test_go_parse_float(text, value):
    assert goparse.parse_float(text) == value
    assert math.isnan(goparse.parse_float("NaN"))


@pytest.mark.parametrize("text, value", [("5", 5), ("+5", 5), ("-12", -12), ("5.0", None), (" 5", None),
                                         ("1e3", None), ("9223372036854775808", None)])
def test_go_atoi(text, value):
    assert goparse.atoi(text) == value


@pytest.mark.parametrize("algorithm, ptype, value, low, step, text", [
    ("grid", "double", 0.30000000000000004, "0.1", "0.1", "0.30000000000000004"),  # optuna: str(float)
    ("grid", "double", 5.0, "5", None, "5.0"),
    ("random", "double", 0.30000000000000004, "0.1", "0.1", "0.30000000000000004"),  # round(3.0000000000000004) * 0.1
    ("random", "double", 0.7000000000000001, "0.1", "0.2", "0.8"),  # hyperopt quantizes from 0: round(3.5) is 4
    ("tpe", "int", 7, "2", "2", "8"),  # quniform then int()
    ("cmaes", "double", 1e-05, "0.000001", None, "0.00001"),
    ("sobol", "double", 0.30000000000000004, "0.1", "0.1", "0.30000000000000004"),  # floor(2 + .5) * .1 + .1
    ("bayesianoptimization", "double", 1e-05, "0.000001", None, "1e-05"),
    ("multivariate-tpe", "categorical", "adam", None, None, "adam"),
])
def test_each_service_writes_a_value_its_own_way(algorithm, ptype, value, low, step, text):
    assert searchspace.service_text(algorithm, ptype, value, low, step) == text
