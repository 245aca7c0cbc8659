"""What the suggestion and early-stopping services refuse right after the Experiment is created.

Katib's webhook only checks that an algorithm name is known; its settings are
checked by the service that runs the algorithm: the suggestion controller calls
ValidateAlgorithmSettings / ValidateEarlyStoppingSettings once the Suggestion
is up (suggestion_controller.go ReconcileSuggestion) and marks it Failed when
the call ends with INVALID_ARGUMENT or UNKNOWN (suggestionclient.go
ValidateAlgorithmSettings); the Experiment then fails. A Python service that
raises inside ValidateAlgorithmSettings ends the call with UNKNOWN, so an
exception it lets escape (``math.log(0)`` for hyperband's ``r_l: "0"``) is a
refusal too. goptuna's INTERNAL ("Failed to create goptuna study") is not: the
controller takes it for a valid setting, and the failure comes back on every
GetSuggestions call instead (see ``never_starts``).

The services of the default katib-config
(manifests/v1beta1/installs/katib-standalone/katib-config.yaml):

- random, tpe: hyperopt (pkg/suggestion/v1beta1/hyperopt/service.py,
  OptimizerConfiguration.validate_algorithm_spec): known settings only;
- grid, multivariate-tpe: optuna (optuna/service.py, _validate_grid_setting,
  _validate_tpe_setting); grid: no more trials than grid points, counted as
  internal/search_space.py convert_to_combinations counts them (an int's step
  defaults to 1, a double needs one);
- cmaes, sobol: goptuna (goptuna/service.go ValidateAlgorithmSettings): cmaes
  needs two or more double/int parameters; no parameter name twice;
- bayesianoptimization: skopt (skopt/service.py _validate_bayesianoptimization_setting);
- hyperband (hyperband/service.py ValidateAlgorithmSettings, with what it raises);
- pbt (pbt/service.py ValidateAlgorithmSettings, with what it raises);
- enas, darts (nas/enas/service.py, nas/darts/service.py ValidateAlgorithmSettings, nas/common/validation.py
  validate_operations; enas settings from nas/enas/AlgorithmSettings.py);
- medianstop (pkg/earlystopping/v1beta1/medianstop/service.py validate_medianstop_setting).

Names given with --algorithm (a cluster's own services) are not checked here.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

from ..spec.searchspace import SERVICE, grid_doubles, grid_ints

Refusal = tuple[int | None, str, str]  # (setting index or None, setting name or "", message)

OPERATIONS = "nasConfig.operations"  # a refusal about the NAS operations (reported there)
PBT_REQUIRED = ("suggestion_trial_dir", "n_population", "truncation_threshold")


def _py_int(value: str) -> int:
    return int(value)


def _check(name: str, value: str, convert: Callable[[str], Any], ok: Callable[[Any], bool], why: str) -> str | None:
    try:
        return None if ok(convert(value)) else why
    except (ValueError, OverflowError) as exc:
        return f"failed to validate {name}({value}): {exc}"


_HYPEROPT = {
    "tpe": {"gamma": (float, lambda v: 0 < v < 1, "gamma should be in the range of (0, 1)"),
            "prior_weight": (float, lambda v: v > 0, "prior_weight should be greater than zero"),
            "n_EI_candidates": (_py_int, lambda v: v > 0, "n_EI_candidates should be greater than zero"),
            "random_state": (_py_int, lambda v: v >= 0, "random_state should be greater or equal than zero")},
    "random": {"random_state": (_py_int, lambda v: v >= 0, "random_state should be greater or equal than zero")},
    "multivariate-tpe": {n: (_py_int, lambda v: v >= 0, f"{n} should be greater or equal than zero")
                         for n in ("n_startup_trials", "n_ei_candidates", "random_state")},
    "grid": {"random_state": (_py_int, lambda v: v >= 0, "random_state should be greater or equal than zero")},
    "bayesianoptimization": {
        "base_estimator": (str, lambda v: v in ("GP", "RF", "ET", "GBRT"), "base_estimator is not GP, RF, ET or GBRT"),
        "n_initial_points": (_py_int, lambda v: v >= 0, "n_initial_points should be greater or equal than zero"),
        "acq_func": (str, lambda v: v in ("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"),
                     "acq_func is not gp_hedge, LCB, EI, PI, EIps or PIps"),
        "acq_optimizer": (str, lambda v: v in ("auto", "sampling", "lbfgs"), "acq_optimizer is not auto, sampling or lbfgs"),
        "random_state": (_py_int, lambda v: v >= 0, "random_state should be greater or equal than zero")},
}
MEDIANSTOP = {
    "min_trials_required": (_py_int, lambda v: v > 0, "min_trials_required must be greater than zero (>0)"),
    "start_step": (_py_int, lambda v: v >= 1, "start_step must be greater or equal than one (>=1)"),
}


INF = float("inf")
# nas/enas/AlgorithmSettings.py algorithmSettingsValidator: float settings must be in (low, high], int ones >= low.
ENAS_SETTINGS: dict[str, tuple[type, float, float]] = {
    "controller_hidden_size": (int, 1, INF), "controller_temperature": (float, 0, INF),
    "controller_tanh_const": (float, 0, INF), "controller_entropy_weight": (float, 0.0, INF),
    "controller_baseline_decay": (float, 0.0, 1.0), "controller_learning_rate": (float, 0.0, 1.0),
    "controller_skip_target": (float, 0.0, 1.0), "controller_skip_weight": (float, 0.0, INF),
    "controller_train_steps": (int, 1, INF), "controller_log_every_steps": (int, 1, INF),
}
ENAS_NONE_ALLOWED = ("controller_temperature", "controller_tanh_const", "controller_entropy_weight",
                     "controller_skip_weight")
# nas/darts/service.py validate_algorithm_settings (other names are not refused).
DARTS_SETTINGS: dict[str, tuple[Any, Any, str]] = {
    "num_epochs": (_py_int, lambda v: v > 0, "num_epochs should be greater than zero"),
    **{n: (float, lambda v: v >= 0.0, f"{n} should be greater than or equal to zero")
       for n in ("w_lr", "w_lr_min", "alpha_lr", "w_weight_decay", "alpha_weight_decay", "w_momentum", "w_grad_clip")},
    "batch_size": (lambda v: None if v == "None" else int(v), lambda v: v is None or v >= 1,
                   "batch_size should be greater than or equal to one"),
    "num_workers": (_py_int, lambda v: v >= 0, "num_workers should be greater than or equal to zero"),
    **{n: (_py_int, lambda v: v >= 1, f"{n} should be greater than or equal to one")
       for n in ("init_channels", "print_step", "num_nodes", "stem_multiplier")},
}


def _settings(block: Any) -> list[tuple[int, str, str]]:
    raw = block.get("algorithmSettings") if isinstance(block, dict) else None
    out = []
    for i, s in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(s, dict) and isinstance(s.get("name"), str):
            value = s.get("value")
            out.append((i, s["name"], value if isinstance(value, str) else "" if value is None else str(value)))
    return out


def _table_refusals(table: dict[str, tuple[Any, Any, str]], settings: list[tuple[int, str, str]], algorithm: str,
                    strict_names: bool) -> Iterator[Refusal]:
    for i, name, value in settings:
        rule = table.get(name)
        if rule is None:
            if strict_names:
                yield i, name, (f"unknown setting {name} for algorithm {algorithm} "
                                f"(known: {', '.join(table) or 'none'})")
                return  # the service stops at its first refusal
            continue
        why = _check(name, value, *rule)
        if why is not None:
            yield i, name, why
            return


def parameters_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    raw = spec.get("parameters")
    return [p for p in raw if isinstance(p, dict)] if isinstance(raw, list) else []


def algorithm_refusals(spec: dict[str, Any]) -> Iterator[Refusal]:
    """Refusals of the service the default katib-config runs for spec.algorithm."""
    block = spec.get("algorithm")
    name = block.get("algorithmName") if isinstance(block, dict) else None
    service = SERVICE.get(name) if isinstance(name, str) else None
    if service is None:
        return
    settings = _settings(block)
    params = parameters_of(spec)
    if service in ("hyperopt", "optuna", "skopt"):
        refused = list(_table_refusals(_HYPEROPT[name], settings, name, strict_names=True))
        yield from refused
        if name == "grid" and not refused:
            yield from _grid(spec, params)
    elif service == "goptuna":
        yield from _goptuna(name, params)
    elif service == "hyperband":
        yield from _hyperband(spec, settings, params)
    elif service == "pbt":
        yield from _pbt(settings)
    elif service in ("enas", "darts"):
        yield from _nas(spec, settings, name)


def _goptuna(name: str, params: list[dict[str, Any]]) -> Iterator[Refusal]:
    """goptuna/service.go ValidateAlgorithmSettings: cmaes's dimensions, then unique parameter names.

    The study it then creates (toGoptunaSampler, toGoptunaSearchSpace) can fail too, but with INTERNAL, which
    the controller does not count as a refusal: ``never_starts`` reports those.
    """
    if name == "cmaes":
        numeric = [p for p in params if p.get("parameterType") in ("double", "int")]
        if len(numeric) < 2:
            yield None, "", ("CMA-ES only supports two or more dimensional continuous search space: this one has "
                             f"{len(numeric)} double or int parameter(s)")
            return
    seen: list[Any] = []
    for i, p in enumerate(params):
        if p.get("name") in seen:
            yield None, f"parameters[{i}]", f"Detect duplicated parameter name: {p.get('name')}"
            return
        seen.append(p.get("name"))


def _nas(spec: dict[str, Any], settings: list[tuple[int, str, str]], name: str) -> Iterator[Refusal]:
    """nas/enas/service.py and nas/darts/service.py ValidateAlgorithmSettings; nas/common/validation.py."""
    nas = spec.get("nasConfig") if isinstance(spec.get("nasConfig"), dict) else {}
    if name == "enas":
        graph = nas.get("graphConfig") if isinstance(nas.get("graphConfig"), dict) else {}
        for key in ("inputSizes", "outputSizes", "numLayers"):
            if not graph.get(key):
                yield None, "", f"enas needs nasConfig.graphConfig.{key} (Missing {key[0].upper()}{key[1:]} in GraphConfig)"
                return
    why = operations_problem(nas.get("operations"))
    if why is not None:
        yield None, OPERATIONS, why
        return
    if name == "darts":
        yield from _table_refusals(DARTS_SETTINGS, settings, name, strict_names=False)
        return
    for i, setting, value in settings:
        if setting not in ENAS_SETTINGS:
            yield i, setting, f"unknown setting {setting} for algorithm enas (known: {', '.join(ENAS_SETTINGS)})"
            return
        if setting in ENAS_NONE_ALLOWED and value == "None":
            continue
        kind, low, high = ENAS_SETTINGS[setting]
        try:
            number = kind(value)
        except (ValueError, OverflowError) as exc:
            yield i, setting, f"{setting} must be {kind.__name__}: {exc}"
            return
        bad = (number <= low or number > high) if kind is float else number < low
        if bad:
            shown = f"({low}, {high}]" if kind is float else f"[{low}, {high})"
            yield i, setting, f"{setting} must be in {shown}"
            return


NAS_PARAMETER_TYPES = ("categorical", "discrete", "int", "double")


def operations_problem(operations: Any) -> str | None:
    """nas/common/validation.py validate_operations: the first operation it refuses, and why."""
    for op in operations if isinstance(operations, list) else []:
        if not isinstance(op, dict):
            continue
        params = op.get("parameters")
        if not op.get("operationType"):
            return "an operation has no operationType"
        if not params:
            return f"operation {op['operationType']} has no parameters (Missing ParameterConfigs in Operation)"
        for p in params if isinstance(params, list) else []:
            if not isinstance(p, dict):
                continue
            ptype, space = p.get("parameterType"), p.get("feasibleSpace")
            space = space if isinstance(space, dict) else {}
            if not p.get("name"):
                return f"a parameter of operation {op['operationType']} has no name"
            if ptype not in NAS_PARAMETER_TYPES:  # the API's UNKNOWN_TYPE is 0, which the check reads as missing
                return f"parameter {p['name']} of operation {op['operationType']} has no parameterType it knows"
            if ptype in ("categorical", "discrete") and not space.get("list"):
                return f"parameter {p['name']} of operation {op['operationType']} has no feasibleSpace.list"
            if ptype in ("int", "double") and not space.get("min") and not space.get("max"):
                return f"parameter {p['name']} of operation {op['operationType']} has neither min nor max"
            if ptype == "double":
                step = space.get("step")
                try:
                    bad = not step or float(str(step)) <= 0
                except (ValueError, OverflowError) as exc:
                    return f"parameter {p['name']} of operation {op['operationType']}: step {step!r}: {exc}"
                if bad:
                    return f"parameter {p['name']} of operation {op['operationType']}: step should be > 0"
    return None


def _escaped(exc: Exception) -> str:
    """How a Python service's exception reads once gRPC has turned it into an UNKNOWN status."""
    return f"the service raises {type(exc).__name__}: {exc}"


def _pbt(settings: list[tuple[int, str, str]]) -> Iterator[Refusal]:
    """pbt/service.py ValidateAlgorithmSettings; its int()/float() and comparisons raise, and a raise refuses."""
    values = {name: value for _, name, value in settings}
    index = {name: i for i, name, _ in settings}
    missing = [k for k in PBT_REQUIRED if k not in values]
    if missing:
        yield None, "", f"pbt needs the settings {', '.join(missing)} (Required params missing)"
        return
    for name, convert, ok, why in (
            ("n_population", int, lambda v: v >= 5, "n_population should be >= 5"),
            ("truncation_threshold", float, lambda v: 0 <= v <= 1,
             "truncation_threshold should be between 0 and 1, inclusive")):
        try:
            good = ok(convert(values[name]))
        except (ValueError, OverflowError) as exc:
            yield index[name], name, _escaped(exc)
            return
        if not good:
            yield index[name], name, why
            return
    if "resample_probability" in values:
        # The service compares the setting's string with numbers (`0 <= "0.5"`), a TypeError for any value.
        yield index["resample_probability"], "resample_probability", \
            "any resample_probability makes the pbt service raise TypeError (it compares the string with numbers)"


def grid_points(params: list[dict[str, Any]]) -> int:
    """How many combinations internal/search_space.py convert_to_combinations gives: an int's step defaults to 1
    (convert_parameter), a double's range is numpy.arange(min, max + step, step) without a last value above max.
    Raises what the service raises (a double without step, an empty range, a bound that is not a number)."""
    points = 1
    for p in params:
        ptype, space = p.get("parameterType"), p.get("feasibleSpace")
        space = space if isinstance(space, dict) else {}
        if ptype == "int":
            points *= len(grid_ints(str(space.get("min")), str(space.get("max")), _text(space.get("step")) or None))
        elif ptype == "double":
            step = _text(space.get("step"))
            if not step:
                raise ValueError(f"Param {p.get('name')} step is nil; For discrete search space, all parameters "
                                 "must include step")
            points *= len(grid_doubles(str(space.get("min")), str(space.get("max")), step))
        elif ptype in ("categorical", "discrete"):
            values = space.get("list")
            points *= len(values) if isinstance(values, list) else 0
    return points


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _grid(spec: dict[str, Any], params: list[dict[str, Any]]) -> Iterator[Refusal]:
    """optuna/service.py _validate_grid_setting."""
    try:
        points = grid_points(params)
    except (ValueError, IndexError, ZeroDivisionError, OverflowError) as exc:
        if isinstance(exc, ValueError) and "step is nil" in str(exc):
            yield None, "", f"grid needs a step for every double parameter: {exc}"
        elif isinstance(exc, IndexError):
            yield None, "", "a double parameter's range holds no grid point (numpy.arange gives none)"
        else:
            yield None, "", f"failed to validate parameters: {type(exc).__name__}: {exc}"
        return
    most = spec.get("maxTrialCount")
    if isinstance(most, int) and not isinstance(most, bool) and most > points:
        yield None, "maxTrialCount", (f"grid has {points} point(s) but maxTrialCount is {most}: the optuna service "
                                      "refuses more trials than grid points (Max Trial Count > all possible search "
                                      "combinations)")


def hyperband_eta(values: dict[str, str]) -> int:
    """hyperband/service.py ValidateAlgorithmSettings: int(float(eta)), 3 when absent or <= 0 (may raise)."""
    if "eta" not in values:
        return 3
    eta = int(float(values["eta"]))
    return eta if eta > 0 else 3


def _hyperband(spec: dict[str, Any], settings: list[tuple[int, str, str]], params: list[dict[str, Any]]) -> Iterator[Refusal]:
    """hyperband/service.py ValidateAlgorithmSettings, with the exceptions it does not catch (a raise refuses)."""
    values = {name: value for _, name, value in settings}
    index = {name: i for i, name, _ in settings}
    if "r_l" not in values or "resource_name" not in values:
        yield None, "", "hyperband needs the settings r_l and resource_name (r_l and resource_name must be set)"
        return
    try:
        r_l = float(values["r_l"])
    except ValueError:
        r_l = -1.0
    if r_l < 0:
        yield index["r_l"], "r_l", "r_l must be a positive float number"
        return
    try:
        eta = hyperband_eta(values)
    except (ValueError, OverflowError) as exc:
        yield index["eta"], "eta", _escaped(exc) + " (eta is read as int(float(eta)))"
        return
    try:
        s_max = int(math.log(r_l) / math.log(eta))
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        culprit = "eta" if isinstance(exc, ZeroDivisionError) else "r_l"
        hint = (f"eta {values.get('eta')} is read as {eta}, and log({eta}) is 0" if culprit == "eta"
                else f"it takes log(r_l) of {values['r_l']}")
        yield index[culprit], culprit, f"{_escaped(exc)} ({hint})"
        return
    need = int(math.ceil(eta ** s_max))
    parallel = spec.get("parallelTrialCount", 3)
    if isinstance(parallel, int) and not isinstance(parallel, bool) and parallel < need:
        yield None, "parallelTrialCount", (f"hyperband with r_l {values['r_l']} and eta {eta} needs "
                                           f"parallelTrialCount >= {need} (parallelTrialCount must be not less than "
                                           f"{need})")
        return
    if values["resource_name"] not in {str(p.get("name")) for p in params}:
        yield index["resource_name"], "resource_name", "value of resource_name setting must be in parameters"


def early_stopping_refusals(spec: dict[str, Any]) -> Iterator[Refusal]:
    block = spec.get("earlyStopping")
    if not isinstance(block, dict) or block.get("algorithmName") != "medianstop":
        return
    yield from _table_refusals(MEDIANSTOP, _settings(block), "medianstop", strict_names=True)
