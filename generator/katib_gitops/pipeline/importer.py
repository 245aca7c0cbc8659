"""Import: an existing Katib Experiment manifest -> a spec.

The short forms are only used when they provably give back the same
Experiment: the importer renders each candidate and compares it with the
original (both with Katib's defaults). Anything the short form cannot say
stays in the raw escape hatches (trial.template, nasConfig).
"""

from __future__ import annotations

import copy
from typing import Any

from ..spec.defaults import apply_katib_defaults, kind_defaults
from ..spec.experiment import build_spec
from ..io.findings import Finding, UserError
from ..spec.naming import HASH_LEN, MAX_NAME
from ..spec.model import SHORT_FORM_KEYS, Document, check_document, default_flag, parse
from ..io.yamlio import load_file

SHORT_CONTAINER_KEYS = {"name", "image", "command", "args", "workingDir", "env", "securityContext", "resources",
                        "volumeMounts"}
SHORT_POD_KEYS = {"containers", "restartPolicy", "securityContext", "tolerations", "serviceAccountName",
                  "imagePullSecrets", "volumes", "nodeSelector", "affinity", "priorityClassName"}
RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def find_experiment(path: str) -> Document:
    return find_experiment_in(load_file(path), path)


def find_experiment_in(docs: list[Document], display: str) -> Document:
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("kind") == "Experiment":
            return doc
    raise UserError(Finding("no kubeflow.org Experiment in this file", file=display, line=1, column=1, rule="import"))


def normalise(experiment: dict[str, Any]) -> dict[str, Any]:
    """Experiment spec with Katib's defaults and without empty values, for comparison."""
    return _drop_empty(apply_katib_defaults({"spec": copy.deepcopy(experiment.get("spec") or {})})["spec"])


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ("", [], {}, None)}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def import_experiment(doc: Document, default_profile: str = "cpu", name: str | None = None) -> dict[str, Any]:
    """The spec (as a plain mapping in reading order) for the Experiment in doc.

    The spec deploys under the repository's default profile, switched off for it (`profiles: {cpu: null}`), so
    rendering it deploys exactly the imported Experiment, resources included; choosing a profile (`profile:`)
    or dropping that line is how its author opts in. name: the spec's name (a spec file's name is its spec's
    name), instead of the Experiment's metadata.name.
    """
    from ..validation import kubernetes
    from ..validation.schema import check_experiment

    # The walk below trusts the Experiment's types (mappings where mappings belong, lists of mappings
    # where Katib has lists); it does not assume the keys Katib requires inside them. The CRD schema
    # and Katib's typed conversion of a Job template (katib-14) guarantee those types, and a cluster
    # refuses an Experiment that breaks them anyway: such a manifest stops here with its first finding.
    problems = [f for f in check_experiment(doc) if f.severity == "error"]
    if not problems:
        problems = [f for f in kubernetes.check_trial_template(doc, kubernetes.resolve_version(None))
                    if f.rule == "katib-14" and f.severity == "error"]
    if problems:
        raise UserError(min(problems, key=lambda f: (f.line, f.column)))
    exp = doc.data
    meta = exp.get("metadata") or {}
    spec = exp.get("spec") or {}
    name = name or meta.get("name") or ""
    if not name:
        raise UserError(doc.finding("the Experiment has no metadata.name", ["metadata"], rule="import"))
    out: dict[str, Any] = {"name": name}
    if len(name) > MAX_NAME - HASH_LEN - 1:
        out["hashName"] = False
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if not k.startswith(("katib-gitops.", "app.kubernetes.io/managed-by"))}
    if labels:
        out["labels"] = labels
    if meta.get("annotations"):
        out["annotations"] = dict(meta["annotations"])
    out["objective"] = _objective(spec.get("objective") or {})
    out["algorithm"] = _algorithm(spec.get("algorithm") or {})
    if spec.get("earlyStopping"):
        out["earlyStopping"] = _algorithm(spec["earlyStopping"])
    trials = {k: spec[src] for k, src in (("max", "maxTrialCount"), ("parallel", "parallelTrialCount"),
                                          ("maxFailed", "maxFailedTrialCount")) if src in spec}
    if trials:
        out["trials"] = trials
    if spec.get("resumePolicy") and spec["resumePolicy"] != "Never":
        out["resumePolicy"] = spec["resumePolicy"]
    tps = (spec.get("trialTemplate") or {}).get("trialParameters") or []
    by_ref = {tp.get("reference"): tp for tp in tps}
    if spec.get("nasConfig") is not None:
        out["nasConfig"] = copy.deepcopy(spec["nasConfig"])
    else:
        out["parameters"] = {p.get("name", ""): _parameter(p, by_ref.get(p.get("name"))) for p in spec.get("parameters") or []}
    collector = _collector(spec.get("metricsCollectorSpec") or {})
    if collector is not None:
        out["metricsCollector"] = collector
    param_names = {p.get("name") for p in spec.get("parameters") or []}
    out["trial"] = _trial(spec, out, [tp for tp in tps if tp.get("reference") not in param_names])
    result = _verified(doc, out)
    result["profiles"] = {default_profile: None}
    return result


def _objective(o: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    otype = o.get("type", "maximize")
    out[otype] = o.get("objectiveMetricName", "")
    if "goal" in o:
        out["goal"] = o["goal"]
    if o.get("additionalMetricNames"):
        out["additionalMetrics"] = list(o["additionalMetricNames"])
    direction = "max" if otype == "maximize" else "min"
    strategies = {s.get("name", ""): s.get("value", "") for s in o.get("metricStrategies") or [] if s.get("value") != direction}
    if strategies:
        out["strategies"] = strategies
    return out


def _algorithm(a: dict[str, Any]) -> Any:
    settings = a.get("algorithmSettings") or []
    if not settings:
        return a.get("algorithmName", "")
    return {"name": a.get("algorithmName", ""), "settings": {s.get("name", ""): s.get("value", "") for s in settings}}


def _parameter(p: dict[str, Any], tp: dict[str, Any] | None) -> dict[str, Any]:
    ptype = p.get("parameterType", "")
    fs = p.get("feasibleSpace") or {}
    out: dict[str, Any]
    if ptype in ("double", "int") and "min" in fs and "max" in fs and "list" not in fs:
        out = {ptype: [fs["min"], fs["max"]]}
    elif ptype in ("discrete", "categorical") and fs.get("list") and not ({"min", "max"} & set(fs)):
        out = {ptype: list(fs["list"])}
    else:
        out = {"type": ptype}
        for key in ("min", "max"):
            if key in fs:
                out[key] = fs[key]
        if "list" in fs:
            out["values"] = list(fs["list"])
    if "step" in fs:
        out["step"] = fs["step"]
    if fs.get("distribution") and fs["distribution"] != "uniform":
        out["distribution"] = fs["distribution"]
    if tp is not None:
        if tp.get("name") and tp["name"] != p.get("name"):
            out["as"] = tp["name"]
        if tp.get("description"):
            out["description"] = tp["description"]
    return out


def _collector(mcs: dict[str, Any]) -> Any:
    collector = mcs.get("collector") or {}
    kind = collector.get("kind", "StdOut")
    source = mcs.get("source") or {}
    out: dict[str, Any] = {"kind": kind}
    fsp = source.get("fileSystemPath") or {}
    if "path" in fsp:
        out["path"] = fsp["path"]
    if "kind" in fsp:
        out["pathKind"] = fsp["kind"]
    if "format" in fsp:
        out["format"] = fsp["format"]
    if (source.get("filter") or {}).get("metricsFormat"):
        out["filter"] = list(source["filter"]["metricsFormat"])
    if source.get("httpGet"):
        out["httpGet"] = copy.deepcopy(source["httpGet"])
    if collector.get("customCollector"):
        out["container"] = copy.deepcopy(collector["customCollector"])
    if out == {"kind": "StdOut"}:
        return None
    return kind if len(out) == 1 else out


def _trial(spec: dict[str, Any], out: dict[str, Any], refs: list[dict[str, Any]]) -> dict[str, Any]:
    tt = spec.get("trialTemplate") or {}
    trial: dict[str, Any] = {}
    trial_spec = tt.get("trialSpec")
    if tt.get("configMap"):
        cm = tt["configMap"]
        trial["configMap"] = {"name": cm.get("configMapName", ""), "namespace": cm.get("configMapNamespace", ""),
                              "templatePath": cm.get("templatePath", "")}
    elif trial_spec is not None:
        trial["template"] = copy.deepcopy(trial_spec)
    if tt.get("primaryContainerName", "training-container") != "training-container":
        trial["primaryContainer"] = tt.get("primaryContainerName")
    kind = (trial_spec or {}).get("kind")
    success, failure, pod_labels = kind_defaults(kind)
    if "retain" in tt:
        trial["retain"] = tt["retain"]
    if tt.get("primaryPodLabels") is not None and tt["primaryPodLabels"] != pod_labels:
        trial["primaryPodLabels"] = dict(tt["primaryPodLabels"])
    if tt.get("successCondition") and tt["successCondition"] != success:
        trial["successCondition"] = tt["successCondition"]
    if tt.get("failureCondition") and tt["failureCondition"] != failure:
        trial["failureCondition"] = tt["failureCondition"]
    if refs:
        trial["references"] = {
            r.get("name", ""): ({"reference": r.get("reference", ""), "description": r["description"]} if r.get("description")
                                else r.get("reference", ""))
            for r in refs}
    if "template" in trial:
        short = _short_form(trial["template"], tt.get("primaryContainerName", "training-container"))
        if short is not None:
            trial = {**{k: v for k, v in trial.items() if k != "template"}, **short}
            trial = _order_trial(trial)
    return trial


def _order_trial(trial: dict[str, Any]) -> dict[str, Any]:
    first = ("image", "command", "args", "workingDir", "env", "primaryContainer", "restartPolicy",
             "podAnnotations", "podLabels", "tolerations", "serviceAccountName", "imagePullSecrets", "volumes",
             "volumeMounts", "priorityClassName", "resources", "affinity", "nodeSelector", "security")
    return {**{k: trial[k] for k in first if k in trial}, **{k: v for k, v in trial.items() if k not in first}}


def _short_form(job: dict[str, Any], primary: str) -> dict[str, Any] | None:
    """The short-form trial fields for a simple Job, or None when it does not fit."""
    if job.get("apiVersion") != "batch/v1" or job.get("kind") != "Job" or set(job) - {"apiVersion", "kind", "spec"}:
        return None
    body = job.get("spec") or {}
    if set(body) != {"template"}:
        return None
    tmpl = body["template"] or {}
    if set(tmpl) - {"metadata", "spec"}:
        return None
    meta = tmpl.get("metadata") or {}
    if set(meta) - {"annotations", "labels"}:
        return None
    pod = tmpl.get("spec") or {}
    if set(pod) - SHORT_POD_KEYS:
        return None
    containers = pod.get("containers") or []
    # Kubernetes reads a null list item as an empty object; such a template keeps its raw form.
    if len(containers) != 1 or not isinstance(containers[0], dict) or containers[0].get("name") != primary:
        return None
    c = containers[0]
    if set(c) - SHORT_CONTAINER_KEYS or "image" not in c:
        return None
    short: dict[str, Any] = {"image": c["image"]}
    for key in ("command", "args", "workingDir"):
        if key in c:
            short[key] = copy.deepcopy(c[key])
    if c.get("env"):
        env = {}
        for e in c["env"]:
            if not isinstance(e, dict):
                return None
            if set(e) == {"name", "value"}:
                env[e["name"]] = e["value"]
            elif set(e) == {"name", "valueFrom"}:
                env[e["name"]] = copy.deepcopy(e["valueFrom"])
            else:
                return None
        short["env"] = env
    if isinstance(c.get("resources"), dict) and c["resources"] and set(c["resources"]) <= {"limits", "requests"}:
        short["resources"] = copy.deepcopy(c["resources"])
    if c.get("volumeMounts"):
        short["volumeMounts"] = copy.deepcopy(c["volumeMounts"])
    if pod.get("tolerations"):
        short["tolerations"] = copy.deepcopy(pod["tolerations"])
    for key in ("serviceAccountName", "priorityClassName", "nodeSelector", "affinity", "volumes"):
        if pod.get(key):
            short[key] = copy.deepcopy(pod[key])
    secrets = pod.get("imagePullSecrets") or []
    if secrets:
        if not all(isinstance(x, dict) and set(x) == {"name"} for x in secrets):
            return None
        short["imagePullSecrets"] = [x["name"] for x in secrets]
    if pod.get("restartPolicy", "Never") != "Never":
        short["restartPolicy"] = pod.get("restartPolicy")
    annotations = meta.get("annotations") or {}
    if annotations != {"sidecar.istio.io/inject": "false"}:
        short["podAnnotations"] = dict(annotations)
    if meta.get("labels"):
        short["podLabels"] = dict(meta["labels"])
    pod_sc, c_sc = pod.get("securityContext"), c.get("securityContext")
    if pod_sc is None and c_sc is None:
        short["security"] = False
    elif pod_sc != RESTRICTED_POD or c_sc != RESTRICTED_CONTAINER:
        return None
    return short


def _verified(doc: Document, candidate: dict[str, Any]) -> dict[str, Any]:
    """candidate with the trial's flags folded into defaults where that renders the same Experiment."""
    target = normalise(doc.data)
    trial = candidate["trial"]
    tries = []
    if "image" in trial:
        tries.append(_strip_flags(candidate))
    tries.append(candidate)
    if "image" in trial:
        raw = copy.deepcopy(candidate)
        raw["trial"] = {k: v for k, v in trial.items() if k not in _SHORT_KEYS}
        raw["trial"] = {"template": copy.deepcopy(doc.data["spec"]["trialTemplate"]["trialSpec"]), **raw["trial"]}
        tries.append(raw)
    for attempt in tries:
        if attempt is None:
            continue
        rendered = _render_candidate(doc, attempt)
        if rendered is not None and normalise({"spec": rendered}) == target:
            return attempt
    # The raw form is equal by construction unless the Experiment is itself invalid.
    return tries[-1]


_SHORT_KEYS = set(SHORT_FORM_KEYS)


def _strip_flags(candidate: dict[str, Any]) -> dict[str, Any] | None:
    """Drop trailing `--name=${trialParameters.name}` items that the default flags reproduce."""
    c = copy.deepcopy(candidate)
    trial = c["trial"]
    key = "args" if "args" in trial else "command"
    items = list(trial.get(key) or [])
    params = c.get("parameters") or {}
    expected = []
    for pname, p in params.items():
        tname = p.get("as", pname)
        expected.append(f"{default_flag(pname)}=${{trialParameters.{tname}}}")
    text_elsewhere = str([trial.get("env"), trial.get("command") if key == "args" else None])
    n = len(expected)
    if n == 0 or len(items) < n or items[-n:] != expected:
        return None
    if any("${trialParameters." in str(t) for t in items[:-n]) or "${trialParameters." in text_elsewhere:
        return None
    trial[key] = items[:-n]
    if key == "args" and not trial[key]:
        trial[key] = []
    return c


def _render_candidate(doc: Document, candidate: dict[str, Any]) -> dict[str, Any] | None:
    from ..io.yamlio import dump, load_documents

    text = dump(candidate)
    try:
        (cdoc,) = load_documents(text, doc.file)
    except (UserError, ValueError):
        return None
    if check_document(cdoc):
        return None
    try:
        return build_spec(parse(cdoc, doc.file))
    except (KeyError, TypeError, ValueError, UserError):
        return None


def dump_spec(spec: dict[str, Any], source: str) -> str:
    """The spec as YAML a person would write: short lists inline, a comment saying where it came from."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    from ..io.safetext import clean, clean_lines, unsafe
    from ..io.yamlio import dump_roundtrip

    def convert(value: Any, depth: int = 0) -> Any:
        if isinstance(value, dict):
            m = CommentedMap()
            for k, v in value.items():
                m[k] = convert(v, depth + 1)
            return m
        if isinstance(value, list):
            s = CommentedSeq(convert(v, depth + 1) for v in value)
            if all(isinstance(v, (str, int, float, bool)) for v in value) and len(str(value)) < 70:
                s.fa.set_flow_style()
            return s
        if isinstance(value, str) and unsafe(value):
            return DoubleQuotedScalarString(value)  # escaped there, by clean below (its escapes are YAML's)
        return value

    data = convert(spec)
    data.yaml_set_start_comment(f"Imported from {clean(source)} by katib-gitops import.")
    if "profiles" in data:
        data.yaml_set_comment_before_after_key(
            "profiles", before="Deployed as imported: the default profile adds nothing to this experiment.\n"
            "Drop the line below (or choose `profile:`) to take a profile's settings.")
    return clean_lines(dump_roundtrip(data))
