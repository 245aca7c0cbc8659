"""What the suggestion and early-stopping services refuse right after the Experiment is created.

Katib's webhook only checks that an algorithm name is known; its settings are
checked by the service that runs the algorithm (the controller calls
ValidateAlgorithmSettings / ValidateEarlyStoppingSettings once the Suggestion
is up) and a refusal marks the Experiment Failed at once. This module models
those checks for the services the default katib-config runs
(manifests/v1beta1/installs/katib-standalone/katib-config.yaml):

- random, tpe: hyperopt (pkg/suggestion/v1beta1/hyperopt/service.py,
  OptimizerConfiguration.validate_algorithm_spec): known settings only;
- grid, multivariate-tpe: optuna (optuna/service.py, _validate_grid_setting,
  _validate_tpe_setting); grid needs a step on every double and int and no more
  trials than grid points (internal/search_space.py convert_to_combinations);
- cmaes, sobol: goptuna (goptuna/service.go ValidateAlgorithmSettings,
  converter.go toGoptunaSampler): cmaes needs two or more double/int parameters;
- bayesianoptimization: skopt (skopt/service.py _validate_bayesianoptimization_setting);
- hyperband (hyperband/service.py ValidateAlgorithmSettings);
- pbt (pbt/service.py ValidateAlgorithmSettings);
- enas, darts (nas/enas/service.py, nas/darts/service.py ValidateAlgorithmSettings, nas/common/validation.py
  validate_operations; enas settings from nas/enas/AlgorithmSettings.py);
- medianstop (pkg/earlystopping/v1beta1/medianstop/service.py validate_medianstop_setting).

Names given with --algorithm (a cluster's
own services) are not checked here.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

Refusal = tuple[int | None, str, str]  # (setting index or None, setting name or "", message)

SERVICE = {"random": "hyperopt", "tpe": "hyperopt", "grid": "optuna", "multivariate-tpe": "optuna",
           "cmaes": "goptuna", "sobol": "goptuna", "bayesianoptimization": "skopt", "hyperband": "hyperband",
           "pbt": "pbt", "enas": "enas", "darts": "darts"}
OPERATIONS = "nasConfig.operations"  # a refusal reported as a warning, see _nas
PBT_REQUIRED = ("suggestion_trial_dir", "n_population", "truncation_threshold")


def _py_int(value: str) -> int:
    return int(value)


def _go_atoi(value: str) -> int:
    if not value or value.strip() != value or not value.lstrip("+-").isdigit():
        raise ValueError(f"strconv.Atoi: parsing {value!r}: invalid syntax")
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
# goptuna's cmaes ignores unknown names but parses these (converter.go toGoptunaSampler).
_GOPTUNA_CMAES = {
    "random_state": (_go_atoi, lambda v: True, ""),
    "sigma": (float, lambda v: True, ""),
    "restart_strategy": (str, lambda v: v in ("ipop", "bipop", "none"), "restart_strategy is not ipop, bipop or none"),
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


def algorithm_refusals(spec: dict[str, Any]) -> Iterator[Refusal]:
    """Refusals of the service the default katib-config runs for spec.algorithm."""
    block = spec.get("algorithm")
    name = block.get("algorithmName") if isinstance(block, dict) else None
    service = SERVICE.get(name) if isinstance(name, str) else None
    if service is None:
        return
    settings = _settings(block)
    raw = spec.get("parameters")
    params = [p for p in raw if isinstance(p, dict)] if isinstance(raw, list) else []
    if service in ("hyperopt", "optuna", "skopt"):
        yield from _table_refusals(_HYPEROPT[name], settings, name, strict_names=True)
        if name == "grid":
            yield from _grid(spec, params)
    elif service == "goptuna" and name == "cmaes":
        numeric = [p for p in params if p.get("parameterType") in ("double", "int")]
        if len(numeric) < 2:
            yield None, "", ("cmaes needs two or more double or int parameters (goptuna service.go "
                             f"ValidateAlgorithmSettings); this search space has {len(numeric)}")
        yield from _table_refusals(_GOPTUNA_CMAES, settings, name, strict_names=False)
    elif service == "hyperband":
        yield from _hyperband(spec, settings, params)
    elif service == "pbt":
        yield from _pbt(settings)
    elif service in ("enas", "darts"):
        yield from _nas(spec, settings, name)


def _nas(spec: dict[str, Any], settings: list[tuple[int, str, str]], name: str) -> Iterator[Refusal]:
    """nas/enas/service.py and nas/darts/service.py ValidateAlgorithmSettings; nas/common/validation.py."""
    nas = spec.get("nasConfig") if isinstance(spec.get("nasConfig"), dict) else {}
    if name == "enas":
        graph = nas.get("graphConfig") if isinstance(nas.get("graphConfig"), dict) else {}
        for key in ("inputSizes", "outputSizes", "numLayers"):
            if not graph.get(key):
                yield None, "", f"enas needs nasConfig.graphConfig.{key}"
                return
    why = _operations_problem(nas.get("operations"))
    if why is not None:
        # Reported as a warning (OPERATIONS): Katib's own darts-gpu example has an operation without
        # parameters, which validate_operations refuses as written.
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


def _operations_problem(operations: Any) -> str | None:
    """nas/common/validation.py validate_operations."""
    for op in operations if isinstance(operations, list) else []:
        if not isinstance(op, dict):
            continue
        params = op.get("parameters")
        if not op.get("operationType"):
            return "an operation has no operationType"
        if not params:
            return f"operation {op['operationType']} has no parameters"
        for p in params if isinstance(params, list) else []:
            if not isinstance(p, dict):
                continue
            ptype, space = p.get("parameterType"), p.get("feasibleSpace")
            space = space if isinstance(space, dict) else {}
            if not p.get("name") or not ptype:
                return f"a parameter of operation {op['operationType']} has no name or parameterType"
            if ptype in ("categorical", "discrete") and not space.get("list"):
                return f"parameter {p['name']} of operation {op['operationType']} has no feasibleSpace.list"
            if ptype in ("int", "double") and not space.get("min") and not space.get("max"):
                return f"parameter {p['name']} of operation {op['operationType']} has neither min nor max"
            if ptype == "double":
                try:
                    ok = bool(space.get("step")) and float(space["step"]) > 0
                except (ValueError, TypeError, OverflowError):
                    ok = False
                if not ok:
                    return f"parameter {p['name']} of operation {op['operationType']}: step should be > 0"
    return None


def _pbt(settings: list[tuple[int, str, str]]) -> Iterator[Refusal]:
    """pbt/service.py ValidateAlgorithmSettings."""
    values = {name: value for _, name, value in settings}
    index = {name: i for i, name, _ in settings}
    missing = [k for k in PBT_REQUIRED if k not in values]
    if missing:
        yield None, "", f"pbt needs the settings {', '.join(missing)}"
        return
    why = _check("n_population", values["n_population"], _py_int, lambda v: v >= 5, "n_population should be >= 5")
    if why is None:
        why = _check("truncation_threshold", values["truncation_threshold"], float, lambda v: 0 <= v <= 1,
                     "truncation_threshold should be between 0 and 1, inclusive")
        name = "truncation_threshold"
    else:
        name = "n_population"
    if why is not None:
        yield index[name], name, why
        return
    if "resample_probability" in values:
        # The service compares the setting's string with numbers (`0 <= "0.5"`), a TypeError for any value.
        yield index["resample_probability"], "resample_probability", \
            "any resample_probability makes the pbt service fail (it compares the string with numbers)"


def _grid(spec: dict[str, Any], params: list[dict[str, Any]]) -> Iterator[Refusal]:
    points = 1
    for p in params:
        ptype, space = p.get("parameterType"), p.get("feasibleSpace")
        if not isinstance(space, dict):
            return
        if ptype in ("double", "int"):
            if space.get("step") in (None, ""):
                yield None, "", (f"grid needs a step for every {ptype} parameter: {p.get('name')} has none "
                                 "(optuna internal/search_space.py convert_to_combinations)")
                return
            try:
                lo, hi, step = (float(space[k]) for k in ("min", "max", "step")) if ptype == "double" else \
                    (int(space[k]) for k in ("min", "max", "step"))
            except (KeyError, ValueError, TypeError):
                return  # the search-space rule reports it
            if step <= 0:
                return
            if ptype == "int":
                count = len(range(lo, hi + 1, step))
            else:
                count = max(0, math.ceil((hi + step - lo) / step))  # numpy.arange's length
                if count and lo + (count - 1) * step > hi:
                    count -= 1
            points *= count
        elif ptype in ("categorical", "discrete"):
            values = space.get("list")
            points *= len(values) if isinstance(values, list) else 0
    most = spec.get("maxTrialCount")
    if isinstance(most, int) and not isinstance(most, bool) and most > points:
        yield None, "maxTrialCount", (f"grid has {points} point(s) but maxTrialCount is {most}: the optuna service "
                                      "refuses more trials than grid points")


def _hyperband(spec: dict[str, Any], settings: list[tuple[int, str, str]], params: list[dict[str, Any]]) -> Iterator[Refusal]:
    values = {name: value for _, name, value in settings}
    index = {name: i for i, name, _ in settings}
    if "r_l" not in values or "resource_name" not in values:
        yield None, "", "hyperband needs the settings r_l and resource_name"
        return
    try:
        r_l = float(values["r_l"])
    except ValueError:
        r_l = -1.0
    if r_l < 0:
        yield index["r_l"], "r_l", "r_l must be a positive float number"
        return
    try:
        eta = int(float(values.get("eta", "3")))
    except (ValueError, OverflowError):
        return
    eta = eta if eta > 0 else 3
    try:
        s_max = int(math.log(r_l) / math.log(eta))
    except (ValueError, ZeroDivisionError):
        return
    need = int(math.ceil(eta ** s_max))
    parallel = spec.get("parallelTrialCount", 3)
    if isinstance(parallel, int) and not isinstance(parallel, bool) and parallel < need:
        yield None, "parallelTrialCount", f"hyperband with r_l {values['r_l']} and eta {eta} needs parallelTrialCount >= {need}"
    if values["resource_name"] not in {str(p.get("name")) for p in params}:
        yield index["resource_name"], "resource_name", "value of resource_name setting must be in parameters"


def early_stopping_refusals(spec: dict[str, Any]) -> Iterator[Refusal]:
    block = spec.get("earlyStopping")
    if not isinstance(block, dict) or block.get("algorithmName") != "medianstop":
        return
    yield from _table_refusals(MEDIANSTOP, _settings(block), "medianstop", strict_names=True)
