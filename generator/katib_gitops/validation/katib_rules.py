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
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from ..findings import ERROR, Finding, PathPart
from ..yamlio import Document
from .access import as_list, as_map
from .schema import did_you_mean

# Algorithms the default katib-config registers suggestion services for.
DEFAULT_ALGORITHMS = ("random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol",
                      "multivariate-tpe", "enas", "darts", "pbt")
DEFAULT_EARLY_STOPPING = ("medianstop",)

NAME_PATTERN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
NAME_MAX = 40
DEFAULT_PARALLEL_TRIAL_COUNT = 3

PARAMETER_TYPES = ("double", "int", "discrete", "categorical", "unknown")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal", "unknown")
RESUME_POLICIES = ("", "Never", "LongRunning", "FromVolume")
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")

DEFAULT_FILE_PATH = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_PATH = "/var/log/katib/tfevent/"
DEFAULT_PROMETHEUS_PATH = "/metrics"
DEFAULT_PROMETHEUS_PORT = 8080

# Kinds the mutating webhook fills successCondition/failureCondition for.
JOB_KIND = "Job"
KUBEFLOW_JOB_KINDS = frozenset({"TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "PaddleJob", "JAXJob"})
TRAINJOB_KIND = "TrainJob"

PLACEHOLDER = re.compile(r"\$\{trialParameters\.(.+?)\}")
META_REFERENCE = re.compile(r"\$\{trialSpec\.(Name|Namespace|Kind|APIVersion)\}|\$\{trialSpec\.(Labels|Annotations)\[(.+)\]\}")

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
    findings: list[Finding] = field(default_factory=list)

    def error(self, rule: str, path: Sequence[PathPart], message: str, at: Sequence[PathPart] | None = None) -> None:
        """A finding at Katib's path; `at` moves the line to the field that is actually wrong."""
        line, col = self.doc.position(at if at is not None else path)
        self.findings.append(Finding(message, tuple(path), self.doc.file, line, col, ERROR, rule))


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
    if not NAME_PATTERN.fullmatch(name):
        c.error("katib-1", ("metadata", "name"),
                f"`{name}` is not a valid Experiment name: use lower-case letters, digits and '-', "
                "starting with a letter and ending with a letter or digit")
    elif len(name) > NAME_MAX:
        c.error("katib-1", ("metadata", "name"), f"is {len(name)} characters long; Katib allows at most {NAME_MAX}")


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
                at=(*SPEC, "parameters") if "parameters" in spec else SPEC)
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
        # The mutating webhook fills `distribution`, so only the other fields make a space non-empty.
        if not any(space.get(k) not in (None, "", []) for k in ("min", "max", "step", "list")):
            c.error("katib-9", fpath, "feasibleSpace must be specified", at=fpath if "feasibleSpace" in param else path)
            continue
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
    """Values the webhook lets through but every suggestion service fails on (rule id `search-space`)."""
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
        elif ptype == "discrete":
            for j, item in enumerate(as_list(space.get("list"))):
                if isinstance(item, str) and _parse_float(item) is None:
                    c.error("search-space", (*fpath, "list", j),
                            f"`{item}` is not a number; discrete parameters take numbers (use categorical for text)")


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
    defaulted = isinstance(kind, str) and (kind == JOB_KIND or kind in KUBEFLOW_JOB_KINDS or kind == TRAINJOB_KIND)
    if not defaulted:
        missing = [k for k in ("successCondition", "failureCondition") if _text(tt.get(k)) == ""]
        if missing:
            c.error("katib-10", TRIAL_TEMPLATE,
                    f"{' and '.join(missing)} must be specified (Katib only fills them for Job, TrainJob and "
                    f"Kubeflow training jobs, not for {kind or 'a ConfigMap template'})")
    if tt.get("trialParameters") is None:
        c.error("katib-10", (*TRIAL_TEMPLATE, "trialParameters"), "must be specified")
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
    return META_REFERENCE.fullmatch(reference) is not None


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
    tt = spec["trialTemplate"]
    used: dict[str, tuple[PathPart, ...]] = {}
    for path, text in iter_strings(tt["trialSpec"], (*TRIAL_TEMPLATE, "trialSpec")):
        if "${trialParameters." in text:
            for m in PLACEHOLDER.finditer(text):
                used.setdefault(m.group(1), path)
    declared: list[str] = []
    for i, tp in enumerate(as_list(tt.get("trialParameters"))):
        name = as_map(tp).get("name")
        if not isinstance(name, str) or not name:
            continue
        declared.append(name)
        if name not in used:
            c.error("katib-12", (*TRIAL_PARAMETERS, i, "name"),
                    f"trialParameter `{name}` is never used: the trial template has no ${{trialParameters.{name}}}")
    for name, path in used.items():
        if name not in declared:
            c.error("katib-12", TRIAL_TEMPLATE,
                    f"${{trialParameters.{name}}} in the trial template has no trialParameter named `{name}`"
                    f"{did_you_mean(name, declared)}", at=path)


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
        if port in (None, 0, "0", ""):
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


def rule_16_metrics_format(c: Checker, spec: dict[str, Any]) -> None:
    source = as_map(as_map(spec.get("metricsCollectorSpec")).get("source"))
    path = (*METRICS_SOURCE, "filter", "metricsFormat")
    for j, pattern in enumerate(as_list(as_map(source.get("filter")).get("metricsFormat"))):
        if not isinstance(pattern, str):
            continue
        problem = regex_problem(pattern)
        if problem:
            c.error("katib-16", path, f"`{pattern}`: {problem}", at=(*path, j))


def regex_problem(pattern: str) -> str | None:
    """Why Katib's Go collector cannot use pattern as a metrics filter, or None.

    Python's `re` stands in for Go's RE2: Go-only syntax is rewritten first,
    and Python-only features RE2 refuses (look-around, back-references) are reported.
    """
    translated = re.sub(r"\\[pP](\{\w+\}|\w)", "a", pattern)
    translated = re.sub(r"\[:\^?\w+:\]", "a", translated).replace(r"\z", r"\Z")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = re.compile(translated)
    except re.error as exc:
        return f"not a valid regular expression: {exc.msg}"
    try:
        import re._parser as sre_parse  # the stdlib's own parse tree; no public API exposes it
    except ImportError:  # pragma: no cover - older or newer layouts
        return None if compiled.groups >= 2 else "needs two groups: the metric name, then its value"
    tree = sre_parse.parse(translated)
    for op, av in _walk_tree(tree):
        if str(op) in ("ASSERT", "ASSERT_NOT"):
            return "look-ahead/look-behind is not supported by Go's regexp (RE2)"
        if str(op) in ("GROUPREF", "GROUPREF_EXISTS"):
            return "back-references are not supported by Go's regexp (RE2)"
    if _top_level_groups(tree) < 2:
        return "needs two top-level groups: the metric name, then its value"
    return None


def _walk_tree(tree: Any) -> Iterator[tuple[Any, Any]]:
    for op, av in tree:
        yield op, av
        for sub in _children(op, av):
            yield from _walk_tree(sub)


def _children(op: Any, av: Any) -> list[Any]:
    name = str(op)
    if name == "SUBPATTERN":
        return [av[3]]
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        return [av[2]]
    if name == "BRANCH":
        return list(av[1])
    if name in ("ASSERT", "ASSERT_NOT"):
        return [av[1]]
    if name == "ATOMIC_GROUP":
        return [av]
    return []


def _top_level_groups(tree: Any) -> int:
    count = 0
    for op, av in tree:
        name = str(op)
        if name == "SUBPATTERN":
            count += 1 if av[0] is not None else _top_level_groups(av[3])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            count += _top_level_groups(av[2])
        elif name == "BRANCH":
            count += max((_top_level_groups(b) for b in av[1]), default=0)
    return count


def primary_container(c: Checker, spec: dict[str, Any]) -> None:
    """primaryContainerName must name a container of the trial pods (else no metrics are ever collected)."""
    tt = as_map(spec.get("trialTemplate"))
    name = tt.get("primaryContainerName")
    ts = tt.get("trialSpec")
    if not isinstance(name, str) or not name or not isinstance(ts, dict):
        return
    names: list[str] = []
    kind = ts.get("kind")
    if kind == JOB_KIND:
        pod_specs = [as_map(as_map(as_map(ts.get("spec")).get("template")).get("spec"))]
    elif isinstance(kind, str) and kind in KUBEFLOW_JOB_KINDS:
        pod_specs = [as_map(as_map(as_map(r).get("template")).get("spec"))
                     for key, replicas in as_map(ts.get("spec")).items() if key.endswith("ReplicaSpecs")
                     for r in as_map(replicas).values()]
    else:
        return
    for pod in pod_specs:
        names += [ct["name"] for ct in as_list(pod.get("containers")) if isinstance(ct, dict) and isinstance(ct.get("name"), str)]
    if names and name not in names:
        c.error("primary-container", (*TRIAL_TEMPLATE, "primaryContainerName"),
                f"`{name}` names no container of the trial's pods{did_you_mean(name, names)} "
                f"(containers: {', '.join(dict.fromkeys(names))}); Katib would never collect its metrics")


def check(doc: Document, extra_algorithms: Sequence[str] = (), extra_early_stopping: Sequence[str] = ()) -> list[Finding]:
    """Every webhook rule over one Experiment document."""
    exp = doc.data
    c = Checker(doc, extra_algorithms, extra_early_stopping)
    rule_1_name(c, exp)
    spec = exp.get("spec")
    if spec is None:
        c.error("katib-4", SPEC, "must be specified")
        return c.findings
    if not isinstance(spec, dict):
        return c.findings
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
        primary_container(c, spec)
    elif isinstance(spec.get("trialTemplate"), dict):
        rule_11_trial_parameters(c, spec)
    rule_15_metrics_collector(c, spec)
    rule_16_metrics_format(c, spec)
    return c.findings
