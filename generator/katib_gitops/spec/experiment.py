"""Spec -> Katib Experiment (kubeflow.org/v1beta1), as a plain dict ready to dump.

trialParameters are derived here, never written by hand: a parameter becomes a
trialParameter when its placeholder appears in the trial template (or, for the
short form, when it is passed as a flag), so parameters, trialParameters and
the command cannot disagree.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from .defaults import DEFAULT_PARALLEL, DEFAULT_RESUME_POLICY, apply_katib_defaults, as_stored, kind_defaults
from .model import Parameter, Spec, Trial

API_VERSION = "kubeflow.org/v1beta1"
MANAGED_BY = {"app.kubernetes.io/managed-by": "katib-gitops"}
SPEC_LABEL = "katib-gitops.dev/spec"
PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]*)\}")


def build_experiment(spec: Spec, name: str | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """The base Experiment for spec, with Katib's defaults made explicit."""
    metadata: dict[str, Any] = {"name": name or spec.name}
    if spec.namespace:
        metadata["namespace"] = spec.namespace
    metadata["labels"] = {**dict(spec.labels), **MANAGED_BY, SPEC_LABEL: spec.name}
    all_annotations = {**dict(spec.annotations), **(annotations or {})}
    if all_annotations:
        metadata["annotations"] = all_annotations
    return {"apiVersion": API_VERSION, "kind": "Experiment", "metadata": metadata, "spec": build_spec(spec)}


def build_spec(spec: Spec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.max_trials is not None:
        out["maxTrialCount"] = spec.max_trials
    out["parallelTrialCount"] = DEFAULT_PARALLEL if spec.parallel_trials is None else spec.parallel_trials
    if spec.max_failed_trials is not None:
        out["maxFailedTrialCount"] = spec.max_failed_trials
    out["resumePolicy"] = spec.resume_policy or DEFAULT_RESUME_POLICY
    out["objective"] = _objective(spec)
    out["algorithm"] = _algorithm(spec.algorithm)
    if spec.early_stopping:
        out["earlyStopping"] = _algorithm(spec.early_stopping)
    if spec.nas_config is not None:
        out["nasConfig"] = copy.deepcopy(dict(spec.nas_config))
    else:
        out["parameters"] = [_parameter(p) for p in spec.parameters]
    out["metricsCollectorSpec"] = _collector(spec)
    out["trialTemplate"] = _trial_template(spec)
    # The builder already writes defaults in reading order; this guarantees none is missed, and as_stored drops
    # what Katib's webhook drops when it stores the Experiment (retain: false, empty strings and lists).
    return as_stored(apply_katib_defaults({"spec": out})["spec"])


def _objective(spec: Spec) -> dict[str, Any]:
    o = spec.objective
    out: dict[str, Any] = {"type": o.type}
    if o.goal is not None:
        out["goal"] = o.goal
    out["objectiveMetricName"] = o.metric
    if o.additional_metrics:
        out["additionalMetricNames"] = list(o.additional_metrics)
    if o.strategies:
        out["metricStrategies"] = [{"name": n, "value": v} for n, v in o.strategies]
    return out


def _algorithm(a: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"algorithmName": a.name}
    if a.settings:
        out["algorithmSettings"] = [{"name": n, "value": v} for n, v in a.settings]
    return out


def _present(**fields: Any) -> dict[str, Any]:
    """The fields that are set, in the order given (Katib omits unset optional fields)."""
    return {k: v for k, v in fields.items() if v is not None}


def _parameter(p: Parameter) -> dict[str, Any]:
    fs = _present(min=p.min, max=p.max, step=p.step, list=list(p.values) if p.values else None,
                  distribution=p.distribution or "uniform")
    return {"name": p.name, "parameterType": p.type, "feasibleSpace": fs}


def _collector(spec: Spec) -> dict[str, Any]:
    mc = spec.metrics_collector
    collector: dict[str, Any] = {"kind": mc.kind}
    if mc.container is not None:
        collector["customCollector"] = copy.deepcopy(dict(mc.container))
    out: dict[str, Any] = {"collector": collector}
    source: dict[str, Any] = {}
    fsp = _present(path=mc.path, kind=mc.path_kind, format=mc.format)
    if fsp:
        source["fileSystemPath"] = fsp
    if mc.http_get is not None:
        source["httpGet"] = copy.deepcopy(dict(mc.http_get))
    if mc.filter:
        source["filter"] = {"metricsFormat": list(mc.filter)}
    if source:
        out["source"] = source
    return out


# --------------------------------------------------------------------------- trial


def _trial_template(spec: Spec) -> dict[str, Any]:
    t = spec.trial
    out: dict[str, Any] = {}
    if t.retain is not None:
        out["retain"] = t.retain
    out["primaryContainerName"] = t.primary_container
    if t.primary_pod_labels:
        out["primaryPodLabels"] = dict(t.primary_pod_labels)
    trial_spec = None
    if t.config_map is None:
        trial_spec = copy.deepcopy(dict(t.template)) if t.template is not None else short_form_job(spec)
    success, failure, pod_labels = kind_defaults((trial_spec or {}).get("kind"))
    # Katib replaces an empty primaryPodLabels too (experiment_defaults.go, `len(...) == 0`).
    if not t.primary_pod_labels and pod_labels is not None:
        out["primaryPodLabels"] = pod_labels
    if t.success_condition is not None or success is not None:
        out["successCondition"] = t.success_condition if t.success_condition is not None else success
    if t.failure_condition is not None or failure is not None:
        out["failureCondition"] = t.failure_condition if t.failure_condition is not None else failure
    if t.config_map is not None:
        out["configMap"] = {
            "configMapName": t.config_map["name"],
            "configMapNamespace": t.config_map["namespace"],
            "templatePath": t.config_map["templatePath"],
        }
    out["trialParameters"] = derive_trial_parameters(spec, trial_spec)
    if trial_spec is not None:
        out["trialSpec"] = trial_spec
    return out


def derive_trial_parameters(spec: Spec, trial_spec: dict[str, Any] | None) -> list[dict[str, str]]:
    """Parameters whose placeholder the template uses, then the spec's references."""
    used = None if trial_spec is None else set(PLACEHOLDER.findall(json.dumps(trial_spec)))
    out = []
    for p in spec.parameters:
        if used is None or p.trial_name in used:
            out.append(_trial_parameter(p.trial_name, p.description, p.name))
    for r in spec.trial.references:
        out.append(_trial_parameter(r.name, r.description, r.reference))
    return out


def _trial_parameter(name: str, description: str, reference: str) -> dict[str, str]:
    out = {"name": name}
    if description:
        out["description"] = description
    out["reference"] = reference
    return out


def placeholders_in(trial: Trial) -> set[str]:
    text = json.dumps([trial.command, trial.args, trial.env])
    return set(PLACEHOLDER.findall(text))


def short_form_job(spec: Spec) -> dict[str, Any]:
    """The batch/v1 Job a short-form trial stands for."""
    t = spec.trial
    command = list(t.command)
    args = list(t.args) if t.args is not None else None
    explicit = placeholders_in(t)
    flags = [f"{p.flag}={p.placeholder}" for p in spec.parameters if p.flag and p.trial_name not in explicit]
    if args is not None:
        args.extend(flags)
    else:
        command.extend(flags)
    container: dict[str, Any] = {"name": t.primary_container, "image": t.image}
    if command:
        container["command"] = command
    if args is not None:
        container["args"] = args
    if t.working_dir:
        container["workingDir"] = t.working_dir
    if t.env:
        container["env"] = env_list(t.env)
    if t.resources:
        container["resources"] = copy.deepcopy(dict(t.resources))
    if t.volume_mounts:
        container["volumeMounts"] = [dict(m) for m in t.volume_mounts]
    pod_spec: dict[str, Any] = {}
    if t.service_account:
        pod_spec["serviceAccountName"] = t.service_account
    sec = t.security
    if sec is not None:
        pod_sc: dict[str, Any] = {}
        if sec.run_as_non_root:
            pod_sc["runAsNonRoot"] = True
        if sec.run_as_user is not None:
            pod_sc["runAsUser"] = sec.run_as_user
        if sec.seccomp_profile:
            pod_sc["seccompProfile"] = {"type": "RuntimeDefault"}
        if pod_sc:
            pod_spec["securityContext"] = pod_sc
        c_sc: dict[str, Any] = {"allowPrivilegeEscalation": sec.allow_privilege_escalation}
        if sec.drop_all_capabilities:
            c_sc["capabilities"] = {"drop": ["ALL"]}
        container["securityContext"] = c_sc
    pod_spec["containers"] = [container]
    if t.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in t.image_pull_secrets]
    if t.volumes:
        pod_spec["volumes"] = [copy.deepcopy(dict(v)) for v in t.volumes]
    if t.node_selector:
        pod_spec["nodeSelector"] = dict(t.node_selector)
    if t.affinity:
        pod_spec["affinity"] = copy.deepcopy(dict(t.affinity))
    if t.tolerations:
        pod_spec["tolerations"] = [dict(x) for x in t.tolerations]
    if t.priority_class:
        pod_spec["priorityClassName"] = t.priority_class
    pod_spec["restartPolicy"] = t.restart_policy
    template: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    if t.pod_labels:
        meta["labels"] = dict(t.pod_labels)
    if t.pod_annotations:
        meta["annotations"] = dict(t.pod_annotations)
    if meta:
        template["metadata"] = meta
    template["spec"] = pod_spec
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": template}}


def env_list(env: tuple[tuple[str, Any], ...]) -> list[dict[str, Any]]:
    out = []
    for name, value in env:
        if isinstance(value, dict):
            out.append({"name": name, "valueFrom": copy.deepcopy(value)})
        else:
            out.append({"name": name, "value": value})
    return out
