"""The experiment spec: what a pull-request author edits, as typed objects.

Loading is two steps: the file is checked against ``schemas/spec.schema.json``
(every finding with file, line and field path), then parsed into dataclasses
that the rest of the pipeline uses. Nothing downstream sees raw dicts of the
spec file.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from ..io import jsondata
from ..io.findings import Finding
from ..io.packaged import load_schema
from ..io.yamlio import Document

PARAMETER_TYPES = ("double", "int", "discrete", "categorical")
# Trial fields that only the short form (a generated batch/v1 Job) takes.
SHORT_FORM_KEYS = ("image", "command", "args", "workingDir", "env", "restartPolicy", "podAnnotations", "podLabels",
                   "tolerations", "security", "serviceAccountName", "imagePullSecrets", "volumes", "volumeMounts",
                   "priorityClassName", "resources", "affinity", "nodeSelector")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    min: str | None = None
    max: str | None = None
    step: str | None = None
    values: tuple[str, ...] = ()
    distribution: str | None = None
    trial_name: str = ""  # trialParameter name (defaults to name)
    description: str = ""
    flag: str | None = None  # None: not passed on the command line

    @property
    def placeholder(self) -> str:
        return "${trialParameters.%s}" % self.trial_name


@dataclass(frozen=True)
class Objective:
    type: str
    metric: str
    goal: float | int | None = None
    additional_metrics: tuple[str, ...] = ()
    strategies: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Algorithm:
    name: str
    settings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MetricsCollector:
    kind: str = "StdOut"
    path: str | None = None
    path_kind: str | None = None
    format: str | None = None
    filter: tuple[str, ...] = ()
    http_get: Mapping[str, Any] | None = None
    container: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Reference:
    name: str
    reference: str
    description: str = ""


@dataclass(frozen=True)
class Security:
    """Pod Security Standards 'restricted' settings for short-form trials."""

    run_as_user: int | None = 1000
    run_as_non_root: bool = True
    allow_privilege_escalation: bool = False
    drop_all_capabilities: bool = True
    seccomp_profile: bool = True

    def opted_out(self) -> list[str]:
        out = []
        if self.run_as_user is None:
            out.append("runAsUser")
        elif self.run_as_user == 0:
            out.append("runAsUser: 0 (root)")
        if not self.run_as_non_root:
            out.append("runAsNonRoot")
        if self.allow_privilege_escalation:
            out.append("allowPrivilegeEscalation")
        if not self.drop_all_capabilities:
            out.append("dropAllCapabilities")
        if not self.seccomp_profile:
            out.append("seccompProfile")
        return out


@dataclass(frozen=True)
class Trial:
    image: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] | None = None
    working_dir: str | None = None
    env: tuple[tuple[str, Any], ...] = ()
    primary_container: str = "training-container"
    restart_policy: str = "Never"
    pod_annotations: tuple[tuple[str, str], ...] = (("sidecar.istio.io/inject", "false"),)
    pod_labels: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Mapping[str, Any], ...] = ()
    security: Security | None = field(default_factory=Security)
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    volume_mounts: tuple[Mapping[str, Any], ...] = ()
    priority_class: str | None = None
    resources: Mapping[str, Any] | None = None
    affinity: Mapping[str, Any] | None = None
    node_selector: tuple[tuple[str, str], ...] = ()
    template: Mapping[str, Any] | None = None
    config_map: Mapping[str, str] | None = None
    references: tuple[Reference, ...] = ()
    retain: bool | None = None
    primary_pod_labels: Mapping[str, str] | None = None
    success_condition: str | None = None
    failure_condition: str | None = None

    @property
    def is_short_form(self) -> bool:
        return self.template is None and self.config_map is None


@dataclass(frozen=True)
class Spec:
    path: str  # as given, relative to the repo root where possible
    name: str
    objective: Objective
    algorithm: Algorithm
    trial: Trial
    namespace: str | None = None
    hash_name: bool = True
    prune: bool | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    early_stopping: Algorithm | None = None
    max_trials: int | None = None
    parallel_trials: int | None = None
    max_failed_trials: int | None = None
    resume_policy: str | None = None
    parameters: tuple[Parameter, ...] = ()
    nas_config: Mapping[str, Any] | None = None
    metrics_collector: MetricsCollector = field(default_factory=MetricsCollector)
    # The profiles this experiment deploys under (None: the repository's defaultProfile), in the spec's order.
    profile: tuple[str, ...] | None = None
    # Per-experiment adjustments of profiles, as written (profiles.model applies them); None: "adds nothing".
    profiles: tuple[tuple[str, Mapping[str, Any] | None], ...] = ()


# --------------------------------------------------------------------------- schema


@lru_cache(maxsize=None)
def _validator() -> Any:
    import jsonschema

    schema = load_schema("spec.schema.json")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@lru_cache(maxsize=None)
def _fast_validator() -> Any:
    """jsonschema-rs for the common case, a valid spec (microseconds instead of milliseconds); None without it."""
    try:
        import jsonschema_rs
    except ImportError:  # optional accelerator
        return None
    try:
        return jsonschema_rs.validator_for(_validator().schema)
    except Exception:  # a schema it does not take: python-jsonschema alone
        return None


def _plainly_valid(data: Any) -> bool:
    fast = _fast_validator()
    if fast is None:
        return False
    try:
        return bool(fast.is_valid(data))
    except Exception:  # values it cannot convert (huge ints, NaN): python-jsonschema decides
        return False


# Katib field names people type into a spec out of habit, and what the spec calls them.
KATIB_NAMES = {
    "maxTrialCount": "trials.max",
    "parallelTrialCount": "trials.parallel",
    "maxFailedTrialCount": "trials.maxFailed",
    "trialTemplate": "trial",
    "metricsCollectorSpec": "metricsCollector",
    "objectiveMetricName": "metric",
    "algorithmName": "name",
    "algorithmSettings": "settings",
    "primaryContainerName": "primaryContainer",
    "feasibleSpace": "min/max or values",
    "parameterType": "type",
}


def _schema_finding(doc: Document, err: Any) -> Finding:
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = sorted(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in known]
        key = extra[0] if extra else "?"
        hint = difflib.get_close_matches(str(key), known + list(KATIB_NAMES), n=1, cutoff=0.6)
        if hint and hint[0] in KATIB_NAMES:
            msg = f"unknown field `{key}`; Katib's `{hint[0]}` is `{KATIB_NAMES[hint[0]]}` in a spec"
        elif hint:
            msg = f"unknown field `{key}`; did you mean `{hint[0]}`?"
        else:
            msg = f"unknown field `{key}`; known fields: {', '.join(known)}"
        return doc.finding(msg, path + [str(key)], rule="spec-schema")
    if err.validator in ("oneOf", "anyOf") and err.context:
        # Pick the branch error that went deepest; at equal depth, one from a branch whose type matched
        # (an unknown key in a mapping form beats "expected true or false" from the scalar form).
        best = max(err.context, key=lambda e: (len(e.absolute_path), e.validator != "type", -len(e.message)))
        if best.validator not in ("required", "not") or len(best.absolute_path) > len(err.absolute_path):
            return _schema_finding(doc, best)
        return doc.finding(_one_of_message(path, err.instance), path, rule="spec-schema")
    msg = err.message
    if err.validator == "pattern" and "propertyNames" in err.relative_schema_path:
        # A key (profile name) that becomes a directory name: point at the key itself.
        return doc.finding(f"{err.instance!r} is not a valid name: lowercase letters, digits and '-', starting with a "
                           "letter", path + [err.instance], rule="spec-schema")
    if err.validator == "pattern" and path and path[-1] == "name":
        msg = f"{err.instance!r} is not a valid name: lowercase letters, digits and '-', starting with a letter, at most 40 characters"
    elif err.validator == "maxLength":
        msg = f"{err.instance!r} is longer than {err.validator_value} characters"
    elif err.validator == "type":
        msg = f"expected {_type_words(err.validator_value)}, got {_type_words(type(err.instance).__name__)}"
    elif err.validator == "required":
        return doc.finding(err.message.replace("is a required property", "is required"), path, rule="spec-schema")
    elif err.validator in ("minimum", "maximum"):
        msg = f"{err.instance} is out of range ({err.validator} {err.validator_value})"
    return doc.finding(msg, path, rule="spec-schema")


def _type_words(t: Any) -> str:
    names = {"object": "a mapping", "dict": "a mapping", "array": "a list", "list": "a list", "string": "a string",
             "str": "a string", "integer": "an integer", "int": "an integer", "number": "a number", "float": "a number",
             "boolean": "true or false", "bool": "true or false", "null": "nothing", "NoneType": "nothing"}
    if isinstance(t, list):
        return " or ".join(names.get(x, x) for x in t)
    return names.get(t, str(t))


def _one_of_message(path: list[Any], instance: Any) -> str:
    where = path[0] if path else ""
    if where == "parameters":
        return "a parameter needs exactly one of: type (with min/max or values), double: [min, max], int: [min, max], discrete: [...], categorical: [...]"
    if where == "objective":
        return "objective needs exactly one of: maximize: METRIC, minimize: METRIC, or type + metric"
    if where == "algorithm" or where == "earlyStopping":
        return f"{where} is a name or a mapping with name and settings"
    if isinstance(instance, dict):
        return f"does not match any allowed form (keys: {', '.join(map(str, instance))})"
    return f"{instance!r} is not an allowed value"


def check_document(doc: Document) -> list[Finding]:
    if not isinstance(doc.data, dict):
        return [doc.finding(f"expected a mapping at the top of the spec, got {_type_words(type(doc.data).__name__)}", rule="spec-schema")]
    not_json = jsondata.problems(doc, rule="spec-schema")
    if not_json:
        return not_json
    # Only an invalid spec is walked by python-jsonschema, whose errors carry what the messages need.
    errors = [] if _plainly_valid(doc.data) else sorted(_validator().iter_errors(doc.data),
                                                         key=lambda e: [str(p) for p in e.absolute_path])
    findings = [_schema_finding(doc, e) for e in errors]
    if not findings:
        findings = _semantic_checks(doc)
    return findings


def _semantic_checks(doc: Document) -> list[Finding]:
    data = doc.data
    out = []
    trial = data.get("trial", {})
    has_template = "template" in trial or "configMap" in trial
    if "template" in trial and "configMap" in trial:
        out.append(doc.finding("use either template or configMap, not both", ["trial", "configMap"], rule="spec"))
    if not has_template and "image" not in trial:
        out.append(doc.finding("image is required (or give a raw template or configMap)", ["trial"], rule="spec"))
    if has_template:
        for key in SHORT_FORM_KEYS:
            if key in trial:
                out.append(doc.finding(f"{key} belongs to the short form; with a raw template put it in the template", ["trial", key], rule="spec"))
    if "parameters" in data and "nasConfig" in data:
        out.append(doc.finding("give parameters or nasConfig, not both", ["nasConfig"], rule="spec"))
    if "parameters" not in data and "nasConfig" not in data:
        out.append(doc.finding("parameters is required (or nasConfig for neural architecture search)", [], rule="spec"))
    for pname, p in (data.get("parameters") or {}).items():
        out += _collapsed_values(doc, pname, p)
        ptype = _param_type(p)
        if ptype in ("double", "int") and "values" in p:
            out.append(doc.finding(f"a {ptype} parameter takes min and max, not values", ["parameters", pname, "values"], rule="spec"))
        if p.get("type") in ("double", "int") and ("min" not in p or "max" not in p):
            out.append(doc.finding(f"a {ptype} parameter needs min and max", ["parameters", pname], rule="spec"))
        if p.get("type") in ("discrete", "categorical") and "values" not in p:
            out.append(doc.finding(f"a {ptype} parameter needs values", ["parameters", pname], rule="spec"))
    return out


def _list_values(p: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """(key, values) of a discrete or categorical parameter, in either form; ("", []) otherwise."""
    for key in ("categorical", "discrete", "values"):
        if isinstance(p.get(key), list):
            return key, p[key]
    return "", []


def _collapsed_values(doc: Document, pname: str, p: Mapping[str, Any]) -> list[Finding]:
    """Two values Katib would see as one string (`yes` and `on` both read as true, 1 and 1.0 as "1")."""
    key, values = _list_values(p)
    seen: dict[str, int] = {}
    out = []
    for i, v in enumerate(values):
        text = katib_string(v)
        if text in seen:
            out.append(doc.finding(f"value {i} reads as {text!r}, the same as value {seen[text]}: the two collapse into "
                                   "one (quote words like yes, no, on, off to keep them apart)",
                                   ["parameters", pname, key, i], rule="spec"))
        seen.setdefault(text, i)
    return out


_YAML11_BOOL_WORDS = frozenset({"yes", "no", "on", "off", "y", "n"})


def spec_warnings(doc: Document) -> list[Finding]:
    """YAML 1.1 booleans among categorical values: `yes` becomes true. Said once, with the fix."""
    out = []
    for pname, p in (doc.data.get("parameters") or {}).items() if isinstance(doc.data, dict) else ():
        key, values = _list_values(p) if isinstance(p, dict) else ("", [])
        for i, v in enumerate(values):
            if not isinstance(v, bool):
                continue
            written = _scalar_text(doc, ("parameters", pname, key, i))
            if written is not None and written.lower() in _YAML11_BOOL_WORDS:
                out.append(doc.finding(f"`{written}` is read as {str(v).lower()} (YAML 1.1), so the trial gets "
                                       f"`{str(v).lower()}`: quote it ('{written}') if you mean the word",
                                       ["parameters", pname, key, i], severity="warning", rule="yaml-boolean"))
    return out


def _scalar_text(doc: Document, path: tuple[Any, ...]) -> str | None:
    import yaml

    node = doc.node()
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _param_type(p: Mapping[str, Any]) -> str:
    if "type" in p:
        return p["type"]
    for t in PARAMETER_TYPES:
        if t in p:
            return t
    return "?"


# --------------------------------------------------------------------------- parse


def katib_string(value: Any) -> str:
    """Katib keeps feasible-space values and settings as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") and "e" not in text else text
    return str(value)


def _pairs(mapping: Mapping[str, Any] | None, convert: Any = lambda v: v) -> tuple[tuple[str, Any], ...]:
    return tuple((str(k), convert(v)) for k, v in (mapping or {}).items())


def default_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_parameter(name: str, p: Mapping[str, Any]) -> Parameter:
    ptype = _param_type(p)
    lo = hi = None
    values: tuple[str, ...] = ()
    if ptype in p:  # short form: double: [min, max] / categorical: [...]
        if ptype in ("double", "int"):
            lo, hi = (katib_string(v) for v in p[ptype])
        else:
            values = tuple(katib_string(v) for v in p[ptype])
    else:
        lo = katib_string(p["min"]) if "min" in p else None
        hi = katib_string(p["max"]) if "max" in p else None
        values = tuple(katib_string(v) for v in p.get("values", ()))
    return Parameter(
        name=name,
        type=ptype,
        min=lo,
        max=hi,
        step=katib_string(p["step"]) if "step" in p else None,
        values=values,
        distribution=p.get("distribution"),
        trial_name=p.get("as", name),
        description=p.get("description", ""),
        flag=p["flag"] if "flag" in p else default_flag(name),
    )


def _parse_algorithm(raw: Any) -> Algorithm:
    if isinstance(raw, str):
        return Algorithm(raw)
    return Algorithm(raw["name"], _pairs(raw.get("settings"), katib_string))


def _parse_objective(raw: Mapping[str, Any]) -> Objective:
    if "maximize" in raw:
        otype, metric = "maximize", raw["maximize"]
    elif "minimize" in raw:
        otype, metric = "minimize", raw["minimize"]
    else:
        otype, metric = raw["type"], raw["metric"]
    return Objective(
        type=otype,
        metric=metric,
        goal=raw.get("goal"),
        additional_metrics=tuple(raw.get("additionalMetrics", ())),
        strategies=_pairs(raw.get("strategies")),
    )


def _parse_collector(raw: Any) -> MetricsCollector:
    if raw is None:
        return MetricsCollector()
    if isinstance(raw, str):
        return MetricsCollector(kind=raw)
    return MetricsCollector(
        kind=raw["kind"],
        path=raw.get("path"),
        path_kind=raw.get("pathKind"),
        format=raw.get("format"),
        filter=tuple(raw.get("filter", ())),
        http_get=raw.get("httpGet"),
        container=raw.get("container"),
    )


def _parse_security(raw: Any) -> Security | None:
    if raw is None or raw is True:
        return Security()
    if raw is False:
        return None
    user = raw.get("runAsUser", 1000)
    return Security(
        run_as_user=None if user is False else user,
        run_as_non_root=raw.get("runAsNonRoot", True),
        allow_privilege_escalation=raw.get("allowPrivilegeEscalation", False),
        drop_all_capabilities=raw.get("dropAllCapabilities", True),
        seccomp_profile=raw.get("seccompProfile", True),
    )


def _parse_trial(raw: Mapping[str, Any]) -> Trial:
    refs = []
    for rname, r in (raw.get("references") or {}).items():
        if isinstance(r, str):
            refs.append(Reference(rname, r))
        else:
            refs.append(Reference(rname, r["reference"], r.get("description", "")))
    cm = raw.get("configMap")
    kw: dict[str, Any] = {}
    if "podAnnotations" in raw:
        kw["pod_annotations"] = _pairs(raw["podAnnotations"])
    return Trial(
        image=raw.get("image"),
        command=tuple(raw.get("command", ())),
        args=tuple(raw["args"]) if "args" in raw else None,
        working_dir=raw.get("workingDir"),
        env=_pairs(raw.get("env"), _env_value),
        primary_container=raw.get("primaryContainer", "training-container"),
        restart_policy=raw.get("restartPolicy", "Never"),
        pod_labels=_pairs(raw.get("podLabels")),
        tolerations=tuple(raw.get("tolerations", ())),
        security=_parse_security(raw.get("security")),
        template=raw.get("template"),
        config_map=dict(cm) if cm else None,
        references=tuple(refs),
        retain=raw.get("retain"),
        primary_pod_labels=raw.get("primaryPodLabels"),
        success_condition=raw.get("successCondition"),
        failure_condition=raw.get("failureCondition"),
        service_account=raw.get("serviceAccountName"),
        image_pull_secrets=tuple(raw.get("imagePullSecrets", ())),
        volumes=tuple(raw.get("volumes", ())),
        volume_mounts=tuple(raw.get("volumeMounts", ())),
        priority_class=raw.get("priorityClassName"),
        resources=raw.get("resources"),
        affinity=raw.get("affinity"),
        node_selector=_pairs(raw.get("nodeSelector")),
        **kw,
    )


def _env_value(v: Any) -> Any:
    return v if isinstance(v, dict) else katib_string(v)


def parse(doc: Document, display_path: str) -> Spec:
    d = doc.data
    trials = d.get("trials", {})
    chosen = d.get("profile")
    profile = None if chosen is None else tuple(dict.fromkeys([chosen] if isinstance(chosen, str) else chosen))
    profiles = tuple((str(name), raw) for name, raw in (d.get("profiles") or {}).items())
    return Spec(
        path=display_path,
        name=d["name"],
        namespace=d.get("namespace"),
        hash_name=d.get("hashName", True),
        prune=d.get("prune"),
        labels=_pairs(d.get("labels")),
        annotations=_pairs(d.get("annotations")),
        objective=_parse_objective(d["objective"]),
        algorithm=_parse_algorithm(d["algorithm"]),
        early_stopping=_parse_algorithm(d["earlyStopping"]) if "earlyStopping" in d else None,
        max_trials=trials.get("max"),
        parallel_trials=trials.get("parallel"),
        max_failed_trials=trials.get("maxFailed"),
        resume_policy=d.get("resumePolicy"),
        parameters=tuple(_parse_parameter(n, p) for n, p in (d.get("parameters") or {}).items()),
        nas_config=d.get("nasConfig"),
        metrics_collector=_parse_collector(d.get("metricsCollector")),
        trial=_parse_trial(d["trial"]),
        profile=profile,
        profiles=profiles,
    )


def spec_document(path: str | Path, display: str | None = None) -> Document:
    """The spec file as one document; a spec far over the API server's object size limit is refused before
    its YAML is parsed (parsing a million-value list alone takes seconds)."""
    from ..io.findings import UserError
    from .limits import OBJECT_LIMIT, SPEC_CONTENT_LIMIT, content_bytes
    from ..io.yamlio import load_documents, one_document, read_text

    name = display or str(path)
    text = read_text(str(path), name)
    if len(text) > SPEC_CONTENT_LIMIT and content_bytes(text) > SPEC_CONTENT_LIMIT:
        raise UserError(Finding(f"the spec holds {content_bytes(text):,} bytes of YAML (comments aside): its "
                                f"Experiment would be far over the {OBJECT_LIMIT:,} bytes (1.5 MiB) the API server "
                                "accepts (etcd's request limit); split the search space", file=name, line=1,
                                column=1, rule="k8s-limits"))
    return one_document(load_documents(text, name), name)
