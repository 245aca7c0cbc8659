"""services: what the default katib-config's suggestion services refuse (NAS and pbt, beyond the case files)."""

from __future__ import annotations

from katib_gitops.validation.services import OPERATIONS, algorithm_refusals

OPS = [{"operationType": "convolution", "parameters": [
    {"name": "filter_size", "parameterType": "categorical", "feasibleSpace": {"list": ["3", "5"]}}]}]


def nas(algorithm: str, settings: list[dict], graph: dict | None = None, operations: list | None = None) -> dict:
    return {"algorithm": {"algorithmName": algorithm, "algorithmSettings": settings},
            "nasConfig": {"graphConfig": graph if graph is not None else
                          {"numLayers": 8, "inputSizes": [32, 32, 3], "outputSizes": [10]},
                          "operations": operations if operations is not None else OPS}}


def test_enas_settings_ranges_and_names() -> None:
    assert list(algorithm_refusals(nas("enas", [{"name": "controller_hidden_size", "value": "64"},
                                                {"name": "controller_temperature", "value": "None"}]))) == []
    [(index, name, why)] = algorithm_refusals(nas("enas", [{"name": "controller_learning_rate", "value": "0"}]))
    assert (index, name) == (0, "controller_learning_rate") and "(0.0, 1.0]" in why
    [(_, name, why)] = algorithm_refusals(nas("enas", [{"name": "learning_rate", "value": "0.1"}]))
    assert "unknown setting learning_rate" in why


def test_enas_needs_the_graph_and_operations_with_parameters() -> None:
    [(_, _, why)] = algorithm_refusals(nas("enas", [], graph={"numLayers": 8, "inputSizes": [32]}))
    assert "outputSizes" in why
    [(_, name, why)] = algorithm_refusals(nas("darts", [], operations=[{"operationType": "skip_connection"}]))
    assert name == OPERATIONS and "skip_connection has no parameters" in why


def test_darts_settings() -> None:
    assert list(algorithm_refusals(nas("darts", [{"name": "batch_size", "value": "None"},
                                                 {"name": "anything_else", "value": "x"}]))) == []
    [(index, _, why)] = algorithm_refusals(nas("darts", [{"name": "num_epochs", "value": "0"}]))
    assert index == 0 and "greater than zero" in why


def test_pbt_refuses_any_resample_probability() -> None:
    base = [{"name": "suggestion_trial_dir", "value": "/d"}, {"name": "n_population", "value": "8"},
            {"name": "truncation_threshold", "value": "0.2"}]
    spec = {"algorithm": {"algorithmName": "pbt", "algorithmSettings": base}}
    assert list(algorithm_refusals(spec)) == []
    spec["algorithm"]["algorithmSettings"] = base + [{"name": "resample_probability", "value": "0.5"}]
    [(index, name, _)] = algorithm_refusals(spec)
    assert (index, name) == (3, "resample_probability")


# ---------------------------------------------------------------------------
# what the services let escape, and what they raise once they run (never_starts)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from katib_gitops.spec import searchspace  # noqa: E402
from katib_gitops.validation.never_starts import service_failures  # noqa: E402
from katib_gitops.validation.services import grid_points  # noqa: E402


def double(name: str, low: str, high: str, step: str | None = None, dist: str = "uniform") -> dict:
    space = {"min": low, "max": high, "distribution": dist}
    if step is not None:
        space["step"] = step
    return {"name": name, "parameterType": "double", "feasibleSpace": space}


def hp(algorithm: str, params: list[dict], settings: list[tuple[str, str]] = (), **spec) -> dict:
    return {"algorithm": {"algorithmName": algorithm,
                          "algorithmSettings": [{"name": n, "value": v} for n, v in settings]},
            "parameters": params, "parallelTrialCount": 3, **spec}


@pytest.mark.parametrize("low,high,step", [("0.01", "0.05", "0.005"), ("0.5", "0.9", "0.1"), ("0", "1", "0.3"),
                                           ("0.1", "0.3", "0.1"), ("1", "5", "0.1"), ("-1", "1", "0.7"),
                                           ("0.0001", "0.02", "0.0001"), ("1e-3", "1e-2", "1e-3")])
def test_grid_points_are_what_numpy_arange_gives(low, high, step) -> None:
    """internal/search_space.py convert_to_combinations, computed with numpy itself."""
    values = np.arange(float(low), float(high) + float(step), float(step))
    if values[-1] > float(high):
        values = values[:-1]
    assert searchspace.grid_doubles(low, high, step) == values.tolist()
    assert grid_points([double("x", low, high, step)]) == len(values)


def test_arange_matches_numpy_value_for_value() -> None:
    rng = np.random.default_rng(7)
    for _ in range(2000):
        start, step = round(float(rng.uniform(-3, 3)), 4), round(float(rng.uniform(0.001, 1)), 4)
        stop = start + float(rng.uniform(0, 40)) * step
        assert searchspace.arange(start, stop, step) == np.arange(start, stop, step).tolist()


def test_grid_int_without_step_counts_one_per_value_and_a_double_needs_one() -> None:
    assert grid_points([{"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "10"}}]) == 10
    [(_, _, why)] = algorithm_refusals(hp("grid", [double("x", "0", "1")], maxTrialCount=1))
    assert "step is nil" in why


@pytest.mark.parametrize("settings,culprit,why", [
    ([("r_l", "0"), ("resource_name", "x")], "r_l", "ValueError: math domain error"),
    ([("r_l", "nan"), ("resource_name", "x")], "r_l", "ValueError"),
    ([("r_l", "inf"), ("resource_name", "x")], "r_l", "OverflowError"),
    ([("r_l", "9"), ("eta", "1"), ("resource_name", "x")], "eta", "ZeroDivisionError"),
    ([("r_l", "9"), ("eta", "fast"), ("resource_name", "x")], "eta", "ValueError"),
    ([("r_l", "9"), ("eta", "inf"), ("resource_name", "x")], "eta", "OverflowError"),
    ([("r_l", "-1"), ("resource_name", "x")], "r_l", "positive float"),
])
def test_hyperband_validation_refuses_what_it_raises(settings, culprit, why) -> None:
    """hyperband/service.py ValidateAlgorithmSettings: an escaping exception is gRPC UNKNOWN, a failed validation."""
    [(index, name, message)] = algorithm_refusals(hp("hyperband", [double("x", "1", "9")], settings))
    assert name == culprit and why in message and settings[index][0] == culprit


def test_hyperband_eta_below_one_passes_validation_but_never_starts() -> None:
    """Validation reads eta as int(float(eta)) (0 -> 3); GetSuggestions as float(eta) (0.5): s_max < 0."""
    spec = hp("hyperband", [double("x", "1", "9")], [("r_l", "3"), ("eta", "0.5"), ("resource_name", "x")])
    assert list(algorithm_refusals(spec)) == []
    [(path, message)] = service_failures(spec, "hyperband")
    assert path[-2] == 1 and "s_max" in message


def test_pbt_validation_raises_on_unparsable_numbers() -> None:
    settings = [("suggestion_trial_dir", "/d"), ("n_population", "many"), ("truncation_threshold", "0.2")]
    [(index, name, why)] = algorithm_refusals(hp("pbt", [], settings))
    assert (index, name) == (1, "n_population") and "ValueError" in why
    settings[1:] = [("n_population", "5"), ("truncation_threshold", "nan")]
    [(_, name, why)] = algorithm_refusals(hp("pbt", [], settings))
    assert name == "truncation_threshold" and "between 0 and 1" in why


def test_goptuna_counts_dimensions_then_refuses_duplicate_names() -> None:
    """goptuna/service.go ValidateAlgorithmSettings."""
    [(_, _, why)] = algorithm_refusals(hp("cmaes", [double("x", "0", "1")]))
    assert "two or more" in why
    [(_, name, why)] = algorithm_refusals(hp("sobol", [double("x", "0", "1"), double("x", "1", "2")]))
    assert name == "parameters[1]" and "Detect duplicated parameter name: x" in why


def test_goptuna_parses_with_go_and_its_errors_are_not_refusals() -> None:
    """converter.go uses strconv: ' 5' and '1_0' are not numbers to Go; INTERNAL is not a refusal."""
    int_param = {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "1_0"}}
    spec = hp("sobol", [double("x", "0", "1"), int_param])
    assert list(algorithm_refusals(spec)) == []
    [(path, message)] = service_failures(spec, "sobol")
    assert path[-1] == "max" and "strconv.Atoi" in message
    assert service_failures(hp("cmaes", [double("x", "0", "1"), double("y", "0", "1")],
                               [("random_state", "-3"), ("sigma", "0x1p-2"), ("restart_strategy", "bipop")]),
                            "cmaes") == []


@pytest.mark.parametrize("algorithm,param,expected", [
    ("random", double("x", "-1", "1", dist="logNormal"), "math domain error"),
    ("tpe", double("x", "0.5", "0.5"), "low should be less than high"),
    ("random", double("x", "0", "0"), None),  # hyperopt's check skips falsy bounds
    ("random", double("x", "1", "1", dist="logUniform"), None),  # log(1) is 0: skipped too
    ("random", double("x", "0.5", "0.5", dist="normal"), None),
    ("multivariate-tpe", double("x", "0", "1", dist="logNormal"), "Unsupported distribution"),
    ("multivariate-tpe", double("x", "-2", "0", dist="logUniform"), "raises the low bound"),
    ("grid", {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "0", "max": "0",
                                                                      "distribution": "logUniform"}},
     "raises the low bound to 1"),
    ("multivariate-tpe", double("x", "0", "1", dist="logUniform"), None),  # clamped to 1e-10
    ("bayesianoptimization", {"name": "n", "parameterType": "int", "feasibleSpace": {"min": "3", "max": "3"}},
     "lower bound"),
    ("bayesianoptimization", double("x", "-1", "1"), "log-uniform"),
    ("pbt", double("x", "0", "1"), "float('')"),
    ("pbt", double("x", "0", "1", step="0.1"), None),
])
def test_what_each_service_raises_on_its_first_get_suggestions(algorithm, param, expected) -> None:
    failures = service_failures(hp(algorithm, [param]), algorithm)
    assert (failures == []) if expected is None else (expected in failures[0][1])


def test_skopt_lbfgs_needs_gradients_and_acquisitions_with_times_stall() -> None:
    cats = [{"name": "c", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b"]}}]
    [(_, why)] = service_failures(hp("bayesianoptimization", cats, [("acq_optimizer", "lbfgs")]), "bayesianoptimization")
    assert "categorical" in why
    assert service_failures(hp("bayesianoptimization", [double("x", "0.1", "1")], [("acq_optimizer", "lbfgs")]),
                            "bayesianoptimization") == []
    [(_, why)] = service_failures(hp("bayesianoptimization", cats, [("acq_func", "PIps")]), "bayesianoptimization")
    assert why.startswith("suggestion-stalls: ")


def test_enas_operation_ranges_that_numpy_overshoots_never_start() -> None:
    """nas/enas/Operation.py: `del double_list[-1]` on a numpy array raises; the arange decides when."""
    def op(low, high, step):
        return nas("enas", [], operations=[{"operationType": "conv", "parameters": [
            {"name": "rate", "parameterType": "double", "feasibleSpace": {"min": low, "max": high, "step": step}}]}])
    for low, high, step in (("1", "2", "0.3"), ("0.1", "0.3", "0.1"), ("0", "1", "0.25")):
        values = np.arange(float(low), float(high) + float(step), float(step))
        failures = service_failures(op(low, high, step), "enas")
        assert bool(failures) == bool(values[-1] > float(high)), (low, high, step)


def test_nas_double_step_is_checked_as_validate_operations_checks_it() -> None:
    """`not step or float(step) <= 0`: NaN passes, text raises (a refusal either way but NaN)."""
    def op(step):
        return [{"operationType": "conv", "parameters": [
            {"name": "rate", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1", "step": step}}]}]
    assert list(algorithm_refusals(nas("darts", [], operations=op("nan")))) == []
    [(_, name, why)] = algorithm_refusals(nas("darts", [], operations=op("x")))
    assert name == OPERATIONS and "could not convert" in why
