"""The trial pod as Katib's pod webhook mutates it (pod/inject_webhook.go, pod/utils.go), beyond the case files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from katib_gitops.validation import podwebhook
from katib_gitops.validation.never_starts import _json_problem
from katib_gitops.io.yamlio import Document

IRIS = yaml.safe_load((Path(__file__).parent / "iris.yaml").read_text())


@pytest.mark.parametrize("path, directory", [("/var/log/katib/metrics.log", "/var/log/katib"),
                                             ("/metrics.log", "/"), ("/a//b/c.log", "/a/b"), ("//x/y", "/x"),
                                             ("/x/./y/m", "/x/y")])
def test_go_dir(path, directory):
    """filepath.Dir: the directory, cleaned."""
    assert podwebhook.go_dir(path) == directory


def experiment(collector: dict | None = None, settings: list | None = None, **pod) -> Document:
    exp = yaml.safe_load(yaml.safe_dump(IRIS))
    if collector is not None:
        exp["spec"]["metricsCollectorSpec"] = collector
    if settings is not None:
        exp["spec"]["algorithm"]["algorithmSettings"] = settings
    exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"].update(pod)
    return Document(exp, "x.yaml", 0, "")


def test_file_and_tfevent_collectors_mount_where_getmountpath_says():
    file_collector = {"collector": {"kind": "File"},
                      "source": {"fileSystemPath": {"path": "/out/m.log", "kind": "File", "format": "TEXT"}}}
    mounts = [{"name": "out", "mountPath": "/out"}]
    pod = experiment(file_collector, volumes=[{"name": "out", "emptyDir": {}}])
    pod.data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = mounts
    [finding] = podwebhook.check(pod)
    assert finding.rule == "pod-webhook" and finding.dotted.endswith("volumeMounts[0].mountPath")
    tfevent = {"collector": {"kind": "TensorFlowEvent"},
               "source": {"fileSystemPath": {"path": "/out/m.log", "kind": "Directory"}}}
    assert podwebhook.check(experiment(tfevent, volumes=[{"name": "out", "emptyDir": {}}])) == []


def test_push_and_prometheus_mount_nothing():
    for kind in ("Push", "PrometheusMetric"):
        doc = experiment({"collector": {"kind": kind}}, volumes=[{"name": "metrics-volume", "emptyDir": {}}])
        # Push: no sidecar at all; PrometheusMetric: a sidecar but no metrics volume (getMountPath gives "")
        assert podwebhook.check(doc) == []


def test_the_suggestion_volume_and_the_metrics_volume_cannot_share_a_path():
    doc = experiment(settings=[{"name": "suggestion_trial_dir", "value": "/var/log/katib"}])
    [finding] = podwebhook.check(doc)
    assert "both at `/var/log/katib`" in finding.message


def test_kubeflow_replicas_are_primary_by_the_operators_labels():
    """isPrimaryPod over the training operator's replica-type and job-role labels."""
    template = {"metadata": {}}
    assert podwebhook.is_primary(("spec", "tfReplicaSpecs", "Worker", "template"), template,
                                 {"training.kubeflow.org/replica-type": "worker"})
    assert podwebhook.is_primary(("spec", "tfReplicaSpecs", "Chief", "template"), template,
                                 {"training.kubeflow.org/job-role": "master"})
    assert not podwebhook.is_primary(("spec", "pytorchReplicaSpecs", "Worker", "template"), template,
                                     {"training.kubeflow.org/job-role": "master"})


@pytest.mark.parametrize("value, problem", [("plain", None), ('a"b', "double quote"), ("a\tb", "control"),
                                            ("C:\\path", "no JSON escape"), ("a\\nb", "changes"),
                                            ("\\u00e9", "changes"), ("\\u00", "no JSON escape")])
def test_values_that_break_the_template_json(value, problem):
    """manifest/generator.go applyParameters puts the value into JSON text as it is."""
    found = _json_problem(value)
    assert (found is None) if problem is None else (problem in found)
