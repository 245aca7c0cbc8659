"""Katib's mutating-webhook defaults, applied explicitly.

The generated Experiment carries every field the webhook would add, and none
the webhook's re-encoding drops (``as_stored``), so the object in git equals
the object in the cluster and a GitOps diff is empty. The same function
normalises imported Experiments for round-trip comparison.
"""

from __future__ import annotations

import copy
from typing import Any

JOB_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
JOB_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
KUBEFLOW_SUCCESS = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
KUBEFLOW_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
TRAINING_KINDS = ("TFJob", "PyTorchJob", "XGBoostJob", "MPIJob")

DEFAULT_PARALLEL = 3
DEFAULT_RESUME_POLICY = "Never"
FILE_METRICS_PATH = "/var/log/katib/metrics.log"
TFEVENT_PATH = "/var/log/katib/tfevent/"
PROMETHEUS_PATH = "/metrics"
PROMETHEUS_PORT = 8080


def apply_katib_defaults(experiment: dict[str, Any]) -> dict[str, Any]:
    """A copy of experiment with every default Katib's mutating webhook sets."""
    exp = _copy_tree(experiment, {})
    spec = exp.setdefault("spec", {})
    spec.setdefault("parallelTrialCount", DEFAULT_PARALLEL)
    if not spec.get("resumePolicy"):
        spec["resumePolicy"] = DEFAULT_RESUME_POLICY
    _objective(spec.get("objective"))
    for p in spec.get("parameters") or []:
        fs = p.setdefault("feasibleSpace", {})
        if not fs.get("distribution"):
            fs["distribution"] = "uniform"
    _collector(spec)
    _trial_template(spec.get("trialTemplate"))
    return exp


_ATOMS = (str, int, float, bool, type(None))


def _copy_tree(value: Any, memo: dict[int, Any]) -> Any:
    # copy.deepcopy for the JSON-like data an Experiment is made of (shared dicts and lists stay shared, as
    # with deepcopy's memo), at a fraction of deepcopy's per-object cost; anything else goes to deepcopy.
    t = type(value)
    if t is dict or t is list:
        done = memo.get(id(value))
        if done is not None:
            return done
        if t is dict:
            out: Any = {}
            memo[id(value)] = out
            for k, v in value.items():
                out[k] = v if type(v) in _ATOMS else _copy_tree(v, memo)
        else:
            out = []
            memo[id(value)] = out
            for v in value:
                out.append(v if type(v) in _ATOMS else _copy_tree(v, memo))
        return out
    if t in _ATOMS:
        return value
    return copy.deepcopy(value)


def _objective(obj: dict[str, Any] | None) -> None:
    if not obj:
        return
    direction = "max" if obj.get("type") == "maximize" else "min"
    strategies = obj.get("metricStrategies") or []
    have = {s.get("name") for s in strategies}
    for metric in [obj.get("objectiveMetricName"), *(obj.get("additionalMetricNames") or [])]:
        if metric and metric not in have:
            strategies.append({"name": metric, "value": direction})
            have.add(metric)
    obj["metricStrategies"] = strategies


def _collector(spec: dict[str, Any]) -> None:
    mcs = spec.setdefault("metricsCollectorSpec", {})
    collector = mcs.setdefault("collector", {})
    kind = collector.setdefault("kind", "StdOut")
    if kind == "File":
        fsp = mcs.setdefault("source", {}).setdefault("fileSystemPath", {})
        fsp.setdefault("path", FILE_METRICS_PATH)
        fsp.setdefault("kind", "File")
        fsp.setdefault("format", "TEXT")
    elif kind == "TensorFlowEvent":
        fsp = mcs.setdefault("source", {}).setdefault("fileSystemPath", {})
        fsp.setdefault("path", TFEVENT_PATH)
        fsp.setdefault("kind", "Directory")
    elif kind == "PrometheusMetric":
        http = mcs.setdefault("source", {}).setdefault("httpGet", {})
        if not http.get("path"):
            http["path"] = PROMETHEUS_PATH
        # experiment_defaults.go setDefaultMetricsCollector: a port whose IntOrString prints "0" (missing, 0 or
        # "0") becomes 8080; "" is left alone (and the validating webhook then refuses it).
        if str(http.get("port", 0)) == "0":
            http["port"] = PROMETHEUS_PORT


def kind_defaults(kind: str | None) -> tuple[str | None, str | None, dict[str, str] | None]:
    """(successCondition, failureCondition, primaryPodLabels) Katib fills in for a trial kind."""
    if kind == "Job":
        return JOB_SUCCESS, JOB_FAILURE, None
    if kind in TRAINING_KINDS:
        return KUBEFLOW_SUCCESS, KUBEFLOW_FAILURE, {"training.kubeflow.org/job-role": "master"}
    if kind == "TrainJob":
        return JOB_SUCCESS, JOB_FAILURE, {
            "jobset.sigs.k8s.io/replicatedjob-name": "node",
            "batch.kubernetes.io/job-completion-index": "0",
        }
    return None, None, None


def _trial_template(tt: dict[str, Any] | None) -> None:
    if not tt:
        return
    success, failure, pod_labels = kind_defaults((tt.get("trialSpec") or {}).get("kind"))
    if success is not None and not tt.get("successCondition"):
        tt["successCondition"] = success
    if failure is not None and not tt.get("failureCondition"):
        tt["failureCondition"] = failure
    # experiment_defaults.go: `len(t.PrimaryPodLabels) == 0`, so an empty map is replaced too.
    if pod_labels is not None and not tt.get("primaryPodLabels"):
        tt["primaryPodLabels"] = dict(pod_labels)


# Katib's mutating webhook (webhook/v1beta1/experiment/mutate_webhook.go Handle) answers with a patch from the
# object as sent to json.Marshal of the typed, defaulted Experiment. Every ExperimentSpec field below the
# trial's unstructured trialSpec is `omitempty` (experiments/v1beta1/experiment_types.go, common/v1beta1/
# common_types.go), so a false bool, an empty string, an empty slice or an empty map is removed from what the
# cluster stores; structs and pointers (objective, feasibleSpace, the counts, goal) are kept even when empty
# or zero. Kubernetes-typed parts (customCollector, httpGet) follow Kubernetes' own rules and are left as written.
_GO_MAPS = frozenset({"primaryPodLabels"})
_NOT_KATIB_TYPED = frozenset({"trialSpec", "customCollector", "httpGet"})


def as_stored(spec: dict[str, Any]) -> dict[str, Any]:
    """spec without the zero values of Katib's omitempty fields: what `kubectl get experiment` shows of it."""
    return _stored(spec)


def _stored(value: Any) -> Any:
    if isinstance(value, list):
        return [_stored(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        if key in _NOT_KATIB_TYPED:
            out[key] = v
        elif v is False or v == "" or (isinstance(v, list) and not v) or (key in _GO_MAPS and v == {}):
            continue
        else:
            out[key] = _stored(v)
    return out
