"""Re-record tests/live/fixtures when render changes what the repository's iris deploys under overlays/cpu
(test_review_loop.test_the_recorded_spec_is_what_overlays_cpu_deploys_today says when):

    .venv/bin/python tests/live/record_fixtures.py

Each recorded Experiment keeps its status (the Katib state it stands for); its spec becomes what overlays/cpu
builds now, as Katib's mutating webhook stores it; the metadata what the API server, Argo CD and Katib add.
Running it twice gives the same files.
"""
import copy
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "generator"))
from katib_gitops.build.kustomize import build  # noqa: E402
from katib_gitops.spec.defaults import as_stored  # noqa: E402

from live_support import FIXTURE, JSON_FIXTURE, KubectlDumper  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
(exp,) = [d for d in yaml.safe_load_all(build(REPO / "overlays" / "cpu")) if d and d["kind"] == "Experiment"]
old = yaml.safe_load(FIXTURE.read_text())
old["items"] = [i for i in old["items"] if i["kind"] == "Experiment"]
PARAMS = [("penalty", "l2"), ("tol", "0.0001"), ("C", "1.00"), ("max_iter", "10")]


def fields(node):
    """managedFields' fieldsV1 for a JSON value."""
    if isinstance(node, dict):
        out = {".": {}} if node else {}
        for k, v in node.items():
            out[f"f:{k}"] = fields(v)
        return out
    if isinstance(node, list):
        if node and all(isinstance(i, dict) and "name" in i for i in node):
            out = {".": {}}
            for i in node:
                sub = fields(i)
                out["k:" + json.dumps({"name": i["name"]}, separators=(",", ":"))] = sub
            return out
        return {}
    return {}


items = []
rv = 48213
for i, o in enumerate(old["items"]):
    name = o["metadata"]["name"]
    state = name[len("iris-"):]
    spec = copy.deepcopy(exp["spec"])
    if state == "max-trials-never":
        spec["resumePolicy"] = "Never"
    if state in ("restarting", "resumed"):
        spec["maxTrialCount"] = 16  # raised on the cluster: that is what restarted it
    status = copy.deepcopy(o["status"])
    # completionTime: null until the Experiment completes (experiment_controller.go Reconcile sets the zero
    # time at creation, which metav1.Time writes as null); a restart keeps the earlier one
    # latest differs from max: the value Katib ranks by is the objective's metricStrategy (max here)
    for m in (status.get("currentOptimalTrial", {}).get("observation", {}).get("metrics") or []):
        if state in ("max-trials", "max-trials-never", "suggestion-end", "restarting", "resumed"):
            m["latest"] = "0.95"
    applied_spec = copy.deepcopy(spec)
    # Katib's mutating webhook answers with a patch from the request to json.Marshal of the typed, defaulted
    # Experiment (mutate_webhook.go Handle): omitempty fields at their zero value leave the stored object.
    spec = as_stored(spec)
    labels = dict(exp["metadata"]["labels"])
    labels["app.kubernetes.io/instance"] = "katib"  # Argo CD's tracking label
    annotations = dict(exp["metadata"]["annotations"])
    applied = {"apiVersion": exp["apiVersion"], "kind": "Experiment",
               "metadata": {"annotations": dict(exp["metadata"]["annotations"]), "labels": labels, "name": name,
                            "namespace": "kubeflow"}, "spec": applied_spec}
    annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"
    rv += 37
    meta = {
        "annotations": annotations,
        "creationTimestamp": "2026-11-28T08:59:58Z",
        "finalizers": ["update-prometheus-metrics"],
        "generation": 2 if state in ("restarting", "resumed") else 1,
        "labels": labels,
        "managedFields": [
            {"apiVersion": "kubeflow.org/v1beta1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:annotations": fields(annotations), "f:labels": fields(labels)},
                          "f:spec": fields(spec)},
             "manager": "argocd-controller", "operation": "Update", "time": "2026-11-28T08:59:58Z"},
            {"apiVersion": "kubeflow.org/v1beta1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:finalizers": {".": {}, 'v:"update-prometheus-metrics"': {}}}},
             "manager": "katib-controller", "operation": "Update", "time": "2026-11-28T09:00:00Z"},
            {"apiVersion": "kubeflow.org/v1beta1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:status": fields(status)},
             "manager": "katib-controller", "operation": "Update", "subresource": "status",
             "time": status.get("lastReconcileTime", "2026-11-28T09:42:10Z")},
        ],
        "name": name,
        "namespace": "kubeflow",
        "resourceVersion": str(rv),
        "uid": f"5f1c2a4e-7d3b-4c1e-9a{i:02d}-0b6f3e2d{i:04d}",
    }
    items.append({"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": meta, "spec": spec,
                  "status": status})
    if state == "running":  # other kinds in the List: `kubectl get experiments,trials,suggestions`
        trial_spec = {"objective": spec["objective"], "parameterAssignments": [{"name": n, "value": v} for n, v in PARAMS],
                      "primaryContainerName": "training-container", "runSpec": {"apiVersion": "batch/v1", "kind": "Job"},
                      "successCondition": spec["trialTemplate"]["successCondition"],
                      "failureCondition": spec["trialTemplate"]["failureCondition"]}
        trial = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Trial", "metadata": {
            "creationTimestamp": "2026-11-28T09:00:21Z", "generation": 1, "labels": {"katib.kubeflow.org/experiment": name},
            "name": f"{name}-t-s0", "namespace": "kubeflow",
            "ownerReferences": [{"apiVersion": "kubeflow.org/v1beta1", "blockOwnerDeletion": True, "controller": True,
                                 "kind": "Experiment", "name": name, "uid": meta["uid"]}],
            "resourceVersion": str(rv + 1), "uid": f"9a1c2a4e-0000-4000-8000-0000000000{i:02d}"},
            "spec": trial_spec,
            "status": {"completionTime": "2026-11-28T09:03:40Z", "conditions": [
                {"lastTransitionTime": "2026-11-28T09:00:21Z", "lastUpdateTime": "2026-11-28T09:00:21Z",
                 "message": "Trial is created", "reason": "TrialCreated", "status": "True", "type": "Created"},
                {"lastTransitionTime": "2026-11-28T09:03:40Z", "lastUpdateTime": "2026-11-28T09:03:40Z",
                 "message": "Trial is running", "reason": "TrialRunning", "status": "False", "type": "Running"},
                {"lastTransitionTime": "2026-11-28T09:03:40Z", "lastUpdateTime": "2026-11-28T09:03:40Z",
                 "message": "Trial has succeeded", "reason": "TrialSucceeded", "status": "True", "type": "Succeeded"}],
                "observation": {"metrics": [{"latest": "0.9333", "max": "0.9333", "min": "0.8833", "name": "accuracy"}]},
                "startTime": "2026-11-28T09:00:21Z"}}
        suggestion = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Suggestion", "metadata": {
            "creationTimestamp": "2026-11-28T09:00:00Z", "generation": 4, "name": name, "namespace": "kubeflow",
            "ownerReferences": [{"apiVersion": "kubeflow.org/v1beta1", "blockOwnerDeletion": True, "controller": True,
                                 "kind": "Experiment", "name": name, "uid": meta["uid"]}],
            "resourceVersion": str(rv + 2), "uid": f"7b1c2a4e-0000-4000-8000-0000000000{i:02d}"},
            "spec": {"algorithm": spec["algorithm"], "requests": 8, "resumePolicy": spec["resumePolicy"]},
            "status": {"suggestionCount": 8}}
        items += [trial, suggestion]

lst = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


header = """\
# `kubectl get experiments,trials,suggestions --all-namespaces -o yaml` of a Katib 0.18 cluster, re-created for
# the tests from Katib's types and controllers (experiment_types.go ExperimentStatus, OptimalTrial; conditions,
# reasons and completionTime as experiment/util/status_util.go and experiment_controller.go set them; the
# finalizer of experiment_controller_util.go), printed as kubectl prints: keys sorted, "quoted" strings that
# would read as numbers, booleans or timestamps, managedFields, Argo CD's tracking label and the
# last-applied-configuration annotation, Trials and a Suggestion beside the Experiments. Every Experiment's spec
# is the repository's iris Experiment as overlays/cpu builds it (every Katib default filled in), except that
# iris-max-trials-never has resumePolicy Never and the restarted ones have maxTrialCount raised to 16; as Katib's
# mutating webhook stores it (json.Marshal of the typed spec: zero values of omitempty fields gone, which render
# already leaves out), while last-applied-configuration keeps what the client sent. Tests give an item the name of the Experiment
# they compare with (live_support).
"""
with open(FIXTURE, "w") as fh:
    fh.write(header)
    yaml.dump(lst, fh, Dumper=KubectlDumper, default_flow_style=False)
keep = ("iris-running", "iris-goal-reached", "iris-max-trials")
small = dict(lst, items=[i for i in items if i["metadata"]["name"] in keep or i["metadata"]["name"].startswith("iris-running-")])
with open(JSON_FIXTURE, "w") as fh:
    fh.write(json.dumps(small, indent=4, sort_keys=True, ensure_ascii=False) + "\n")
