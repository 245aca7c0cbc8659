"""Layer 3: what Katib's validating webhook rejects (katib-facts.md, "Webhook rules" 1-16).

Each rule is a small function reporting at the field path Katib itself uses
(``spec.parallelTrialCount``, ``spec.trialTemplate.trialParameters[1].reference``);
where Katib names a parent (``spec.trialTemplate``) the line still points at
the offending field. Values of the wrong type are skipped here: Katib could
not even decode them, and the schema layer reports them.

The mutating webhook runs first on a cluster, so its defaults (parallelTrialCount
3, the collector's default path and format, the Job success/failure conditions)
are taken into account rather than reported as missing.

Rule 14 (a batch/v1 Job template must convert into a Job) lives with the
Kubernetes checks in ``kubernetes.py``; rule 17 (immutable fields on update)
needs the live object and is not checked offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from ..io.findings import ERROR, WARNING, Finding, PathPart
from ..io.yamlio import Document
from ..spec.defaults import as_stored
from . import never_starts, regex, services
from .access import as_list, as_map
from .schema import did_you_mean

# Algorithms the default katib-config registers suggestion services for.
DEFAULT_ALGORITHMS = ("random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol",
                      "multivariate-tpe", "enas", "darts", "pbt")
DEFAULT_EARLY_STOPPING = ("medianstop",)

# validator.go ValidateExperiment: `^[a-z]([-a-z0-9]*[a-z0-9])?` with MatchString, which is not end-anchored:
# any name starting with a lower-case letter passes the webhook itself.
NAME_PATTERN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# The API server's rule for the Experiment's own name (a DNS-1123 subdomain), and for the suggestion's
# Service, which Katib names `<experiment>-<algorithm>` (util/suggestion.go GetSuggestionServiceName):
# a DNS-1035 label, so no dots.
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
NAME_MAX = 40
DEFAULT_PARALLEL_TRIAL_COUNT = 3

PARAMETER_TYPES = ("double", "int", "discrete", "categorical", "unknown")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal", "unknown")
RESUME_POLICIES = ("", "Never", "LongRunning", "FromVolume")
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
# Kinds Katib injects a collector for, each needing a katib-config metricsCollectors entry
# (metricscollector/v1beta1/common/const.go AutoInjectMetricsCollectorList; validator.go validateMetricsCollector),
# and the kinds the default katib-config has an entry for.
AUTO_INJECT_COLLECTORS = ("StdOut", "TensorFlowEvent", "File", "PrometheusMetric")
DEFAULT_COLLECTORS = ("StdOut", "File", "TensorFlowEvent")

DEFAULT_FILE_PATH = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_PATH = "/var/log/katib/tfevent/"
DEFAULT_PROMETHEUS_PATH = "/metrics"
DEFAULT_PROMETHEUS_PORT = 8080

JOB_KIND = "Job"
# Kubeflow training kinds whose pod templates sit under spec.<x>ReplicaSpecs.
KUBEFLOW_JOB_KINDS = frozenset({"TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "PaddleJob", "JAXJob"})
TRAINJOB_KIND = "TrainJob"
# Kinds the mutating webhook fills successCondition/failureCondition for (experiment_defaults.go
# setDefaultTrialTemplate: Job, and constants.go KubeflowJobKinds). PaddleJob and JAXJob are not among them.
DEFAULTED_KINDS = frozenset({JOB_KIND, "TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", TRAINJOB_KIND})
EXAMPLE_SUCCESS = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
EXAMPLE_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'

PLACEHOLDER = re.compile(r"\$\{trialParameters\.(.+?)\}")
META_REFERENCE = re.compile(r"\$\{trialSpec\.(Name|Namespace|Kind|APIVersion)\}|\$\{trialSpec\.(Labels|Annotations)\[(.+)\]\}")
# validator.go isMetaKey: consts.TrialTemplateMetaReplaceFormatRegex found anywhere in the reference (not anchored),
# its key one of TrialTemplateMetaKeys or `Key[index]` (consts.TrialTemplateMetaParseFormatRegex).
META_KEY = re.compile(r"\$\{trialSpec\.(.+?)\}")
META_INDEX = re.compile(r"(.+)\[(.+)]")
META_KEYS = ("Name", "Namespace", "Kind", "APIVersion", "Annotations", "Labels")
LEFTOVER = "${trialParameters."

SPEC = ("spec",)
TRIAL_TEMPLATE = ("spec", "trialTemplate")
TRIAL_PARAMETERS = ("spec", "trialTemplate", "trialParameters")
METRICS_COLLECTOR = ("spec", "metricsCollectorSpec")
METRICS_SOURCE = ("spec", "metricsCollectorSpec", "source")
FILE_SYSTEM_PATH = ("spec", "metricsCollectorSpec", "source", "fileSystemPath")


@dataclass
class Checker:
    """Collects findings for one Experiment document."""

    doc: Document
    extra_algorithms: Sequence[str] = ()
    extra_early_stopping: Sequence[str] = ()
    extra_collectors: Sequence[str] = ()
    findings: list[Finding] = field(default_factory=list)

    def error(self, rule: str, path: Sequence[PathPart], message: str, at: Sequence[PathPart] | None = None,
              severity: str = ERROR) -> None:
        """A finding at Katib's path; `at` moves the line to the field that is actually wrong."""
        line, col = self.doc.position(at if at is not None else path)
        self.findings.append(Finding(message, tuple(path), self.doc.file, line, col, severity, rule))

    def warning(self, rule: str, path: Sequence[PathPart], message: str, at: Sequence[PathPart] | None = None) -> None:
        self.error(rule, path, message, at, WARNING)


# ---------------------------------------------------------------------------
# small readers that tolerate missing or mistyped values


def _text(value: Any) -> str | None:
    """'' for missing, the string itself, None for another type (the schema reports that)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_abs(path: str) -> bool:
    return path.startswith("/")


def _written(c: Checker, path: Sequence[str]) -> dict[str, Any]:
    """The mapping at path as the author wrote it, before the webhook's re-encoding dropped empty values."""
    node: Any = c.doc.data
    for key in path:
        node = as_map(node).get(key)
    return as_map(node)


# ---------------------------------------------------------------------------
# rules


def rule_1_name(c: Checker, exp: dict[str, Any]) -> None:
    meta = as_map(exp.get("metadata"))
    name = _text(meta.get("name"))
    if name is None:
        return
    if not name:
        if not meta.get("generateName"):
            c.error("katib-1", ("metadata", "name"), "must be specified")
        return
    if not NAME_PATTERN.match(name):
        c.error("katib-1", ("metadata", "name"),
                f"`{name}` is not a valid Experiment name: use lower-case letters, digits and '-', "
                "starting with a letter and ending with a letter or digit")
    elif len(name) > NAME_MAX:
        c.error("katib-1", ("metadata", "name"), f"is {len(name)} characters long; Katib allows at most {NAME_MAX}")
    elif not DNS1123_SUBDOMAIN.fullmatch(name):
        c.error("k8s-name", ("metadata", "name"),
                f"`{name}` passes Katib's webhook (its pattern is not end-anchored) but the API server refuses it: "
                "an object name is lower-case letters, digits, '-' and '.', ending with a letter or digit")
    elif "." in name:
        c.error("experiment-name-dot", ("metadata", "name"),
                f"`{name}` passes Katib's webhook and the API server, but Katib names the suggestion's Service "
                f"`{name}-<algorithm>` (util/suggestion.go GetSuggestionServiceName) and a Service name cannot "
                "contain '.', so no suggestion ever runs: use '-' instead")


def rule_2_counts(c: Checker, spec: dict[str, Any]) -> None:
    failed = _int(spec.get("maxFailedTrialCount"))
    if failed is not None and failed < 0:
        c.error("katib-2", (*SPEC, "maxFailedTrialCount"), f"must not be negative (got {failed})")
    for key in ("maxTrialCount", "parallelTrialCount"):
        value = _int(spec.get(key))
        if value is not None and value <= 0:
            c.error("katib-2", (*SPEC, key), f"must be greater than 0 (got {value})")


def rule_3_count_relations(c: Checker, spec: dict[str, Any]) -> None:
    most = _int(spec.get("maxTrialCount"))
    if most is None:
        return
    failed = _int(spec.get("maxFailedTrialCount"))
    if failed is not None and failed > most:
        c.error("katib-3", (*SPEC, "maxFailedTrialCount"),
                f"{failed} is greater than spec.maxTrialCount ({most})")
    parallel = spec.get("parallelTrialCount")
    if parallel is None:
        if DEFAULT_PARALLEL_TRIAL_COUNT > most > 0:
            c.error("katib-3", (*SPEC, "parallelTrialCount"),
                    f"defaults to {DEFAULT_PARALLEL_TRIAL_COUNT}, which is greater than spec.maxTrialCount ({most}); "
                    "set it explicitly", at=(*SPEC, "maxTrialCount"))
    elif _int(parallel) is not None and parallel > most:
        c.error("katib-3", (*SPEC, "parallelTrialCount"), f"{parallel} is greater than spec.maxTrialCount ({most})")


def rule_4_objective(c: Checker, spec: dict[str, Any]) -> None:
    path = (*SPEC, "objective")
    obj = spec.get("objective")
    if obj is None:
        c.error("katib-4", path, "must be specified")
        return
    if not isinstance(obj, dict):
        return
    kind = _text(obj.get("type"))
    if kind is not None and kind not in ("minimize", "maximize"):
        what = "must be specified: minimize or maximize" if not kind else \
            f"`{kind}` must be minimize or maximize{did_you_mean(kind, ('minimize', 'maximize'))}"
        c.error("katib-4", (*path, "type"), what)
    metric = _text(obj.get("objectiveMetricName"))
    if metric == "":
        c.error("katib-4", (*path, "objectiveMetricName"), "must be specified")
    extra = obj.get("additionalMetricNames")
    if metric and isinstance(extra, list) and metric in extra:
        c.error("katib-4", (*path, "additionalMetricNames"),
                f"must not contain the objective metric `{metric}`", at=(*path, "additionalMetricNames", extra.index(metric)))


def _check_algorithm(c: Checker, rule: str, path: tuple[str, ...], block: Any, known: Sequence[str],
                     what: str, required: bool) -> None:
    if block is None:
        if required:
            c.error(rule, path, "must be specified")
        return
    if not isinstance(block, dict):
        return
    name = _text(block.get("algorithmName"))
    if name is None:
        return
    if not name:
        c.error(rule, (*path, "algorithmName"), "must be specified")
    elif name not in known:
        c.error(rule, (*path, "algorithmName"),
                f"unknown {what} `{name}`{did_you_mean(name, known)} (known to the default katib-config: "
                f"{', '.join(known)}; add a cluster's own with --{'algorithm' if rule == 'katib-5' else 'early-stopping'})")


def rule_5_algorithm(c: Checker, spec: dict[str, Any]) -> None:
    known = (*DEFAULT_ALGORITHMS, *c.extra_algorithms)
    _check_algorithm(c, "katib-5", (*SPEC, "algorithm"), spec.get("algorithm"), known, "algorithm", True)


def rule_6_early_stopping(c: Checker, spec: dict[str, Any]) -> None:
    known = (*DEFAULT_EARLY_STOPPING, *c.extra_early_stopping)
    _check_algorithm(c, "katib-6", (*SPEC, "earlyStopping"), spec.get("earlyStopping"), known,
                     "early-stopping algorithm", False)


def rule_7_resume_policy(c: Checker, spec: dict[str, Any]) -> None:
    policy = _text(spec.get("resumePolicy"))
    if policy is not None and policy not in RESUME_POLICIES:
        c.error("katib-7", (*SPEC, "resumePolicy"),
                f"`{policy}` is not a resume policy: Never, LongRunning or FromVolume"
                f"{did_you_mean(policy, RESUME_POLICIES[1:])}")


def rule_8_search_space(c: Checker, spec: dict[str, Any]) -> None:
    params = spec.get("parameters")
    nas = spec.get("nasConfig")
    has_params = isinstance(params, list) and len(params) > 0
    if not has_params and nas is None:
        c.error("katib-8", SPEC, "one of spec.parameters or spec.nasConfig must be specified",
                at=(*SPEC, "parameters") if "parameters" in _written(c, SPEC) else SPEC)
    elif has_params and nas is not None:
        c.error("katib-8", SPEC, "only one of spec.parameters and spec.nasConfig can be specified",
                at=(*SPEC, "nasConfig"))


def rule_9_parameters(c: Checker, spec: dict[str, Any]) -> None:
    for i, param in enumerate(as_list(spec.get("parameters"))):
        if not isinstance(param, dict):
            continue
        path = (*SPEC, "parameters", i)
        ptype = _text(param.get("parameterType"))
        if ptype is not None and ptype not in PARAMETER_TYPES:
            c.error("katib-9", (*path, "parameterType"),
                    f"parameterType `{ptype}` is not supported (double, int, discrete or categorical)"
                    f"{did_you_mean(ptype, PARAMETER_TYPES)}" if ptype else "must be specified: double, int, discrete or categorical")
        space = param.get("feasibleSpace")
        if space is not None and not isinstance(space, dict):
            continue
        space = space or {}
        fpath = (*path, "feasibleSpace")
        dist = _text(space.get("distribution"))
        if dist and dist not in DISTRIBUTIONS:
            c.error("katib-9", (*fpath, "distribution"),
                    f"distribution `{dist}` is not supported (uniform, logUniform, normal or logNormal)"
                    f"{did_you_mean(dist, DISTRIBUTIONS)}")
        # The mutating webhook fills `distribution` first (experiment_defaults.go setDefaultParameterDistribution),
        # so validateParameters never sees an empty feasibleSpace: its "must be specified" cannot fire.
        if ptype in ("discrete", "categorical") and not space.get("list"):
            c.warning("search-space", (*fpath, "list"),
                      f"Katib accepts a {ptype} parameter without values (the webhook defaults the distribution "
                      "before it checks for an empty feasibleSpace), but the suggestion service has nothing to "
                      "choose from: give feasibleSpace.list", at=fpath if "feasibleSpace" in param else path)
        if ptype in ("double", "int"):
            if space.get("list"):
                c.error("katib-9", (*fpath, "list"), f"feasibleSpace.list is not supported for parameterType {ptype}")
            if space.get("min") in (None, "") or space.get("max") in (None, ""):
                c.error("katib-9", (*fpath, "max"),
                        f"feasibleSpace.min and feasibleSpace.max must both be specified for parameterType {ptype}",
                        at=fpath)
        elif ptype in ("discrete", "categorical"):
            extra = [k for k in ("min", "max", "step") if space.get(k) not in (None, "")]
            if extra:
                c.error("katib-9", fpath,
                        f"feasibleSpace.{', .'.join(extra)} not supported for parameterType {ptype}; use list",
                        at=(*fpath, extra[0]))


def search_space_values(c: Checker, spec: dict[str, Any]) -> None:
    """Values the webhook lets through that the suggestion services fail on (rule id `search-space`, our lint:
    hyperband, for one, draws from a reversed range). Text in a discrete list is no problem but for hyperband
    (never_starts)."""
    for i, param in enumerate(as_list(spec.get("parameters"))):
        if not isinstance(param, dict) or not isinstance(param.get("feasibleSpace"), dict):
            continue
        ptype = param.get("parameterType")
        space = param["feasibleSpace"]
        fpath = (*SPEC, "parameters", i, "feasibleSpace")
        if ptype in ("double", "int"):
            parse = _parse_int if ptype == "int" else _parse_float
            bounds: dict[str, float] = {}
            for key in ("min", "max", "step"):
                raw = space.get(key)
                if not isinstance(raw, str) or raw == "":
                    continue
                value = parse(raw)
                if value is None:
                    c.error("search-space", (*fpath, key), f"`{raw}` is not {'an integer' if ptype == 'int' else 'a number'}")
                else:
                    bounds[key] = value
            if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
                c.error("search-space", (*fpath, "min"), f"min {space['min']} is greater than max {space['max']}")
            if "step" in bounds and bounds["step"] <= 0:
                c.error("search-space", (*fpath, "step"), f"step must be greater than 0 (got {space['step']})")


def _parse_float(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _parse_int(raw: str) -> float | None:
    try:
        return int(raw.strip())
    except ValueError:
        return None


def rule_10_trial_template(c: Checker, spec: dict[str, Any]) -> bool:
    """True when the template is complete enough for rules 11-13."""
    tt = spec.get("trialTemplate")
    if tt is None:
        c.error("katib-10", TRIAL_TEMPLATE, "must be specified")
        return False
    if not isinstance(tt, dict):
        return False
    if _text(tt.get("primaryContainerName")) == "":
        c.error("katib-10", (*TRIAL_TEMPLATE, "primaryContainerName"), "must be specified")
    trial_spec = tt.get("trialSpec")
    kind = as_map(trial_spec).get("kind")
    defaulted = isinstance(kind, str) and kind in DEFAULTED_KINDS
    if not defaulted:
        missing = [k for k in ("successCondition", "failureCondition") if _text(tt.get(k)) == ""]
        if missing:
            examples = {"successCondition": EXAMPLE_SUCCESS, "failureCondition": EXAMPLE_FAILURE}
            add = "; ".join(f"{k}: '{examples[k]}'" for k in missing)
            c.error("katib-10", TRIAL_TEMPLATE,
                    f"{' and '.join(missing)} must be specified: Katib fills them only for Job, TFJob, PyTorchJob, "
                    f"XGBoostJob, MPIJob and TrainJob, not for {kind or 'a ConfigMap template'}. Add GJSON paths "
                    f"over the trial's status, e.g. {add}")
    if tt.get("trialParameters") is None:  # absent, or an empty list the mutating webhook dropped (as_stored)
        c.error("katib-10", (*TRIAL_TEMPLATE, "trialParameters"),
                "must be specified (Katib's mutating webhook drops an empty list, and its validator then refuses "
                "the missing one)" if "trialParameters" in _written(c, TRIAL_TEMPLATE) else "must be specified")
        return False
    config_map = tt.get("configMap")
    if trial_spec is None and config_map is None:
        c.error("katib-10", TRIAL_TEMPLATE, "one of trialSpec or configMap must be specified")
        return False
    if trial_spec is not None and config_map is not None:
        c.error("katib-10", TRIAL_TEMPLATE, "only one of trialSpec or configMap can be specified",
                at=(*TRIAL_TEMPLATE, "configMap"))
        return False
    if isinstance(config_map, dict):
        missing = [k for k in ("configMapName", "configMapNamespace", "templatePath") if not config_map.get(k)]
        if missing:
            c.error("katib-10", (*TRIAL_TEMPLATE, "configMap"), f"{', '.join(missing)} must be specified")
        return False
    return isinstance(trial_spec, dict)


def is_meta_reference(reference: str) -> bool:
    """validator.go isMetaKey: `${trialSpec.KEY}` anywhere in the reference, KEY a metadata key or `Key[index]`."""
    m = META_KEY.search(reference)
    if m is None:
        return False
    key = m.group(1)
    if key in META_KEYS:
        return True
    sub = META_INDEX.search(key)
    return sub is not None and sub.group(1) in META_KEYS


def rule_11_trial_parameters(c: Checker, spec: dict[str, Any]) -> None:
    tt = as_map(spec.get("trialTemplate"))
    names: set[str] = set()
    refs: set[str] = set()
    param_names = [p.get("name") for p in as_list(spec.get("parameters")) if isinstance(p, dict)]
    param_names = [n for n in param_names if isinstance(n, str)]
    for i, tp in enumerate(as_list(tt.get("trialParameters"))):
        if not isinstance(tp, dict):
            continue
        path = (*TRIAL_PARAMETERS, i)
        name, ref = _text(tp.get("name")), _text(tp.get("reference"))
        if name is None or ref is None:
            continue
        if not name or not ref or "{" in name or "}" in name:
            if not name or not ref:
                c.error("katib-11", path, f"{'name' if not name else 'reference'} must be specified")
            else:
                c.error("katib-11", path, f"name `{name}` must not contain '{{' or '}}'", at=(*path, "name"))
            continue
        if name in names:
            c.error("katib-11", (*path, "name"), f"trialParameter name `{name}` is used twice")
            continue
        if ref in refs:
            c.error("katib-11", (*path, "reference"), f"reference `{ref}` is used by two trialParameters")
            continue
        names.add(name)
        refs.add(ref)
        if param_names and not is_meta_reference(ref) and ref not in param_names:
            c.error("katib-11", (*path, "reference"),
                    f"reference `{ref}` names no spec.parameters entry nor trial metadata"
                    f"{did_you_mean(ref, param_names)} (parameters: {', '.join(param_names)})")


def iter_strings(node: Any, path: tuple[PathPart, ...] = ()) -> Iterator[tuple[tuple[PathPart, ...], str]]:
    """Every string value (and mapping key) under node, with its path."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and "${" in k:
                yield (*path, k), k
            yield from iter_strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from iter_strings(v, (*path, i))


def rule_12_substitutions(c: Checker, spec: dict[str, Any]) -> None:
    """validator.go validateTrialTemplate: each trialParameter's placeholder must appear; after they are all
    replaced, consts.TrialTemplateParamReplaceFormatRegex must find nothing in the template's JSON text.

    That regex (`\\$\\{trialParameters\\..+?\\}`) runs over the whole JSON document, which always ends in `}`,
    so any `${trialParameters.` left over (unclosed, empty, or naming no trialParameter) is refused.
    """
    tt = spec["trialTemplate"]
    strings = [(path, text) for path, text in iter_strings(tt["trialSpec"], (*TRIAL_TEMPLATE, "trialSpec"))
               if LEFTOVER in text]
    declared: list[str] = []
    for i, tp in enumerate(as_list(tt.get("trialParameters"))):
        name = as_map(tp).get("name")
        if not isinstance(name, str) or not name:
            continue
        declared.append(name)
        token = f"${{trialParameters.{name}}}"
        if not any(token in text for _, text in strings):
            c.error("katib-12", (*TRIAL_PARAMETERS, i, "name"),
                    f"trialParameter `{name}` is never used: the trial template has no ${{trialParameters.{name}}}")
    tokens = [f"${{trialParameters.{n}}}" for n in declared]
    reported: set[str] = set()
    for path, text in strings:
        rest = text
        for token in tokens:
            rest = rest.replace(token, "test-value")
        start = rest.find(LEFTOVER)
        while start >= 0:
            m = PLACEHOLDER.match(rest, start)
            name = m.group(1) if m and "${" not in m.group(1) else None
            if name is not None and name not in reported:
                reported.add(name)
                c.error("katib-12", TRIAL_TEMPLATE,
                        f"${{trialParameters.{name}}} in the trial template has no trialParameter named `{name}`"
                        f"{did_you_mean(name, declared)}", at=path)
            elif name is None:
                shown = rest[start:start + 40]
                c.error("katib-12", TRIAL_TEMPLATE,
                        f"`{shown}` is not a complete ${{trialParameters.NAME}} placeholder (unclosed or empty); "
                        "Katib refuses any `${trialParameters.` left after substitution", at=path)
                break
            start = rest.find(LEFTOVER, start + len(LEFTOVER))


def unused_parameters(c: Checker, spec: dict[str, Any]) -> None:
    """Every search parameter must reach the trial (manifest/generator.go applyParameters).

    The suggestion assigns a value to each spec.parameters entry; applyParameters
    refuses to build a trial when the number of assignments differs from the number
    of non-metadata trialParameters, so a parameter no trialParameter references
    means no trial is ever created.
    """
    tt = as_map(spec.get("trialTemplate"))
    refs = {tp.get("reference") for tp in as_list(tt.get("trialParameters"))
            if isinstance(tp, dict) and isinstance(tp.get("reference"), str)}
    for i, param in enumerate(as_list(spec.get("parameters"))):
        name = as_map(param).get("name")
        if isinstance(name, str) and name and name not in refs:
            c.error("katib-unused-parameter", (*SPEC, "parameters", i, "name"),
                    f"parameter {name} is never passed to the trial: use ${{trialParameters.{name}}} in the command, "
                    "args or env (with a trialParameter referencing it); Katib cannot create a trial otherwise")


def rule_13_template_identity(c: Checker, spec: dict[str, Any]) -> None:
    ts = spec["trialTemplate"]["trialSpec"]
    base = (*TRIAL_TEMPLATE, "trialSpec")
    missing = [k for k in ("apiVersion", "kind") if not ts.get(k)]
    if missing:
        c.error("katib-13", TRIAL_TEMPLATE, f"trialSpec needs {' and '.join(missing)}", at=base)
    meta = as_map(ts.get("metadata"))
    for key in ("name", "namespace"):
        if meta.get(key):
            c.error("katib-13", TRIAL_TEMPLATE,
                    f"trialSpec.metadata.{key} must be omitted: Katib names each trial's resource itself",
                    at=(*base, "metadata", key))


def rule_15_metrics_collector(c: Checker, spec: dict[str, Any]) -> None:
    mcs = spec.get("metricsCollectorSpec")
    if mcs is not None and not isinstance(mcs, dict):
        return
    mcs = mcs or {}
    collector = mcs.get("collector")
    if collector is not None and not isinstance(collector, dict):
        return
    kind_path = (*METRICS_COLLECTOR, "collector", "kind")
    kind = "StdOut" if collector is None else _text(collector.get("kind"))
    if kind is None:
        return
    source = mcs.get("source")
    if source is not None and not isinstance(source, dict):
        return
    source = source or {}
    fsp = source.get("fileSystemPath")
    if fsp is not None and not isinstance(fsp, dict):
        return
    given = fsp or {}
    fsp_at = FILE_SYSTEM_PATH if fsp is not None else METRICS_SOURCE if mcs.get("source") is not None else METRICS_COLLECTOR

    if kind in AUTO_INJECT_COLLECTORS and kind not in (*DEFAULT_COLLECTORS, *c.extra_collectors):
        c.error("katib-collector-config", kind_path,
                f"the default katib-config has no metricsCollectors entry for {kind}, and Katib's webhook refuses a "
                f"collector kind without one: add it to the cluster's katib-config, then declare it with "
                f"--metrics-collector {kind} or `metricsCollectors: [{kind}]` in katib-gitops.yaml",
                at=kind_path if collector is not None else METRICS_COLLECTOR)
    if kind in ("StdOut", "Push"):
        return
    if kind == "File":
        fkind = given.get("kind") or "File"
        fpath = given.get("path") or DEFAULT_FILE_PATH
        fmt = given.get("format") or "TEXT"
        if fkind != "File":
            c.error("katib-15", (*FILE_SYSTEM_PATH, "path"),
                    f"collector kind File reads one file: fileSystemPath.kind must be File, not {fkind}",
                    at=(*FILE_SYSTEM_PATH, "kind"))
        elif isinstance(fpath, str) and not _is_abs(fpath):
            c.error("katib-15", (*FILE_SYSTEM_PATH, "path"), f"`{fpath}` must be an absolute path")
        if isinstance(fmt, str) and fmt not in ("TEXT", "JSON"):
            c.error("katib-15", (*FILE_SYSTEM_PATH, "format"), f"`{fmt}` must be TEXT or JSON")
        if fmt == "JSON" and source.get("filter") is not None:
            c.error("katib-15", (*METRICS_SOURCE, "filter"), "must be empty when fileSystemPath.format is JSON")
        return
    if kind == "TensorFlowEvent":
        fkind = given.get("kind") or "Directory"
        fpath = given.get("path") or DEFAULT_TFEVENT_PATH
        if fkind != "Directory" or (isinstance(fpath, str) and not _is_abs(fpath)):
            problem = f"fileSystemPath.kind must be Directory, not {fkind}" if fkind != "Directory" \
                else f"fileSystemPath.path `{fpath}` must be an absolute path"
            c.error("katib-15", METRICS_SOURCE, f"collector kind TensorFlowEvent reads a directory: {problem}",
                    at=(*FILE_SYSTEM_PATH, "kind" if fkind != "Directory" else "path"))
        if given.get("format"):
            c.error("katib-15", (*FILE_SYSTEM_PATH, "format"), "must be empty for collector kind TensorFlowEvent")
        return
    if kind == "PrometheusMetric":
        http = as_map(source.get("httpGet"))
        hpath = (*METRICS_SOURCE, "httpGet")
        port = http.get("port")
        # experiment_defaults.go defaults only a port that prints "0" (missing, 0, "0"); "" fails strconv.Atoi.
        if port in (None, 0, "0"):
            port = DEFAULT_PROMETHEUS_PORT
        number = port if _int(port) is not None else int(port) if isinstance(port, str) and port.isdigit() else None
        if number is None or number <= 0:
            c.error("katib-15", (*hpath, "port"), f"`{port}` must be a positive port number for collector kind PrometheusMetric")
        url = http.get("path") or DEFAULT_PROMETHEUS_PATH
        if isinstance(url, str) and not url.startswith("/"):
            c.error("katib-15", (*hpath, "path"), f"`{url}` must start with '/'")
        return
    if kind == "Custom":
        if as_map(collector).get("customCollector") is None:
            c.error("katib-15", (*METRICS_COLLECTOR, "collector", "customCollector"),
                    "a container must be specified for collector kind Custom", at=kind_path)
        if fsp is not None:
            fpath, fkind = given.get("path") or "", given.get("kind") or ""
            if not (isinstance(fpath, str) and _is_abs(fpath)) or fkind not in ("File", "Directory"):
                c.error("katib-15", FILE_SYSTEM_PATH, "needs an absolute path and kind File or Directory", at=fsp_at)
        return
    if not kind:
        c.error("katib-15", kind_path, f"must be specified: {', '.join(COLLECTOR_KINDS)}")
    else:
        c.error("katib-15", kind_path,
                f"invalid metrics collector kind `{kind}` (Katib's webhook accepts {', '.join(COLLECTOR_KINDS)})"
                f"{did_you_mean(kind, COLLECTOR_KINDS)}")


# Kinds whose collector is Katib's file-metricscollector, which gets the filters joined with ';' and splits them
# back on ';' (pod/inject_webhook.go getMetricsCollectorArgs, cmd/metricscollector/.../main.go).
FILE_COLLECTOR_KINDS = ("StdOut", "File")


def rule_16_metrics_format(c: Checker, spec: dict[str, Any]) -> None:
    """validator.go validateMetricsCollector: each filter compiles with Go's regexp and has two bracket pairs,
    checked only for the kinds that reach the filter check: StdOut and Push return before it.

    The file collector then compiles each filter again after splitting the joined list on ';'
    (file-metricscollector.go GetFilterRegexpList ignores the error and keeps a nil regexp, which panics on the
    first line naming a metric): a filter that does not compile, or a ';' that splits one into pieces that do
    not, crashes the collector of every trial.
    """
    mcs = as_map(spec.get("metricsCollectorSpec"))
    source = as_map(mcs.get("source"))
    kind = as_map(mcs.get("collector")).get("kind") or "StdOut"
    path = (*METRICS_SOURCE, "filter", "metricsFormat")
    for j, pattern in enumerate(as_list(as_map(source.get("filter")).get("metricsFormat"))):
        if not isinstance(pattern, str):
            continue
        if kind == "Push":
            c.warning("metrics-filter-unused", path,
                      f"`{pattern}`: a Push collector has no collector to use filters (Katib's webhook never checks "
                      "them for Push): the trainer reports its metrics itself", at=(*path, j))
            continue
        problem = regex_problem(pattern) if kind != "StdOut" else None
        if problem:
            c.error("katib-16", path, f"`{pattern}`: {problem}", at=(*path, j))
            continue
        if kind in FILE_COLLECTOR_KINDS:
            broken = [(piece, regex.go_compile_error(piece)) for piece in pattern.split(";")]
            piece, error = next(((p, e) for p, e in broken if e is not None), ("", None))
            if error is not None:
                split = f" (the piece `{piece}` after splitting on ';')" if ";" in pattern else ""
                c.error("metrics-filter-crash", path,
                        f"`{pattern}`{split} is not a Go (RE2) regular expression ({error}): Katib's webhook "
                        f"{'never checks filters for StdOut' if kind == 'StdOut' else 'checks the whole filter'}, "
                        "but the collector compiles the filters split on ';', keeps a nil regexp for this one and "
                        "panics on the first line naming a metric (file-metricscollector.go GetFilterRegexpList), "
                        "so every trial's collector crashes", at=(*path, j))
                continue
            pieces = pattern.split(";")
        else:
            pieces = [pattern]
        groups = min(regex.capture_groups(p) for p in pieces)
        if groups < 2:
            # file-metricscollector.go parseLogsInTextFormat skips matches with fewer than 3 submatches.
            split = " once split on ';'" if len(pieces) > 1 else ""
            c.warning("metrics-filter-groups", path,
                      f"`{pattern}` has {groups} capturing group(s){split}: Katib accepts it, but its collector "
                      "needs two (the metric name, then its value) and would never report a metric",
                      at=(*path, j))


def regex_problem(pattern: str) -> str | None:
    """Why Katib's webhook refuses pattern as a metrics filter, or None (see ``regex``)."""
    error = regex.go_compile_error(pattern)
    if error is not None:
        return f"not a valid Go (RE2) regular expression: {error}"
    if not regex.has_two_bracket_pairs(pattern):
        return "needs two bracket pairs (Katib's rule: the metric name, then its value)"
    return None


def algorithm_service(block: dict[str, Any]) -> str:
    algorithm = block.get("algorithmName")
    return services.SERVICE.get(algorithm, algorithm) if isinstance(algorithm, str) else "early-stopping"


def service_settings(c: Checker, spec: dict[str, Any]) -> None:
    """Settings the suggestion / early-stopping service refuses right after creation (see ``services``)."""
    for rule, key, refusals in (("katib-algorithm-settings", "algorithm", services.algorithm_refusals(spec)),
                                ("katib-early-stopping-settings", "earlyStopping",
                                 services.early_stopping_refusals(spec))):
        block = as_map(spec.get(key))
        for index, name, message in refusals:
            if index is not None:
                path: tuple[PathPart, ...] = (*SPEC, key, "algorithmSettings", index)
                # An unknown name points at the name; a refused value at the value.
                at = (*path, "name" if message.startswith("unknown setting") else "value")
            elif name == services.OPERATIONS:
                path = at = (*SPEC, "nasConfig", "operations")
                message = f"{message} (nas/common/validation.py validate_operations)"
            elif name.startswith("parameters["):
                path = at = (*SPEC, "parameters", int(name[len("parameters["):-1]), "name")
            elif name:
                path, at = (*SPEC, name), (*SPEC, name)
            else:
                path, at = (*SPEC, key), (*SPEC, key, "algorithmName")
            c.error(rule, path, f"{message}; Katib's {algorithm_service(block)} service ({block.get('algorithmName')}) "
                    "refuses it as soon as the Experiment is created, which then fails", at=at)


def check(doc: Document, extra_algorithms: Sequence[str] = (), extra_early_stopping: Sequence[str] = (),
          extra_collectors: Sequence[str] = ()) -> list[Finding]:
    """Every webhook rule over one Experiment document."""
    exp = doc.data
    c = Checker(doc, extra_algorithms, extra_early_stopping, extra_collectors)
    rule_1_name(c, exp)
    spec = exp.get("spec")
    if spec is None:
        c.error("katib-4", SPEC, "must be specified")
        return c.findings
    if not isinstance(spec, dict):
        return c.findings
    # The validating webhook sees the object the mutating webhook stored: re-encoded from the typed spec, so
    # the zero values of omitempty fields (`trialParameters: []`, `retain: false`, '') are gone. Only whole
    # keys go; list items stay, so every path below still points at what the author wrote.
    spec = as_stored(spec)
    rule_2_counts(c, spec)
    rule_3_count_relations(c, spec)
    rule_4_objective(c, spec)
    rule_5_algorithm(c, spec)
    rule_6_early_stopping(c, spec)
    rule_7_resume_policy(c, spec)
    rule_8_search_space(c, spec)
    rule_9_parameters(c, spec)
    search_space_values(c, spec)
    if rule_10_trial_template(c, spec):
        rule_11_trial_parameters(c, spec)
        rule_12_substitutions(c, spec)
        rule_13_template_identity(c, spec)
    elif isinstance(spec.get("trialTemplate"), dict):
        rule_11_trial_parameters(c, spec)
    # Only once the trialParameters themselves are sound (a duplicate reference already explains a gap); with
    # none at all, each parameter that never reaches the trial is named too: that is what the author must fix.
    if isinstance(spec.get("trialTemplate"), dict) and \
            not any(f.rule == "katib-11" or (f.rule == "katib-10" and f.path != TRIAL_PARAMETERS)
                    for f in c.findings):
        unused_parameters(c, spec)
    rule_15_metrics_collector(c, spec)
    rule_16_metrics_format(c, spec)
    service_settings(c, spec)
    refused = any(f.rule == "katib-algorithm-settings" for f in c.findings)
    never_starts.check(c, spec, exp, refused)
    return c.findings
