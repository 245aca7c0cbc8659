"""The trial pod as Katib's pod webhook mutates it, then as the API server validates the result.

Katib's mutating webhook for pods (pod/inject_webhook.go Mutate, pod/utils.go)
runs on every pod whose owners lead to a Trial, in namespaces labelled for
metrics-collector injection, and changes it before the API server validates
it. In order:

1. ``mutatePodEnv``, on *every* pod of the trial (before the primary-pod check):
   the container named ``primaryContainerName`` gets ``KATIB_TRIAL_NAME``; a pod
   without such a container makes the webhook fail, and the pod is refused
   (the webhook's failurePolicy is Fail) — rule ``primary-container``;
2. pods that do not carry ``primaryPodLabels`` (when set), and every pod of a
   Push collector, stop there;
3. the collector container is appended (Custom: the user's container as
   written; StdOut and File: ``metrics-logger-and-collector``; the others:
   ``metrics-collector``, metricscollector/v1beta1/common/const.go);
4. with a ``suggestion_trial_dir`` setting, a volume ``suggestion-volume`` and
   its mount at that directory on the primary container (mutateSuggestionVolume);
5. ``shareProcessNamespace: true``;
6. an emptyDir volume ``metrics-volume`` mounted on the collector and the primary
   container at the metrics directory (getMountPath, mutateMetricsCollectorVolume):
   StdOut: /var/log/katib (its default file's directory); File: the file's
   directory; TensorFlowEvent: the directory itself; Custom: its source path
   (a file's directory, or the directory).

The API server then refuses the pod (rule ``pod-webhook``) on what the mutation
makes invalid: a container name used twice or missing, a volume name used
twice, one mount path twice in a container, a mount naming no volume, or
``shareProcessNamespace`` beside ``hostPID`` (k8s.io/kubernetes
pkg/apis/core/validation ValidatePodSpec). Every such refusal fails every
trial, so each is an error.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ..io.findings import ERROR, Finding, PathPart
from ..io.yamlio import Document
from .access import as_list, as_map
from .kubernetes import KUBEFLOW_JOB_KINDS, TRIAL_SPEC, pod_templates
from .schema import did_you_mean

RULE = "pod-webhook"
PRIMARY_RULE = "primary-container"
METRICS_VOLUME = "metrics-volume"  # apis/controller/common/v1beta1 MetricsVolume
SUGGESTION_VOLUME = "suggestion-volume"  # controller.v1beta1/consts ContainerSuggestionVolumeName
SUGGESTION_VOLUME_KEY = "suggestion_trial_dir"
LOGGER_SIDECAR = "metrics-logger-and-collector"  # MetricLoggerCollectorContainerName
COLLECTOR_SIDECAR = "metrics-collector"  # MetricCollectorContainerName
DEFAULT_METRICS_FILE = "/var/log/katib/metrics.log"  # common_types.go DefaultFilePath
JOB_ROLE = "training.kubeflow.org/job-role"
REPLICA_TYPE = "training.kubeflow.org/replica-type"
REPLICA_INDEX = "training.kubeflow.org/replica-index"
DEFAULT_PRIMARY_LABELS = {JOB_ROLE: "master"}  # experiment_defaults.go, Kubeflow training kinds
# The training operator labels a replica's pods with job-role master when it is the master or chief.
MASTER_ROLES = ("master", "chief")
COLLECTOR = ("spec", "metricsCollectorSpec", "collector")


def go_dir(path: str) -> str:
    """Go's filepath.Dir: the directory, cleaned ("/metrics.log" -> "/", "/a//b/c" -> "/a/b")."""
    head = posixpath.dirname(path)
    if not head:
        return "."
    cleaned = posixpath.normpath(head)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def metrics_mount(spec: dict[str, Any]) -> tuple[str, str] | None:
    """(collector kind, directory the metrics volume is mounted at), or None when nothing is mounted
    (pod/utils.go getMountPath; a file kind mounts its directory)."""
    mcs = as_map(spec.get("metricsCollectorSpec"))
    kind = as_map(mcs.get("collector")).get("kind") or "StdOut"
    fsp = as_map(as_map(mcs.get("source")).get("fileSystemPath"))
    path = fsp.get("path")
    if kind == "StdOut":
        return kind, go_dir(DEFAULT_METRICS_FILE)
    if kind == "File" and isinstance(path, str) and path:
        return kind, go_dir(path)
    if kind == "TensorFlowEvent" and isinstance(path, str) and path:
        return kind, path
    if kind == "Custom" and isinstance(path, str) and path:
        return kind, path if fsp.get("kind") == "Directory" else go_dir(path)
    return None


def primary_labels(tt: dict[str, Any], ts: dict[str, Any]) -> dict[str, Any] | None:
    """The primaryPodLabels the Trial carries: the template's, or the Kubeflow default the mutating webhook adds."""
    labels = tt.get("primaryPodLabels")
    if isinstance(labels, dict) and labels:
        return labels
    kind = ts.get("kind")
    return dict(DEFAULT_PRIMARY_LABELS) if isinstance(kind, str) and kind in KUBEFLOW_JOB_KINDS else None


def is_primary(path: tuple[PathPart, ...], template: dict[str, Any], labels: dict[str, Any]) -> bool:
    """pod/utils.go isPrimaryPod over the labels a pod of this template carries: the template's own, and the
    training operator's replica-type (the replica in lower case) and job-role (master for a Master or Chief
    replica); a replica-index label is taken to match one of the replica's pods."""
    own = as_map(as_map(template.get("metadata")).get("labels"))
    role = str(path[-2]).lower() if len(path) >= 3 else ""
    operator: dict[str, Any] = {REPLICA_TYPE: role} if role else {}
    if role in MASTER_ROLES:
        operator[JOB_ROLE] = "master"
    return all(own.get(k, operator.get(k)) == v for k, v in labels.items() if k != REPLICA_INDEX)


def check(doc: Document) -> list[Finding]:
    exp = as_map(doc.data)
    spec = as_map(exp.get("spec"))
    tt = as_map(spec.get("trialTemplate"))
    ts = tt.get("trialSpec")
    primary = tt.get("primaryContainerName")
    if not isinstance(primary, str) or not primary or not isinstance(ts, dict):
        return []
    pods = [(path, template) for path, template, _ in pod_templates(ts)]
    out = _primary_everywhere(doc, pods, primary)
    if out:
        return out  # those pods are refused before anything else is added
    labels = primary_labels(tt, ts)
    mount = metrics_mount(spec)
    kind = as_map(as_map(spec.get("metricsCollectorSpec")).get("collector")).get("kind") or "StdOut"
    trial_dir = next(((j, str(as_map(s).get("value")))
                      for j, s in enumerate(as_list(as_map(spec.get("algorithm")).get("algorithmSettings")))
                      if as_map(s).get("name") == SUGGESTION_VOLUME_KEY and as_map(s).get("value")), None)
    for path, template in pods:
        if kind == "Push" or (labels is not None and not is_primary(path, template, labels)):
            continue
        pod = as_map(template.get("spec"))
        if not pod:
            continue
        mutated = _Pod(doc, (*TRIAL_SPEC, *path, "spec"), pod, primary)
        mutated.add_collector(spec, kind)
        if trial_dir is not None:
            mutated.add_volume(SUGGESTION_VOLUME, f"the suggestion volume ({SUGGESTION_VOLUME_KEY} is set)")
            mutated.mount(primary, trial_dir[1], f"the suggestion volume ({SUGGESTION_VOLUME_KEY})",
                          ("spec", "algorithm", "algorithmSettings", trial_dir[0], "value"))
        if pod.get("hostPID") is True:
            mutated.error(("hostPID",), "Katib's pod webhook sets shareProcessNamespace: true on every primary trial "
                                       "pod (pod/inject_webhook.go Mutate), and the API server refuses it beside "
                                       "hostPID: true (ShareProcessNamespace and HostPID cannot both be enabled)")
        if mount is not None:
            mutated.add_volume(METRICS_VOLUME, f"the {mount[0]} collector's metrics volume")
            source = ("spec", "metricsCollectorSpec", "source", "fileSystemPath", "path") if mount[0] != "StdOut" \
                else (*COLLECTOR, "kind")
            for name in dict.fromkeys((mutated.sidecar, primary)):
                if name:
                    mutated.mount(name, mount[1], f"the {mount[0]} collector's metrics volume", source)
        mutated.sidecar_mounts_resolve()
        out += mutated.findings
    return list(dict.fromkeys(out))


def _primary_everywhere(doc: Document, pods: list[tuple[tuple[PathPart, ...], dict[str, Any]]],
                        primary: str) -> list[Finding]:
    """mutatePodEnv on every pod of the trial: a pod without the primary container is refused."""
    names = {path: [ct.get("name") for ct in as_list(as_map(t.get("spec")).get("containers"))
                    if isinstance(ct, dict) and isinstance(ct.get("name"), str)] for path, t in pods}
    everything = [n for ns in names.values() for n in ns]
    if not everything:
        return []
    at = ("spec", "trialTemplate", "primaryContainerName")
    if primary not in everything:
        return [doc.finding(f"`{primary}` names no container of the trial's pods{did_you_mean(primary, everything)} "
                            f"(containers: {', '.join(dict.fromkeys(everything))}); Katib's pod webhook refuses every "
                            "trial pod (pod/utils.go mutatePodEnv)", at, rule=PRIMARY_RULE)]
    out = []
    for path, found in names.items():
        if found and primary not in found:
            role = str(path[-2]) if len(path) >= 2 else "trial"
            out.append(doc.finding(
                f"the {role} pods have no container `{primary}` (containers: {', '.join(found)}): Katib's pod webhook "
                "adds KATIB_TRIAL_NAME to the primary container of every pod of a trial, primary or not, and refuses "
                "a pod without one (pod/inject_webhook.go Mutate -> pod/utils.go mutatePodEnv), so those pods are "
                f"never created; name a container of every replica `{primary}`", at, rule=PRIMARY_RULE))
    return out


class _Pod:
    """One pod template with what the webhook adds, checking each addition as the API server would."""

    def __init__(self, doc: Document, where: tuple[PathPart, ...], pod: dict[str, Any], primary: str):
        self.doc, self.where, self.primary = doc, where, primary
        self.findings: list[Finding] = []
        self.volumes = {v.get("name"): ("volumes", i) for i, v in enumerate(as_list(pod.get("volumes")))
                        if isinstance(v, dict) and isinstance(v.get("name"), str)}
        self.containers: dict[str, tuple[tuple[PathPart, ...], dict[str, Any]]] = {}
        for key in ("initContainers", "containers"):
            for i, ct in enumerate(as_list(pod.get(key))):
                if isinstance(ct, dict) and isinstance(ct.get("name"), str):
                    self.containers.setdefault(ct["name"], ((key, i), ct))
        # container -> mount path -> (where it is written, whether that path is absolute, what it is)
        self.mounts: dict[str, dict[Any, tuple[tuple[PathPart, ...], bool, str]]] = {
            name: {m.get("mountPath"): ((*path, "volumeMounts", j, "mountPath"), False, "")
                   for j, m in enumerate(as_list(ct.get("volumeMounts")))
                   if isinstance(m, dict) and isinstance(m.get("mountPath"), str)}
            for name, (path, ct) in self.containers.items()}
        self.sidecar: str | None = None
        self.custom: dict[str, Any] | None = None

    def error(self, path: tuple[PathPart, ...], message: str, absolute: bool = False) -> None:
        full = path if absolute else (*self.where, *path)
        self.findings.append(self.doc.finding(message, full, severity=ERROR, rule=RULE))

    def add_collector(self, spec: dict[str, Any], kind: str) -> None:
        if kind == "Custom":
            custom = as_map(as_map(as_map(spec.get("metricsCollectorSpec")).get("collector")).get("customCollector"))
            if not custom:
                return  # katib-15 refuses the Experiment already
            self.custom = custom
            name = custom.get("name")
            if not isinstance(name, str) or not name:
                self.error((*COLLECTOR, "customCollector"),
                           "the custom collector container has no name: Katib's pod webhook appends it to every "
                           "primary trial pod as written (pod/inject_webhook.go getMetricsCollectorContainer), and "
                           "the API server refuses a container without a name (containers[].name: Required value)",
                           absolute=True)
                return
            what = "the custom collector container"
        else:
            name = LOGGER_SIDECAR if kind in ("StdOut", "File") else COLLECTOR_SIDECAR
            what = f"Katib's {kind} collector sidecar"
        self.sidecar = name
        if name in self.containers:
            path, _ = self.containers[name]
            self.error((*path, "name"), f"`{name}` is also the name of {what}, which Katib's pod webhook appends to "
                                        "every primary trial pod (pod/inject_webhook.go Mutate): the API server "
                                        "refuses a pod with two containers of one name; rename this container")
        else:
            self.containers[name] = ((), self.custom or {})
            self.mounts[name] = {m.get("mountPath"): ((*COLLECTOR, "customCollector", "volumeMounts", j, "mountPath"),
                                                      True, "")
                                 for j, m in enumerate(as_list((self.custom or {}).get("volumeMounts")))
                                 if isinstance(m, dict) and isinstance(m.get("mountPath"), str)}

    def add_volume(self, name: str, what: str) -> None:
        if name in self.volumes:
            self.error((*self.volumes[name], "name"),
                       f"volume `{name}`: Katib's pod webhook adds a volume of that name for {what} "
                       "(pod/utils.go, pod/inject_webhook.go), and the API server refuses a pod with two volumes of "
                       "one name; rename this volume")
        self.volumes[name] = ("added",)

    def mount(self, container: str, mount_path: str, what: str, at: tuple[PathPart, ...]) -> None:
        """Mount what at mount_path in container; at: the Experiment field that asks for it."""
        mounts = self.mounts.setdefault(container, {})
        clash = mounts.get(mount_path)
        if clash is not None:
            where, absolute, other = clash
            if other:
                message = (f"Katib's pod webhook mounts {other} and {what} both at `{mount_path}` in container "
                           f"`{container}`: the API server refuses one mount path twice in a container")
                self.error(at, message, absolute=True)
            else:
                self.error(where, f"`{mount_path}` is where Katib's pod webhook mounts {what} in container "
                                  f"`{container}` (pod/utils.go mutateMetricsCollectorVolume, pod/inject_webhook.go "
                                  "mutateSuggestionVolume), and the API server refuses one mount path twice in a "
                                  "container; mount this volume elsewhere", absolute=absolute)
        mounts[mount_path] = (at, True, what)

    def sidecar_mounts_resolve(self) -> None:
        """The custom collector's own volumeMounts must name volumes of the trial pod."""
        for j, m in enumerate(as_list((self.custom or {}).get("volumeMounts"))):
            name = as_map(m).get("name")
            if isinstance(name, str) and name not in self.volumes:
                self.error((*COLLECTOR, "customCollector", "volumeMounts", j, "name"),
                           f"the custom collector mounts volume `{name}`, which the trial pod it is appended to does "
                           f"not have{did_you_mean(name, [str(v) for v in self.volumes])}: the API server refuses "
                           "every primary trial pod", absolute=True)
