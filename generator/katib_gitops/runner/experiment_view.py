"""A typed view of the Katib Experiment the runner executes.

The runner takes a plain ``kubeflow.org/v1beta1`` Experiment dict (what
``render`` writes, or any Experiment manifest) and reads only what running it
needs. Fields Katib's mutating webhook would default are defaulted here too, so
an Experiment without them runs the way the cluster would run it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..io.findings import Finding, PathPart, UserError

PARAMETER_TYPES = ("int", "double", "discrete", "categorical")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push", "None")
DEFAULT_METRICS_FILE = "/var/log/katib/metrics.log"

TRIAL_PARAMETER = re.compile(r"\$\{trialParameters\.([^}]+)\}")
TRIAL_META = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels\[(.+)\]|Annotations\[(.+)\])\}$")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    min: str | None = None
    max: str | None = None
    step: str | None = None
    values: tuple[str, ...] = ()
    distribution: str = "uniform"
    path: tuple[PathPart, ...] = ()

    @property
    def is_numeric_list(self) -> bool:
        return bool(self.values) and all(_is_number(v) for v in self.values)


@dataclass(frozen=True)
class Objective:
    type: str  # minimize | maximize
    metric: str
    goal: float | None = None
    additional: tuple[str, ...] = ()
    strategies: Mapping[str, str] = field(default_factory=dict)

    @property
    def maximize(self) -> bool:
        return self.type == "maximize"

    @property
    def metric_names(self) -> tuple[str, ...]:
        return (self.metric, *self.additional)

    def better(self, a: float, b: float) -> bool:
        """Whether objective value ``a`` beats ``b`` (strictly)."""
        return a > b if self.maximize else a < b

    def reached(self, value: float) -> bool:
        if self.goal is None:
            return False
        return value >= self.goal if self.maximize else value <= self.goal


@dataclass(frozen=True)
class Setting:
    name: str
    value: str
    path: tuple[PathPart, ...]


@dataclass(frozen=True)
class Algorithm:
    name: str
    settings: tuple[Setting, ...] = ()
    path: tuple[PathPart, ...] = ("spec", "algorithm")


@dataclass(frozen=True)
class Collector:
    kind: str = "StdOut"
    path: str | None = None
    format: str = "TEXT"
    filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrialTemplate:
    primary_container_name: str
    container: Mapping[str, Any]
    container_path: tuple[PathPart, ...]
    trial_parameters: tuple[tuple[str, str], ...]  # (name, reference)
    api_version: str
    kind: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    gpus: int = 0  # nvidia.com/gpu the primary container asks for


@dataclass(frozen=True)
class Plan:
    name: str
    namespace: str
    parameters: tuple[Parameter, ...]
    objective: Objective
    algorithm: Algorithm
    early_stopping: Algorithm | None
    max_trial_count: int | None
    parallel_trial_count: int
    max_failed_trial_count: int | None
    collector: Collector
    template: TrialTemplate
    source: str = "-"
    resume_policy: str = "Never"  # the mutating webhook's default

    def error(self, message: str, path: tuple[PathPart, ...] = ()) -> UserError:
        return UserError(Finding(message, path, file=self.source))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


class _Reader:
    """Field access that turns a missing or mistyped field into a UserError."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, message: str, path: tuple[PathPart, ...]) -> UserError:
        return UserError(Finding(message, path, file=self.source))

    def mapping(self, value: Any, path: tuple[PathPart, ...], required: bool = True) -> dict:
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail("expected a mapping" if value is not None else "is required", path)
        return value

    def sequence(self, value: Any, path: tuple[PathPart, ...]) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail("expected a list", path)
        return value

    def string(self, value: Any, path: tuple[PathPart, ...], required: bool = True) -> str | None:
        if value is None or value == "":
            if required:
                raise self.fail("is required", path)
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail("expected a string", path)
        return str(value)

    def count(self, value: Any, path: tuple[PathPart, ...], minimum: int) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail("expected an integer", path)
        if value < minimum:
            raise self.fail(f"must be at least {minimum}", path)
        return value


def plan_from_experiment(experiment: Mapping[str, Any], source: str = "-") -> Plan:
    r = _Reader(source)
    root = r.mapping(experiment, ())
    if root.get("kind") not in (None, "Experiment"):
        raise r.fail(f"expected a Katib Experiment, got kind {root.get('kind')!r}", ("kind",))
    metadata = r.mapping(root.get("metadata"), ("metadata",))
    name = r.string(metadata.get("name"), ("metadata", "name"))
    namespace = r.string(metadata.get("namespace"), ("metadata", "namespace"), required=False)
    spec = r.mapping(root.get("spec"), ("spec",))

    if spec.get("nasConfig") is not None:
        raise r.fail("neural architecture search (nasConfig) is not available locally; "
                     "run it on a cluster", ("spec", "nasConfig"))
    parameters = tuple(_parameters(r, spec))
    objective = _objective(r, spec)
    algorithm = _algorithm(r, spec.get("algorithm"), ("spec", "algorithm"), "algorithm")
    early = spec.get("earlyStopping")
    early_stopping = (_algorithm(r, early, ("spec", "earlyStopping"), "early stopping")
                      if early else None)

    max_trials = r.count(spec.get("maxTrialCount"), ("spec", "maxTrialCount"), 1)
    parallel = r.count(spec.get("parallelTrialCount"), ("spec", "parallelTrialCount"), 1)
    max_failed = r.count(spec.get("maxFailedTrialCount"), ("spec", "maxFailedTrialCount"), 0)

    return Plan(
        name=name,
        namespace=namespace or "default",
        parameters=parameters,
        objective=objective,
        algorithm=algorithm,
        early_stopping=early_stopping,
        max_trial_count=max_trials,
        parallel_trial_count=parallel if parallel is not None else 3,  # Katib's default
        max_failed_trial_count=max_failed,
        collector=_collector(r, spec),
        template=_template(r, spec, {p.name for p in parameters}),
        source=source,
        resume_policy=r.string(spec.get("resumePolicy"), ("spec", "resumePolicy"), required=False) or "Never",
    )


def _parameters(r: _Reader, spec: dict):
    items = r.sequence(spec.get("parameters"), ("spec", "parameters"))
    if not items:
        raise r.fail("at least one parameter is required", ("spec", "parameters"))
    seen: set[str] = set()
    for i, item in enumerate(items):
        path = ("spec", "parameters", i)
        item = r.mapping(item, path)
        name = r.string(item.get("name"), (*path, "name"))
        if name in seen:
            raise r.fail(f"duplicate parameter {name!r}", (*path, "name"))
        seen.add(name)
        ptype = r.string(item.get("parameterType"), (*path, "parameterType"))
        if ptype not in PARAMETER_TYPES:
            raise r.fail(f"unknown parameterType {ptype!r} (one of {', '.join(PARAMETER_TYPES)})",
                         (*path, "parameterType"))
        fs_path = (*path, "feasibleSpace")
        fs = r.mapping(item.get("feasibleSpace"), fs_path)
        dist = r.string(fs.get("distribution"), (*fs_path, "distribution"), required=False) or "uniform"
        if dist not in DISTRIBUTIONS:
            raise r.fail(f"unknown distribution {dist!r} (one of {', '.join(DISTRIBUTIONS)})",
                         (*fs_path, "distribution"))
        if ptype in ("int", "double"):
            lo = r.string(fs.get("min"), (*fs_path, "min"))
            hi = r.string(fs.get("max"), (*fs_path, "max"))
            step = r.string(fs.get("step"), (*fs_path, "step"), required=False)
            convert = int if ptype == "int" else float
            for key, text in (("min", lo), ("max", hi), ("step", step)):
                if text is None:
                    continue
                try:
                    convert(text)
                except ValueError:
                    raise r.fail(f"{text!r} is not {'an integer' if ptype == 'int' else 'a number'}",
                                 (*fs_path, key)) from None
            if convert(lo) > convert(hi):
                raise r.fail(f"min {lo} is greater than max {hi}", (*fs_path, "min"))
            if step is not None and convert(step) <= 0:
                raise r.fail("step must be positive", (*fs_path, "step"))
            yield Parameter(name, ptype, lo, hi, step, (), dist, path)
        else:
            values = r.sequence(fs.get("list"), (*fs_path, "list"))
            if not values:
                raise r.fail("list must not be empty", (*fs_path, "list"))
            texts = tuple(r.string(v, (*fs_path, "list", j)) for j, v in enumerate(values))
            if len(set(texts)) != len(texts):
                raise r.fail("list has duplicate values", (*fs_path, "list"))
            yield Parameter(name, ptype, None, None, None, texts, dist, path)


def _objective(r: _Reader, spec: dict) -> Objective:
    path = ("spec", "objective")
    obj = r.mapping(spec.get("objective"), path)
    otype = r.string(obj.get("type"), (*path, "type"))
    if otype not in ("minimize", "maximize"):
        raise r.fail(f"type must be minimize or maximize, got {otype!r}", (*path, "type"))
    metric = r.string(obj.get("objectiveMetricName"), (*path, "objectiveMetricName"))
    additional = tuple(
        r.string(m, (*path, "additionalMetricNames", i))
        for i, m in enumerate(r.sequence(obj.get("additionalMetricNames"), (*path, "additionalMetricNames")))
    )
    goal = obj.get("goal")
    if goal is not None:
        if isinstance(goal, bool) or not isinstance(goal, (int, float, str)) or not _is_number(goal):
            raise r.fail("goal must be a number", (*path, "goal"))
        goal = float(goal)
    default = "max" if otype == "maximize" else "min"
    strategies = {m: default for m in (metric, *additional)}
    for i, item in enumerate(r.sequence(obj.get("metricStrategies"), (*path, "metricStrategies"))):
        spath = (*path, "metricStrategies", i)
        item = r.mapping(item, spath)
        mname = r.string(item.get("name"), (*spath, "name"))
        value = r.string(item.get("value"), (*spath, "value"))
        if value not in ("min", "max", "latest"):
            raise r.fail(f"strategy must be min, max or latest, got {value!r}", (*spath, "value"))
        strategies[mname] = value
    return Objective(otype, metric, goal, additional, strategies)


def _algorithm(r: _Reader, value: Any, path: tuple[PathPart, ...], what: str) -> Algorithm:
    algo = r.mapping(value, path)
    name = r.string(algo.get("algorithmName"), (*path, "algorithmName"))
    settings = []
    for i, item in enumerate(r.sequence(algo.get("algorithmSettings"), (*path, "algorithmSettings"))):
        spath = (*path, "algorithmSettings", i)
        item = r.mapping(item, spath)
        settings.append(Setting(
            r.string(item.get("name"), (*spath, "name")),
            r.string(item.get("value"), (*spath, "value"), required=False) or "",
            spath,
        ))
    return Algorithm(name, tuple(settings), path)


def _collector(r: _Reader, spec: dict) -> Collector:
    path = ("spec", "metricsCollectorSpec")
    mcs = r.mapping(spec.get("metricsCollectorSpec"), path, required=False)
    coll = r.mapping(mcs.get("collector"), (*path, "collector"), required=False)
    kind = r.string(coll.get("kind"), (*path, "collector", "kind"), required=False) or "StdOut"
    if kind not in COLLECTOR_KINDS:
        raise r.fail(f"unknown collector kind {kind!r}", (*path, "collector", "kind"))
    source = r.mapping(mcs.get("source"), (*path, "source"), required=False)
    fsp = r.mapping(source.get("fileSystemPath"), (*path, "source", "fileSystemPath"), required=False)
    filt = r.mapping(source.get("filter"), (*path, "source", "filter"), required=False)
    filters = tuple(
        r.string(f, (*path, "source", "filter", "metricsFormat", i))
        for i, f in enumerate(r.sequence(filt.get("metricsFormat"), (*path, "source", "filter", "metricsFormat")))
    )
    fmt = r.string(fsp.get("format"), (*path, "source", "fileSystemPath", "format"), required=False)
    file_path = r.string(fsp.get("path"), (*path, "source", "fileSystemPath", "path"), required=False)
    if kind == "File":
        file_path = file_path or DEFAULT_METRICS_FILE
        fmt = fmt or "TEXT"
        if fmt not in ("TEXT", "JSON"):
            raise r.fail(f"format must be TEXT or JSON, got {fmt!r}",
                         (*path, "source", "fileSystemPath", "format"))
        if not file_path.startswith("/"):
            raise r.fail("path must be absolute", (*path, "source", "fileSystemPath", "path"))
    for i, text in enumerate(filters):
        try:
            compiled = re.compile(text)
        except re.error as exc:
            raise r.fail(f"not a regular expression: {exc}",
                         (*path, "source", "filter", "metricsFormat", i)) from None
        if compiled.groups < 2:
            raise r.fail("needs two groups: metric name, then value",
                         (*path, "source", "filter", "metricsFormat", i))
    return Collector(kind, file_path, fmt or "TEXT", filters)


def _find_container(node: Any, name: str, path: tuple[PathPart, ...]):
    """Depth-first search for the container called ``name`` in a trial spec.

    Job, PyTorchJob, TFJob, MPIJob and custom kinds all nest pod templates
    differently; looking for ``containers`` lists finds the primary container
    in any of them. Dict keys are visited in order, so a Master/Chief/Launcher
    replica written first wins over Workers, as the trial's primary pod would.
    """
    if isinstance(node, dict):
        containers = node.get("containers")
        if isinstance(containers, list):
            for i, c in enumerate(containers):
                if isinstance(c, dict) and c.get("name") == name:
                    return c, (*path, "containers", i)
        for key, value in node.items():
            found = _find_container(value, name, (*path, key))
            if found:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _find_container(value, name, (*path, i))
            if found:
                return found
    return None


def _gpu_count(container: Mapping[str, Any]) -> int:
    resources = container.get("resources") or {}
    for section in ("limits", "requests"):
        value = (resources.get(section) or {}).get("nvidia.com/gpu")
        if value is not None:
            try:
                return int(str(value))
            except ValueError:
                return 0
    return 0


def _template(r: _Reader, spec: dict, parameter_names: set[str]) -> TrialTemplate:
    path = ("spec", "trialTemplate")
    tt = r.mapping(spec.get("trialTemplate"), path)
    if tt.get("configMap") and not tt.get("trialSpec"):
        raise r.fail("a trial template in a ConfigMap cannot be read locally; inline it as trialSpec",
                     (*path, "configMap"))
    primary = r.string(tt.get("primaryContainerName"), (*path, "primaryContainerName"))
    trial_spec = r.mapping(tt.get("trialSpec"), (*path, "trialSpec"))
    found = _find_container(trial_spec, primary, (*path, "trialSpec"))
    if found is None and trial_spec.get("kind") == "TrainJob":
        trainer = (trial_spec.get("spec") or {}).get("trainer")
        if isinstance(trainer, dict):
            found = trainer, (*path, "trialSpec", "spec", "trainer")
    if found is None:
        raise r.fail(f"no container named {primary!r} in the trial spec", (*path, "primaryContainerName"))
    container, container_path = found

    trial_parameters = []
    for i, item in enumerate(r.sequence(tt.get("trialParameters"), (*path, "trialParameters"))):
        ipath = (*path, "trialParameters", i)
        item = r.mapping(item, ipath)
        pname = r.string(item.get("name"), (*ipath, "name"))
        ref = r.string(item.get("reference"), (*ipath, "reference"))
        if ref not in parameter_names and not TRIAL_META.match(ref):
            raise r.fail(f"reference {ref!r} is neither a parameter nor trial metadata", (*ipath, "reference"))
        trial_parameters.append((pname, ref))
    declared = {n for n, _ in trial_parameters}
    used = set(TRIAL_PARAMETER.findall(repr(container)))
    missing = sorted(used - declared)
    if missing:
        raise r.fail(f"${{trialParameters.{missing[0]}}} is used by the primary container but not declared",
                     (*path, "trialParameters"))

    meta = trial_spec.get("metadata") or {}
    return TrialTemplate(
        primary_container_name=primary,
        container=container,
        container_path=container_path,
        trial_parameters=tuple(trial_parameters),
        api_version=str(trial_spec.get("apiVersion", "")),
        kind=str(trial_spec.get("kind", "")),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        gpus=_gpu_count(container),
    )
