"""Experiments Katib accepts that never start a trial: the "never starts" verdict.

Katib's webhook accepts these, the services' ValidateAlgorithmSettings lets them
through, and then no trial is ever created or can ever run. Nothing marks the
Experiment Failed: it stays Running (or Created) with the suggestion failing
on every GetSuggestions call, the controller retrying a trial it cannot build,
or every trial pod waiting for a volume that never comes. So each is an error,
with a rule id of its own (docs/katib-rules.md, "Never starts"):

- ``never-starts-service``: the suggestion service raises while it converts the
  search space or its settings on the first GetSuggestions call (each
  service's search_space.py / base_service.py and what it calls), or answers
  with no trial at all (hyperband's bracket count below zero);
- ``suggestion-stalls``: the first trials run, then every later GetSuggestions
  call raises (skopt's EIps/PIps acquisition, told plain objective values);
- ``never-starts-metadata``: ``${trialSpec.Labels[k]}`` / ``Annotations[k]`` for
  a key the template's metadata lacks (manifest/generator.go applyParameters);
- ``never-starts-value``: a list value that breaks the trial template's JSON
  once substituted (applyParameters replaces text in the JSON; the trial is
  never created and the controller retries it forever);
- ``never-starts-suggestion-volume``: ``suggestion_trial_dir`` without
  ``resumePolicy: FromVolume``: the pod webhook mounts a PersistentVolumeClaim
  only FromVolume creates (pod/inject_webhook.go mutateSuggestionVolume,
  suggestion_controller.go ReconcileSuggestion);
- ``never-starts-nas-reference``: a NAS trialParameter naming no assignment the
  NAS service returns, or an assignment no trialParameter takes (applyParameters);
- ``never-starts-trial-name``: trial names longer than a label value may be
  (63): pbt names trials ``<experiment>-<uuid4>`` (pbt/service.py PbtJobQueue.append),
  and the Job's ``batch.kubernetes.io/job-name`` and the pod webhook's
  ``katib.kubeflow.org/trial`` labels carry the trial name.

Findings go through the caller's checker (``katib_rules.Checker``); nothing here
imports it, so imports run one way.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator

from ..io.goparse import atoi, parse_float
from ..spec.searchspace import SERVICE, arange
from .access import as_list, as_map
from .services import parameters_of

SPEC = ("spec",)
RULE = "never-starts-service"
STALLS = "suggestion-stalls"
LABEL_VALUE_MAX = 63
UUID4_LENGTH = 36
# What each NAS service returns as a trial's assignments (nas/enas/service.py, nas/darts/service.py GetSuggestions).
NAS_ASSIGNMENTS = {"enas": ("architecture", "nn_config"), "darts": ("algorithm-settings", "search-space", "num-layers")}
SUGGESTION_VOLUME_KEY = "suggestion_trial_dir"  # consts.SuggestionVolumeMountKey
# manifest/generator.go: consts.TrialTemplateMetaReplaceFormatRegex and TrialTemplateMetaParseFormatRegex.
META = re.compile(r"\$\{trialSpec\.(.+?)\}")
META_INDEX = re.compile(r"(.+)\[(.+)]")
JSON_ESCAPES = set('"\\/bfnrtu')

Problem = tuple[tuple[Any, ...], str]  # (path, message)


def check(c: Any, spec: dict[str, Any], exp: dict[str, Any], refused: bool = False) -> None:
    """Every never-starts rule over one Experiment; c is a katib_rules.Checker. refused: the service's
    ValidateAlgorithmSettings refuses the Experiment already (its GetSuggestions is then never called)."""
    algorithm = as_map(spec.get("algorithm")).get("algorithmName")
    if isinstance(algorithm, str) and not refused:
        for path, message in service_failures(spec, algorithm):
            stalls = message.startswith(STALLS + ": ")
            c.error(STALLS if stalls else RULE, path, message.removeprefix(STALLS + ": "))
    metadata_references(c, spec)
    json_breaking_values(c, spec)
    suggestion_volume(c, spec)
    nas_references(c, spec, algorithm)
    trial_names(c, spec, exp, algorithm)


# ---------------------------------------------------------------------------
# the suggestion services' GetSuggestions


def service_failures(spec: dict[str, Any], algorithm: str) -> list[Problem]:
    """What the algorithm's service raises (or returns nothing for) once it converts the search space."""
    service = SERVICE.get(algorithm)
    check_service = _SERVICES.get(service or "")
    if check_service is None:
        return []
    return list(check_service(spec, algorithm))


def _param_path(i: int, key: str | None = None) -> tuple[Any, ...]:
    return (*SPEC, "parameters", i, "feasibleSpace", key) if key else (*SPEC, "parameters", i, "parameterType")


def _floats(space: dict[str, Any]) -> tuple[float, float, float | None] | None:
    """(min, max, step) as Python's float() reads them; None when one does not parse (the search-space lint says so)."""
    try:
        lo, hi = float(str(space.get("min"))), float(str(space.get("max")))
        step = float(str(space["step"])) if space.get("step") not in (None, "") else None
    except ValueError:
        return None
    return lo, hi, step


def _unknown_type(params: list[dict[str, Any]], service: str) -> Iterator[Problem]:
    for i, p in enumerate(params):
        if p.get("parameterType") == "unknown":  # the webhook admits it (other names are katib-9's)
            yield _param_path(i), (f"parameterType {p.get('parameterType')!r}: the {service} service cannot convert "
                                   "it (internal/search_space.py convert_parameter returns nothing for it) and fails "
                                   "on every GetSuggestions call, so no trial is ever created")
            return


def _hyperopt(spec: dict[str, Any], algorithm: str) -> Iterator[Problem]:
    """hyperopt/base_service.py create_hyperopt_domain, with hyperopt 0.2.5's range check
    (pyll_utils.py validate_distribution_range: `low and high and not low < high` raises)."""
    params = parameters_of(spec)
    yield from _unknown_type(params, "hyperopt")
    for i, p in enumerate(params):
        space = as_map(p.get("feasibleSpace"))
        if p.get("parameterType") not in ("int", "double"):
            continue
        bounds = _floats(space)
        if bounds is None:
            continue
        lo, hi, _ = bounds
        dist = space.get("distribution") or "uniform"
        if dist in ("logUniform", "logNormal") and (lo <= 0 or hi <= 0):
            key = "min" if lo <= 0 else "max"
            yield _param_path(i, key), (f"{dist} with {key} {space.get(key)}: the hyperopt service ({algorithm}) "
                                        "takes math.log of min and max, which raises ValueError (math domain error) "
                                        "on every GetSuggestions call, so no trial is ever created")
            return
        if dist in ("logUniform",):
            lo, hi = math.log(lo), math.log(hi)
        elif dist not in ("uniform", "unknown"):
            continue  # normal, logNormal: mu and sigma, no range check
        if lo and hi and lo == hi:  # `low and high and not low < high`; low > high: the search-space lint
            yield _param_path(i, "max"), (f"min and max are both {space.get('min')}: hyperopt refuses a "
                                          f"{'log-' if dist == 'logUniform' else ''}uniform range whose low is not "
                                          "below its high (ValueError: low should be less than high) on every "
                                          "GetSuggestions call, so no trial is ever created; use a categorical "
                                          "parameter for a fixed value")
            return


def _optuna(spec: dict[str, Any], algorithm: str) -> Iterator[Problem]:
    """optuna/base_service.py _get_optuna_search_space, run on every GetSuggestions call."""
    params = parameters_of(spec)
    yield from _unknown_type(params, "optuna")
    for i, p in enumerate(params):
        ptype, space = p.get("parameterType"), as_map(p.get("feasibleSpace"))
        if ptype not in ("int", "double"):
            continue
        dist = space.get("distribution") or "uniform"
        if dist in ("normal", "logNormal"):
            yield _param_path(i, "distribution"), (
                f"distribution {dist}: the optuna service ({algorithm}) supports only uniform and logUniform for "
                f"{ptype} parameters and raises ValueError (Unsupported distribution) on every GetSuggestions call, "
                "so no trial is ever created")
            return
        if dist != "logUniform":
            continue
        try:
            low = max(1, int(str(space.get("min")))) if ptype == "int" else max(1e-10, float(str(space.get("min"))))
            high = int(str(space.get("max"))) if ptype == "int" else float(str(space.get("max")))
        except ValueError:
            continue
        if low > high:
            yield _param_path(i, "max"), (
                f"logUniform raises the low bound to {low} (optuna/base_service.py: max({1 if ptype == 'int' else 1e-10}"
                f", min)), above max {space.get('max')}: optuna raises ValueError on every GetSuggestions call")
            return


CMAES_RESTARTS = ("ipop", "bipop", "none")


def _goptuna(spec: dict[str, Any], algorithm: str) -> Iterator[Problem]:
    """goptuna/converter.go toGoptunaSampler and toGoptunaSearchSpace (Go's strconv), then sample.go's bounds.

    ValidateAlgorithmSettings reports their errors as INTERNAL, which the controller does not count as a
    refusal (suggestionclient.go), so the suggestion fails on every GetSuggestions call instead.
    """
    settings = as_list(as_map(spec.get("algorithm")).get("algorithmSettings"))
    if algorithm == "cmaes":
        for j, s in enumerate(settings):
            name, value = as_map(s).get("name"), str(as_map(s).get("value") or "")
            bad = (name == "random_state" and atoi(value) is None) or \
                (name == "sigma" and parse_float(value) is None) or \
                (name == "restart_strategy" and value not in CMAES_RESTARTS)
            if bad:
                what = "ipop, bipop or none (lower case)" if name == "restart_strategy" else \
                    "an integer for Go's strconv.Atoi" if name == "random_state" else "a number for Go's ParseFloat"
                yield (*SPEC, "algorithm", "algorithmSettings", j, "value"), (
                    f"{name}: {value!r} is not {what}: goptuna cannot create its sampler (converter.go "
                    "toGoptunaSampler); ValidateAlgorithmSettings reports that as INTERNAL, which Katib does not "
                    "count as a refusal, so the suggestion fails on every GetSuggestions call and no trial is created")
                return
    for i, p in enumerate(parameters_of(spec)):
        ptype, space = p.get("parameterType"), as_map(p.get("feasibleSpace"))
        if ptype in ("categorical", "discrete"):
            continue
        if ptype not in ("int", "double", "unknown"):
            continue
        if ptype == "unknown":
            yield _param_path(i), (f"parameterType {ptype!r}: goptuna refuses it (converter.go toGoptunaSearchSpace: "
                                   "Unsupported parameter type) on every GetSuggestions call")
            return
        parse = atoi if ptype == "int" else parse_float
        for key in ("max", "min", "step"):
            raw = space.get(key)
            if key == "step" and raw in (None, ""):
                continue
            if parse(str(raw)) is None:
                yield _param_path(i, key), (
                    f"{raw!r} is not {'an integer for Go strconv.Atoi' if ptype == 'int' else 'a number for Go strconv.ParseFloat'}"
                    f": goptuna cannot build its search space (converter.go toGoptunaSearchSpace) and fails on every "
                    "GetSuggestions call, so no trial is created")
                return


SKOPT_TREES = ("RF", "ET", "GBRT")


def _skopt(spec: dict[str, Any], algorithm: str) -> Iterator[Problem]:
    """skopt/base_service.py create_optimizer (skopt.space.Integer, Real with a log-uniform prior, Optimizer) and
    its first ask()."""
    params = parameters_of(spec)
    yield from _unknown_type(params, "skopt")
    for i, p in enumerate(params):
        ptype, space = p.get("parameterType"), as_map(p.get("feasibleSpace"))
        if ptype not in ("int", "double"):
            continue
        try:
            lo, hi = (int(str(space.get(k))) if ptype == "int" else float(str(space.get(k))) for k in ("min", "max"))
        except ValueError:
            continue
        if hi <= lo:
            if hi == lo:
                yield _param_path(i, "max"), (
                    f"min and max are both {space.get('min')}: scikit-optimize's {'Integer' if ptype == 'int' else 'Real'}"
                    " raises ValueError (the lower bound has to be less than the upper bound) when the skopt service "
                    "builds its optimizer, on every GetSuggestions call")
            return
        if ptype == "double" and lo <= 0:
            yield _param_path(i, "min"), (
                f"min {space.get('min')}: the skopt service gives every double a log-uniform prior "
                "(skopt.space.Real(min, max, 'log-uniform')), which raises ValueError (search space should not "
                "contain 0) on every GetSuggestions call, so no trial is ever created; use min > 0")
            return
    settings = _named_settings(spec)
    estimator = settings.get("base_estimator", (None, "GP"))[1]
    optimizer = settings.get("acq_optimizer", (None, "auto"))
    only_categorical = bool(params) and all(p.get("parameterType") in ("categorical", "discrete") for p in params)
    if optimizer[1] == "lbfgs" and (estimator in SKOPT_TREES or only_categorical):
        why = f"base_estimator {estimator}" if estimator in SKOPT_TREES else "a search space of categorical values"
        yield (*SPEC, "algorithm", "algorithmSettings", optimizer[0], "value"), (
            f"acq_optimizer lbfgs with {why}: scikit-optimize's Optimizer raises ValueError (should run with "
            "acq_optimizer='sampling') when the skopt service creates it, on every GetSuggestions call")
        return
    if "n_initial_points" in settings and _int_or_none(settings["n_initial_points"][1]) == 0:
        yield (*SPEC, "algorithm", "algorithmSettings", settings["n_initial_points"][0], "value"), (
            "n_initial_points 0: scikit-optimize's first ask() raises RuntimeError (Random evaluations exhausted "
            "and no model has been fit), so no trial is ever created")
        return
    acq = settings.get("acq_func")
    if acq is not None and acq[1] in ("EIps", "PIps"):
        yield (*SPEC, "algorithm", "algorithmSettings", acq[0], "value"), (
            f"{STALLS}: acq_func {acq[1]}: scikit-optimize expects (objective, duration) pairs for it, and the skopt "
            "service tells it plain objective values (TypeError: expected y to be a list of (func_val, t)): the first "
            "trials run, then every GetSuggestions call fails and the Experiment never completes")


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _named_settings(spec: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """setting name -> (index, value), the last of a name winning (as the services build their dicts)."""
    out = {}
    for j, s in enumerate(as_list(as_map(spec.get("algorithm")).get("algorithmSettings"))):
        name, value = as_map(s).get("name"), as_map(s).get("value")
        if isinstance(name, str):
            out[name] = (j, "" if value is None else str(value))
    return out


def _hyperband(spec: dict[str, Any], algorithm: str) -> Iterator[Problem]:
    """hyperband/service.py GetSuggestions: HyperBandParam.convert (eta read as a float here, not as
    ValidateAlgorithmSettings reads it), then parsing_util.py parse_parameter_configs."""
    settings = _named_settings(spec)
    try:
        r_l = float(settings["r_l"][1])
        eta = float(settings["eta"][1]) if "eta" in settings else 3.0
        eta = eta if eta > 0 else 3.0
        s_max = int(math.log(r_l) / math.log(eta))
    except (KeyError, ValueError, ZeroDivisionError, OverflowError):
        return  # ValidateAlgorithmSettings refuses these first
    if s_max < 0:
        where = settings["eta"][0] if "eta" in settings and eta < 1 else settings["r_l"][0]
        yield (*SPEC, "algorithm", "algorithmSettings", where, "value"), (
            f"r_l {settings['r_l'][1]} with eta {eta:g} gives s_max = int(log(r_l) / log(eta)) = {s_max} < 0: the "
            "hyperband service answers GetSuggestions with no trial (HyperBandParam.convert, current_s < 0), which "
            "the controller refuses (The response contains unexpected trials), so no trial is ever created; use "
            "r_l above 1/eta and eta > 1")
        return
    params = parameters_of(spec)
    names = [p.get("name") for p in params]
    for i, p in enumerate(params):
        ptype, space = p.get("parameterType"), as_map(p.get("feasibleSpace"))
        if ptype == "unknown":
            yield _param_path(i), (f"parameterType {ptype!r}: the hyperband service cannot read it "
                                   "(parsing_util.py parse_parameter_configs) and fails on every GetSuggestions call")
            return
        if ptype == "discrete":
            for j, value in enumerate(as_list(space.get("list"))):
                try:
                    int(str(value))
                except ValueError:
                    yield (*SPEC, "parameters", i, "feasibleSpace", "list", j), (
                        f"`{value}`: the hyperband service reads discrete values with int() (parsing_util.py "
                        "parse_parameter_configs), which raises ValueError on every GetSuggestions call, so no trial "
                        "is ever created: use whole numbers, or a categorical parameter")
                    return
    for i, p in enumerate(params):
        if names.index(p.get("name")) != i:
            yield (*SPEC, "parameters", i, "name"), (f"parameter name {p.get('name')} is used twice: the hyperband "
                                                    "service raises (Parameter names are not unique) on every "
                                                    "GetSuggestions call")
            return


def _pbt(spec: dict[str, Any], algorithm: str) -> Iterator[Problem]:
    """pbt/service.py GetSuggestions: HyperParameterSampler's numpy.arange(min, max + step / 2, step)."""
    params = parameters_of(spec)
    yield from _unknown_type(params, "pbt")
    for i, p in enumerate(params):
        space = as_map(p.get("feasibleSpace"))
        if p.get("parameterType") == "double" and space.get("step") in (None, ""):
            yield _param_path(i, "step"), (
                "no step: the pbt service samples a double from numpy.arange(min, max + step / 2, step) and "
                "float('') raises ValueError on the first GetSuggestions call, so no trial is ever created")
            return


def _enas(spec: dict[str, Any], algorithm: str) -> Iterator[Problem]:
    """nas/enas/Operation.py SearchSpace._parse_operations, run when the first GetSuggestions call sets up."""
    for k, op in enumerate(as_list(as_map(spec.get("nasConfig")).get("operations"))):
        for j, p in enumerate(as_list(as_map(op).get("parameters"))):
            ptype, space = as_map(p).get("parameterType"), as_map(as_map(p).get("feasibleSpace"))
            path = (*SPEC, "nasConfig", "operations", k, "parameters", j, "feasibleSpace")
            if ptype == "int":
                try:
                    for key in ("min", "max", "step"):
                        int(str(space.get(key) if space.get(key) is not None else ""))
                except ValueError:
                    yield (*path, key), (f"{key} {space.get(key)!r}: the enas service reads an int operation "
                                         "parameter's min, max and step with int() (Operation.py "
                                         "SearchSpace._parse_operations), which raises on the first GetSuggestions "
                                         "call, so no trial is ever created")
                    return
            elif ptype == "double":
                try:
                    lo, hi, step = (float(str(space.get(key))) for key in ("min", "max", "step"))
                    values = arange(lo, hi + step, step)
                except (ValueError, ZeroDivisionError):
                    continue  # validate_operations or the range check catches it
                if values and values[-1] > hi:
                    yield (*path, "max"), (
                        f"numpy.arange({space.get('min')}, max + step, {space.get('step')}) ends at {values[-1]!r}, "
                        f"above max {space.get('max')}: the enas service then deletes from a numpy array (Operation.py "
                        "SearchSpace._parse_operations: `del double_list[-1]`), which raises ValueError on the first "
                        "GetSuggestions call; make max - min a multiple of step exactly in floating point")
                    return


_SERVICES = {"hyperopt": _hyperopt, "optuna": _optuna, "goptuna": _goptuna, "skopt": _skopt,
             "hyperband": _hyperband, "pbt": _pbt, "enas": _enas}


# ---------------------------------------------------------------------------
# the trial template


def _trial_parameters(spec: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(i, tp) for i, tp in enumerate(as_list(as_map(spec.get("trialTemplate")).get("trialParameters")))
            if isinstance(tp, dict)]


def metadata_references(c: Any, spec: dict[str, Any]) -> None:
    """manifest/generator.go applyParameters: a Labels[k] / Annotations[k] reference reads the trial template's own
    metadata (trialSpec.GetLabels / GetAnnotations) and refuses a missing key."""
    ts = as_map(spec.get("trialTemplate")).get("trialSpec")
    if not isinstance(ts, dict):
        return  # a ConfigMap template: its metadata is on the cluster
    meta = as_map(ts.get("metadata"))
    for i, tp in _trial_parameters(spec):
        ref = tp.get("reference")
        m = META.search(ref) if isinstance(ref, str) else None
        sub = META_INDEX.search(m.group(1)) if m else None
        if sub is None or sub.group(1) not in ("Labels", "Annotations"):
            continue
        bag = as_map(meta.get("labels" if sub.group(1) == "Labels" else "annotations"))
        if sub.group(2) not in bag:
            where = f"trialSpec.metadata.{'labels' if sub.group(1) == 'Labels' else 'annotations'}"
            c.error("never-starts-metadata", ("spec", "trialTemplate", "trialParameters", i, "reference"),
                    f"`{ref}`: the trial template has no {where}[{sub.group(2)}], and Katib's controller refuses to "
                    f"build a trial without it (manifest/generator.go applyParameters: failed to fetch "
                    f"{sub.group(1)[:-1]}), so no trial is ever created; add it to {where}")


def json_breaking_values(c: Any, spec: dict[str, Any]) -> None:
    """applyParameters replaces each placeholder in the template's JSON text; a value with a quote, a control
    character or a backslash that is no JSON escape makes the text stop being JSON (ConvertStringToUnstructured
    fails): that trial is never created, and the controller retries it forever, creating nothing after it."""
    if not isinstance(as_map(spec.get("trialTemplate")).get("trialSpec"), dict):
        return
    used = {tp.get("reference") for _, tp in _trial_parameters(spec) if isinstance(tp.get("reference"), str)}
    for i, p in enumerate(parameters_of(spec)):
        if not isinstance(p.get("name"), str) or p["name"] not in used or \
                p.get("parameterType") not in ("categorical", "discrete"):
            continue
        for j, value in enumerate(as_list(as_map(p.get("feasibleSpace")).get("list"))):
            problem = _json_problem(str(value))
            if problem is None:
                continue
            path = (*SPEC, "parameters", i, "feasibleSpace", "list", j)
            if problem.startswith("changes"):
                c.warning("never-starts-value", path,
                          f"`{value}`: Katib puts the value into the trial template's JSON text as it is "
                          f"(manifest/generator.go applyParameters), where it {problem}")
            else:
                c.error("never-starts-value", path,
                        f"`{value}` {problem}: Katib puts the value into the trial template's JSON text as it is "
                        "(manifest/generator.go applyParameters), the text stops being JSON, and the controller "
                        "cannot create that trial; it retries it forever and creates no trial after it")


def _json_problem(value: str) -> str | None:
    if '"' in value:
        return "holds a double quote"
    if any(ord(ch) < 0x20 for ch in value):
        return "holds a control character (a newline or tab)"
    for k, ch in enumerate(value):
        if ch == "\\":
            nxt = value[k + 1:k + 2]
            if nxt not in JSON_ESCAPES or (nxt == "u" and not re.fullmatch(r"[0-9a-fA-F]{4}", value[k + 2:k + 6])):
                return "holds a backslash that is no JSON escape"
    if "\\" in value:
        return "changes: its backslashes are read as JSON escapes, so the trial gets another text"
    return None


def suggestion_volume(c: Any, spec: dict[str, Any]) -> None:
    for j, s in enumerate(as_list(as_map(spec.get("algorithm")).get("algorithmSettings"))):
        s = as_map(s)
        if s.get("name") != SUGGESTION_VOLUME_KEY or not s.get("value") or spec.get("resumePolicy") == "FromVolume":
            continue
        c.error("never-starts-suggestion-volume", (*SPEC, "algorithm", "algorithmSettings", j, "value"),
                f"{SUGGESTION_VOLUME_KEY} without resumePolicy FromVolume: Katib's pod webhook mounts the suggestion's "
                "PersistentVolumeClaim into every trial pod (pod/inject_webhook.go mutateSuggestionVolume), but only "
                "FromVolume creates that claim (suggestion_controller.go ReconcileSuggestion), so every trial pod "
                "waits for it forever; set resumePolicy: FromVolume", at=(*SPEC, "resumePolicy")
                if "resumePolicy" in spec else None)
        return


def nas_references(c: Any, spec: dict[str, Any], algorithm: Any) -> None:
    """applyParameters: each non-metadata reference must be an assignment the NAS service returns, and the
    assignments must be as many as those references."""
    expected = NAS_ASSIGNMENTS.get(algorithm) if spec.get("nasConfig") is not None else None
    if expected is None:
        return
    refs = []
    for i, tp in _trial_parameters(spec):
        ref = tp.get("reference")
        if not isinstance(ref, str) or not ref or META.search(ref):
            continue
        refs.append(ref)
        if ref not in expected:
            c.error("never-starts-nas-reference", ("spec", "trialTemplate", "trialParameters", i, "reference"),
                    f"`{ref}` is no assignment the {algorithm} service returns ({', '.join(expected)}): Katib's "
                    "controller cannot build a trial (manifest/generator.go applyParameters), so none is ever created")
            return
    missing = [name for name in expected if name not in refs]
    if missing and _trial_parameters(spec):
        c.error("never-starts-nas-reference", ("spec", "trialTemplate", "trialParameters"),
                f"no trialParameter takes {', '.join(missing)}: the {algorithm} service returns "
                f"{', '.join(expected)} for every trial, and Katib's controller refuses a trial whose assignments "
                "outnumber the trialParameters (manifest/generator.go applyParameters), so none is ever created")


def trial_names(c: Any, spec: dict[str, Any], exp: dict[str, Any], algorithm: Any) -> None:
    name = as_map(exp.get("metadata")).get("name")
    if algorithm != "pbt" or not isinstance(name, str) or not name:
        return
    length = len(name) + 1 + UUID4_LENGTH
    if length > LABEL_VALUE_MAX:
        c.error("never-starts-trial-name", ("metadata", "name"),
                f"pbt names each trial `{name}-<uuid4>` (pbt/service.py PbtJobQueue.append), {length} characters, "
                f"and a trial's name becomes a label value (the Job's batch.kubernetes.io/job-name, the pod "
                f"webhook's katib.kubeflow.org/trial), which the API server limits to {LABEL_VALUE_MAX}: no trial "
                f"ever runs; the Experiment's name (`{name}`, {len(name)} characters) must be at most "
                f"{LABEL_VALUE_MAX - 1 - UUID4_LENGTH}")
