"""Layer 4: the trial template as Kubernetes, and the API-server rules for pod templates.

Katib substitutes ``${trialParameters.X}`` into the template for every trial,
so the template is checked the way a trial's resource will be: sample values
from each parameter's feasible space are substituted first. A batch/v1 Job is
then checked against the official strict schema of the chosen Kubernetes
version (kubernetes-validate's bundled copies, one compiled validator per kind
per process); Kubeflow training jobs have each replica's pod template checked
as a PodTemplateSpec.

A schema cannot say that ``8 GiB`` is not a quantity, that a Job's pods must
not restart Always, or that a volumeMount names a volume; ``check_pod_spec``
applies those API-server rules (katib-facts.md, "Kubernetes rules a Job
template meets only when trials start"), which otherwise fail every trial
hours after the sync.

Paths are reported from the Experiment's root:
``spec.trialTemplate.trialSpec.spec.template.spec.containers[0].resources.limits.memory``.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

if TYPE_CHECKING:
    import jsonschema

from ..io.findings import ERROR, Finding, PathPart, UserError
from ..io.yamlio import Document
from .access import as_list
from . import katib_rules, names
from .schema import compile_schema, did_you_mean, schema_findings

TRIAL_SPEC = ("spec", "trialTemplate", "trialSpec")
JOB_API = "batch/v1"
KUBEFLOW_GROUP = "kubeflow.org"

# ---------------------------------------------------------------------------
# bundled schemas


def _schema_root() -> Path:
    # Located without importing kubernetes_validate: its __init__ loads python-jsonschema, which a
    # valid document never needs (see schema.CompiledSchema).
    from importlib.util import find_spec

    spec = find_spec("kubernetes_validate")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]) / "kubernetes-json-schema"
    from importlib import resources

    return Path(str(resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")))


@lru_cache(maxsize=None)
def bundled_versions() -> tuple[str, ...]:
    """major.minor of every strict schema set kubernetes-validate ships, oldest first."""
    found = []
    for entry in _schema_root().iterdir():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", entry.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2))))
    return tuple(f"{a}.{b}" for a, b in sorted(found))


@lru_cache(maxsize=None)
def resolve_version(requested: str | None) -> str:
    """The bundled major.minor for a requested version ('1.30', 'v1.30.2'); newest when None."""
    versions = bundled_versions()
    if not requested:
        return versions[-1]
    m = re.fullmatch(r"v?(\d+)\.(\d+)(\.\d+)?", requested.strip())
    if m:
        wanted = f"{int(m.group(1))}.{int(m.group(2))}"
        if wanted in versions:
            return wanted
    raise UserError(Finding(f"--kubernetes-version {requested}: schemas are bundled for {versions[0]} to "
                            f"{versions[-1]} (major.minor)", file="-", rule="usage"), exit_code=2)


def _version_dir(version: str) -> Path:
    for entry in _schema_root().iterdir():
        if re.fullmatch(rf"v{re.escape(version)}\.\d+-local-strict", entry.name):
            return entry
    raise KeyError(version)


@lru_cache(maxsize=None)
def _definitions(version: str) -> dict[str, Any]:
    with open(_version_dir(version) / "_definitions.json", encoding="utf-8") as fh:
        return json.load(fh)["$defs"]


def schema_file_name(api_version: str, kind: str) -> str:
    """kubernetes-validate's file naming: apps/v1 Deployment -> deployment-apps-v1.json."""
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return f"{kind.lower()}-{group.split('.')[0]}-{version}.json"
    return f"{kind.lower()}-{api_version}.json"


@lru_cache(maxsize=None)
def kind_validator(version: str, api_version: str, kind: str) -> Any:
    """The compiled strict validator for a built-in kind, or None when no schema is bundled for it."""
    path = _version_dir(version) / schema_file_name(api_version, kind)
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as fh:
        schema = json.load(fh)
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    gvks = schema.get("x-kubernetes-group-version-kind") or []
    # The file name keeps only the group's first label; make sure the group really matches.
    if gvks and not any(g.get("group", "") == group and g.get("kind") == kind for g in gvks):
        return None
    return compile_schema(schema, _definitions(version))


@lru_cache(maxsize=None)
def pod_template_validator(version: str) -> Any:
    return kind_validator(version, "v1", "PodTemplateSpec")


# ---------------------------------------------------------------------------
# substitution


def sample_values(exp: dict[str, Any]) -> dict[str, str]:
    """A value per trialParameter, as a trial would see it (first list entry, or min)."""
    spec = exp.get("spec") if isinstance(exp.get("spec"), dict) else {}
    params = {p["name"]: p for p in as_list(spec.get("parameters")) if isinstance(p, dict) and isinstance(p.get("name"), str)}
    tt = spec.get("trialTemplate") if isinstance(spec.get("trialTemplate"), dict) else {}
    ts = tt.get("trialSpec") if isinstance(tt.get("trialSpec"), dict) else {}
    meta = exp.get("metadata") if isinstance(exp.get("metadata"), dict) else {}
    ts_meta = ts.get("metadata") if isinstance(ts.get("metadata"), dict) else {}
    out: dict[str, str] = {}
    for tp in as_list(tt.get("trialParameters")):
        if not isinstance(tp, dict) or not isinstance(tp.get("name"), str):
            continue
        ref = tp.get("reference")
        m = katib_rules.META_REFERENCE.fullmatch(ref) if isinstance(ref, str) else None
        if isinstance(ref, str) and ref in params:
            out[tp["name"]] = _sample(params[ref])
        elif m and m.group(1):
            out[tp["name"]] = {
                "Name": f"{meta.get('name') or 'experiment'}-abcd1234",
                "Namespace": str(meta.get("namespace") or "default"),
                "Kind": str(ts.get("kind") or ""),
                "APIVersion": str(ts.get("apiVersion") or ""),
            }[m.group(1)]
        elif m:
            bag = ts_meta.get("labels" if m.group(2) == "Labels" else "annotations")
            out[tp["name"]] = str((bag or {}).get(m.group(3), "")) if isinstance(bag, dict) else ""
        else:
            # NAS references (architecture, nn_config, ...) are filled in by the suggestion service.
            out[tp["name"]] = "sample"
    return out


def _sample(param: dict[str, Any]) -> str:
    space = param.get("feasibleSpace") if isinstance(param.get("feasibleSpace"), dict) else {}
    values = space.get("list")
    if isinstance(values, list) and values:
        return str(values[0])
    for key in ("min", "max"):
        if space.get(key) not in (None, ""):
            return str(space[key])
    return "1"


def substitute(node: Any, values: dict[str, str]) -> Any:
    """A copy of node with ${trialParameters.X} replaced in every string (types are kept, as in Katib)."""
    if isinstance(node, str):
        if "${trialParameters." not in node:
            return node
        return katib_rules.PLACEHOLDER.sub(lambda m: values.get(m.group(1), "sample"), node)
    if isinstance(node, dict):
        return {k: substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, values) for v in node]
    return node


# ---------------------------------------------------------------------------
# where the pod templates are


WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"})
KUBEFLOW_JOB_KINDS = katib_rules.KUBEFLOW_JOB_KINDS


def is_kubeflow_job(api_version: Any, kind: Any) -> bool:
    return isinstance(api_version, str) and api_version.split("/")[0] == KUBEFLOW_GROUP and isinstance(kind, str) \
        and kind in KUBEFLOW_JOB_KINDS


def pod_templates(obj: dict[str, Any]) -> Iterator[tuple[tuple[PathPart, ...], dict[str, Any], bool]]:
    """(path of the pod template, template {metadata, spec}, whether a Job runs it) for each pod template."""
    kind, api = obj.get("kind"), obj.get("apiVersion")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if kind == "Pod" and api == "v1":
        yield (), obj, False
    elif kind == "PodTemplate" and api == "v1":
        yield from _template(obj.get("template"), ("template",), False)
    elif kind == "Job" and api == JOB_API:
        yield from _template(spec.get("template"), ("spec", "template"), True)
    elif kind == "CronJob" and api == JOB_API:
        job = spec.get("jobTemplate") if isinstance(spec.get("jobTemplate"), dict) else {}
        job_spec = job.get("spec") if isinstance(job.get("spec"), dict) else {}
        yield from _template(job_spec.get("template"), ("spec", "jobTemplate", "spec", "template"), True)
    elif isinstance(kind, str) and kind in WORKLOAD_KINDS:
        yield from _template(spec.get("template"), ("spec", "template"), False)
    elif is_kubeflow_job(api, kind):
        for key, replicas in spec.items():
            if isinstance(key, str) and key.endswith("ReplicaSpecs") and isinstance(replicas, dict):
                for role, replica in replicas.items():
                    if isinstance(replica, dict):
                        yield from _template(replica.get("template"), ("spec", key, role, "template"), False)


def _template(template: Any, path: tuple[PathPart, ...], job: bool) -> Iterator[tuple[tuple[PathPart, ...], dict[str, Any], bool]]:
    if isinstance(template, dict):
        yield path, template, job


# ---------------------------------------------------------------------------
# API-server rules over one pod spec


QUANTITY = re.compile(r"([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?")
_SUFFIX = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
           "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1, "k": 10 ** 3, "M": 10 ** 6,
           "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18}
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
C_IDENTIFIER_ENV = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "storage", "pods"})
TOLERATION_OPERATORS = ("", "Equal", "Exists", "Lt", "Gt")
TAINT_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")


def parse_quantity(value: Any) -> Decimal | None:
    """The value of a Kubernetes quantity ('500m', '8Gi', 2), or None when the API server would refuse it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        return None
    m = QUANTITY.fullmatch(value)
    if not m:
        return None
    sign, number, suffix = m.group(1), m.group(2), m.group(3) or ""
    try:
        amount = Decimal(number)
        if suffix[:1] in ("e", "E"):
            amount = amount.scaleb(int(suffix[1:]))
        else:
            amount *= Decimal(_SUFFIX[suffix])
    except (InvalidOperation, KeyError):
        return None
    return -amount if sign == "-" else amount


def is_extended_resource(name: str) -> bool:
    """nvidia.com/gpu and the like: fully qualified and outside the kubernetes.io namespaces."""
    if "/" not in name or name.startswith("requests."):
        return False
    domain = name.split("/", 1)[0]
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


class PodChecker:
    def __init__(self, doc: Document, prefix: Sequence[PathPart], version: str):
        self.doc = doc
        self.prefix = tuple(prefix)
        self.version = version
        self.findings: list[Finding] = []

    def error(self, rule: str, path: Sequence[PathPart], message: str, at: Sequence[PathPart] | None = None) -> None:
        full = (*self.prefix, *path)
        line, col = self.doc.position((*self.prefix, *at) if at is not None else full)
        self.findings.append(Finding(message, full, self.doc.file, line, col, ERROR, rule))


def containers_of(pod_spec: dict[str, Any]) -> Iterator[tuple[tuple[PathPart, ...], dict[str, Any]]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        items = pod_spec.get(key)
        if isinstance(items, list):
            for i, ct in enumerate(items):
                if isinstance(ct, dict):
                    yield (key, i), ct


def check_pod_spec(doc: Document, template_path: Sequence[PathPart], template: dict[str, Any], job: bool,
                   version: str) -> list[Finding]:
    """API-server rules for the pod template at template_path ({metadata, spec}; a Pod's own path for Pods)."""
    pod = template.get("spec")
    if not isinstance(pod, dict):
        return []
    c = PodChecker(doc, (*template_path, "spec"), version)
    if job:
        _restart_policy(c, pod)
    _container_names(c, pod)
    volumes = _volume_names(c, pod)
    for path, ct in containers_of(pod):
        _resources(c, (*path, "resources"), ct.get("resources"))
        _volume_mounts(c, path, ct, volumes)
        _env_names(c, path, ct)
    _resources(c, ("resources",), pod.get("resources"))
    _tolerations(c, pod)
    return c.findings + names.check_template(doc, template_path, template)


def _restart_policy(c: PodChecker, pod: dict[str, Any]) -> None:
    policy = pod.get("restartPolicy")
    if policy is None:
        c.error("k8s-restart-policy", ("restartPolicy",),
                "must be Never or OnFailure for a Job; left out it defaults to Always, which the API server rejects",
                at=())
    elif isinstance(policy, str) and policy not in ("Never", "OnFailure"):
        c.error("k8s-restart-policy", ("restartPolicy",),
                f"`{policy}` is not allowed for a Job: use Never or OnFailure{did_you_mean(policy, ('Never', 'OnFailure'))}")


def _container_names(c: PodChecker, pod: dict[str, Any]) -> None:
    seen: set[str] = set()
    for path, ct in containers_of(pod):
        name = ct.get("name")
        if not isinstance(name, str):
            continue
        if not DNS1123_LABEL.fullmatch(name) or len(name) > 63:
            c.error("k8s-container-name", (*path, "name"),
                    f"`{name}` is not a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters, "
                    "starting and ending with a letter or digit")
        elif name in seen:
            c.error("k8s-container-name", (*path, "name"), f"container name `{name}` is used twice in this pod")
        seen.add(name)


def _volume_names(c: PodChecker, pod: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for i, vol in enumerate(as_list(pod.get("volumes"))):
        if not isinstance(vol, dict) or not isinstance(vol.get("name"), str):
            continue
        name = vol["name"]
        if not DNS1123_LABEL.fullmatch(name) or len(name) > 63:
            c.error("k8s-volume-name", ("volumes", i, "name"), f"`{name}` is not a DNS-1123 label")
        elif name in names:
            c.error("k8s-volume-name", ("volumes", i, "name"), f"volume name `{name}` is used twice in this pod")
        names.append(name)
        empty_dir = vol.get("emptyDir")
        if isinstance(empty_dir, dict) and "sizeLimit" in empty_dir:
            _quantity(c, ("volumes", i, "emptyDir", "sizeLimit"), empty_dir["sizeLimit"])
    return names


def _volume_mounts(c: PodChecker, path: tuple[PathPart, ...], ct: dict[str, Any], volumes: list[str]) -> None:
    mount_paths: set[str] = set()
    for key in ("volumeMounts", "volumeDevices"):
        for j, mount in enumerate(as_list(ct.get(key))):
            if not isinstance(mount, dict):
                continue
            name = mount.get("name")
            if isinstance(name, str) and name not in volumes:
                hint = did_you_mean(name, volumes)
                known = f" (volumes: {', '.join(volumes)})" if volumes else " (the pod defines no volumes)"
                c.error("k8s-volume-mount", (*path, key, j, "name"), f"`{name}` names no volume of this pod{hint}{known}")
            where = mount.get("mountPath") if key == "volumeMounts" else mount.get("devicePath")
            if isinstance(where, str):
                if where in mount_paths:
                    c.error("k8s-volume-mount", (*path, key, j, "mountPath" if key == "volumeMounts" else "devicePath"),
                            f"`{where}` is mounted twice in this container")
                mount_paths.add(where)


def _env_names(c: PodChecker, path: tuple[PathPart, ...], ct: dict[str, Any]) -> None:
    relaxed = tuple(int(x) for x in c.version.split(".")) >= (1, 32)
    for j, env in enumerate(as_list(ct.get("env"))):
        name = env.get("name") if isinstance(env, dict) else None
        if not isinstance(name, str):
            continue
        if relaxed:
            bad = not name or "=" in name or any(not (" " <= ch <= "~") for ch in name)
            rule = "printable ASCII characters other than '='"
        else:
            bad = not C_IDENTIFIER_ENV.fullmatch(name)
            rule = "letters, digits, '_', '-' and '.', not starting with a digit"
        if bad:
            c.error("k8s-env-name", (*path, "env", j, "name"),
                    f"`{name}` is not a valid environment variable name for Kubernetes {c.version}: {rule}")


def _quantity(c: PodChecker, path: tuple[PathPart, ...], value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None  # the schema layer reports the type
    amount = parse_quantity(value)
    if amount is None:
        c.error("k8s-quantity", path,
                f"`{value}` is not a Kubernetes quantity (write e.g. 8Gi, 512Mi, 500m or 2; no spaces, binary "
                "suffixes Ki Mi Gi Ti, decimal k M G T)")
    elif amount < 0:
        c.error("k8s-quantity", path, f"`{value}` must not be negative")
        return None
    return amount


def _resources(c: PodChecker, path: tuple[PathPart, ...], res: Any) -> None:
    if not isinstance(res, dict):
        return
    parsed: dict[str, dict[str, Decimal]] = {"limits": {}, "requests": {}}
    for section in ("limits", "requests"):
        values = res.get(section)
        if not isinstance(values, dict):
            continue
        for name, raw in values.items():
            amount = _quantity(c, (*path, section, name), raw)
            if amount is None:
                continue
            parsed[section][name] = amount
            if is_extended_resource(str(name)) and amount != amount.to_integral_value():
                c.error("k8s-extended-resource", (*path, section, name),
                        f"`{raw}`: extended resource {name} must be a whole number")
    limits, requests = parsed["limits"], parsed["requests"]
    for name, req in requests.items():
        lim = limits.get(name)
        if is_extended_resource(str(name)):
            if name not in _keys(res.get("limits")):
                c.error("k8s-extended-resource", (*path, "requests", name),
                        f"extended resource {name} needs a limit (the request then defaults to it)")
            elif lim is not None and req != lim:
                c.error("k8s-extended-resource", (*path, "requests", name),
                        f"extended resource {name}: the request must equal the limit ({res['limits'][name]})")
        elif lim is not None and req > lim:
            c.error("k8s-resources", (*path, "requests", name),
                    f"request {res['requests'][name]} is greater than the limit {res['limits'][name]}")


def _keys(value: Any) -> set[Any]:
    return set(value) if isinstance(value, dict) else set()


def _tolerations(c: PodChecker, pod: dict[str, Any]) -> None:
    for i, tol in enumerate(as_list(pod.get("tolerations"))):
        if not isinstance(tol, dict):
            continue
        path = ("tolerations", i)
        op = tol.get("operator") or ""
        if isinstance(op, str) and op not in TOLERATION_OPERATORS:
            c.error("k8s-toleration", (*path, "operator"),
                    f"`{op}` is not an operator: Equal or Exists{did_you_mean(op, TOLERATION_OPERATORS[1:])}")
        if op == "Exists" and tol.get("value"):
            c.error("k8s-toleration", (*path, "value"), "must be empty when operator is Exists")
        if not tol.get("key") and op != "Exists":
            c.error("k8s-toleration", (*path, "operator"),
                    "a toleration without a key must use operator Exists (it then matches every taint)",
                    at=(*path, "operator") if "operator" in tol else path)
        effect = tol.get("effect") or ""
        if isinstance(effect, str) and effect not in TAINT_EFFECTS:
            c.error("k8s-toleration", (*path, "effect"),
                    f"`{effect}` is not a taint effect: NoSchedule, PreferNoSchedule or NoExecute"
                    f"{did_you_mean(effect, TAINT_EFFECTS[1:])}")


# ---------------------------------------------------------------------------
# the trial template


def _job_rule(err: jsonschema.ValidationError) -> str:
    """Katib's webhook converts a Job template into a typed Job: unknown fields and wrong types fail there (rule 14).

    Everything else the schema finds (a missing container name, say) passes the
    webhook and fails each trial's Job at the API server instead.
    """
    if err.validator in ("additionalProperties", "type"):
        return "katib-14"
    if err.validator in ("oneOf", "anyOf") and all(isinstance(s, dict) and set(s) == {"type"} for s in err.validator_value):
        return "katib-14"
    return "k8s-schema"


def trial_resource(exp: dict[str, Any]) -> dict[str, Any] | None:
    """The trial template after substitution of sample values, or None when there is no inline template."""
    spec = exp.get("spec")
    tt = spec.get("trialTemplate") if isinstance(spec, dict) else None
    ts = tt.get("trialSpec") if isinstance(tt, dict) else None
    if not isinstance(ts, dict):
        return None
    return substitute(ts, sample_values(exp))


def check_trial_template(doc: Document, version: str, resource: dict[str, Any] | None = None) -> list[Finding]:
    """Schema and API-server checks over the Experiment's trial template."""
    resource = resource if resource is not None else trial_resource(doc.data)
    if resource is None:
        return []
    findings: list[Finding] = []
    api, kind = resource.get("apiVersion"), resource.get("kind")
    if isinstance(api, str) and isinstance(kind, str):
        if is_kubeflow_job(api, kind):
            validator = pod_template_validator(version)
            for path, template, _ in pod_templates(resource):
                findings += schema_findings(validator, template, doc, (*TRIAL_SPEC, *path), "k8s-schema")
        else:
            validator = kind_validator(version, api, kind)
            if validator is not None:
                rule_for = _job_rule if (api, kind) == (JOB_API, "Job") else None
                findings += schema_findings(validator, resource, doc, TRIAL_SPEC, "k8s-schema", rule_for)
    for path, template, job in pod_templates(resource):
        findings += check_pod_spec(doc, (*TRIAL_SPEC, *path), template, job, version)
    return findings
