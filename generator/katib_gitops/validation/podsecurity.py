"""Pod Security Standards (baseline, restricted) over every pod template seen.

A namespace labelled ``pod-security.kubernetes.io/enforce: restricted`` makes the
API server refuse each trial's pods that break the standard, so the Experiment
syncs and then every trial fails. With ``--pod-security`` the same checks run
here. The controls follow the published standard; a field left out counts as
its Kubernetes default.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from ..io.findings import ERROR, Finding, PathPart
from ..io.yamlio import Document
from .access import as_list, as_map

RULE = "pod-security"
LEVELS = ("baseline", "restricted")

BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                          "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                          "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                          "net.ipv4.tcp_keepalive_probes"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                                "projected", "secret", "image"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


class _Checker:
    def __init__(self, doc: Document, prefix: Sequence[PathPart], level: str):
        self.doc, self.prefix, self.level = doc, tuple(prefix), level
        self.findings: list[Finding] = []

    def error(self, path: Sequence[PathPart], message: str, at: Sequence[PathPart] | None = None) -> None:
        full = (*self.prefix, *path)
        line, col = self.doc.position((*self.prefix, *at) if at is not None else full)
        self.findings.append(Finding(f"{message} (Pod Security Standard {self.level})", full, self.doc.file,
                                     line, col, ERROR, RULE))


def _containers(pod: dict[str, Any]) -> Iterator[tuple[tuple[PathPart, ...], dict[str, Any]]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, ct in enumerate(as_list(pod.get(key))):
            if isinstance(ct, dict):
                yield ("spec", key, i), ct


def check_pod_security(doc: Document, template_path: Sequence[PathPart], template: dict[str, Any],
                       level: str) -> list[Finding]:
    """Findings for the pod template at template_path ({metadata, spec}) under the given standard."""
    pod = as_map(template.get("spec"))
    if not pod:
        return []
    c = _Checker(doc, template_path, level)
    _baseline(c, template, pod)
    if level == "restricted":
        _restricted(c, pod)
    return c.findings


def _baseline(c: _Checker, template: dict[str, Any], pod: dict[str, Any]) -> None:
    psc = as_map(pod.get("securityContext"))
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key) is True:
            c.error(("spec", key), "host namespaces are not allowed: must be false or unset")
    for i, vol in enumerate(as_list(pod.get("volumes"))):
        if isinstance(vol, dict) and "hostPath" in vol:
            c.error(("spec", "volumes", i, "hostPath"), "hostPath volumes are not allowed")
    if as_map(psc.get("windowsOptions")).get("hostProcess") is True:
        c.error(("spec", "securityContext", "windowsOptions", "hostProcess"), "host processes are not allowed")
    _selinux(c, ("spec", "securityContext"), psc)
    _seccomp_not_unconfined(c, ("spec", "securityContext"), psc)
    _apparmor(c, ("spec", "securityContext"), psc)
    for j, sysctl in enumerate(as_list(psc.get("sysctls"))):
        name = as_map(sysctl).get("name")
        if isinstance(name, str) and name not in SAFE_SYSCTLS:
            c.error(("spec", "securityContext", "sysctls", j, "name"), f"sysctl `{name}` is not in the safe set")
    for key, value in as_map(as_map(template.get("metadata")).get("annotations")).items():
        if isinstance(key, str) and key.startswith(APPARMOR_ANNOTATION) and isinstance(value, str) \
                and value != "runtime/default" and not value.startswith("localhost/"):
            c.error(("metadata", "annotations", key), f"AppArmor profile `{value}` is not allowed")
    for path, ct in _containers(pod):
        sc = as_map(ct.get("securityContext"))
        scp = (*path, "securityContext")
        if sc.get("privileged") is True:
            c.error((*scp, "privileged"), "privileged containers are not allowed")
        if as_map(sc.get("windowsOptions")).get("hostProcess") is True:
            c.error((*scp, "windowsOptions", "hostProcess"), "host processes are not allowed")
        added = as_list(as_map(sc.get("capabilities")).get("add"))
        for j, cap in enumerate(added):
            if isinstance(cap, str) and cap not in BASELINE_CAPABILITIES:
                c.error((*scp, "capabilities", "add", j), f"adding capability {cap} is not allowed")
        for j, port in enumerate(as_list(ct.get("ports"))):
            if isinstance(port, dict) and port.get("hostPort") not in (None, 0):
                c.error((*path, "ports", j, "hostPort"), "host ports are not allowed")
        if sc.get("procMount") not in (None, "Default"):
            c.error((*scp, "procMount"), "only the Default /proc mount is allowed")
        _selinux(c, scp, sc)
        _seccomp_not_unconfined(c, scp, sc)
        _apparmor(c, scp, sc)


def _selinux(c: _Checker, path: tuple[PathPart, ...], sc: dict[str, Any]) -> None:
    opts = as_map(sc.get("seLinuxOptions"))
    if opts.get("type") not in (None, *SELINUX_TYPES):
        c.error((*path, "seLinuxOptions", "type"), f"SELinux type `{opts['type']}` is not allowed")
    for key in ("user", "role"):
        if opts.get(key):
            c.error((*path, "seLinuxOptions", key), f"setting the SELinux {key} is not allowed")


def _seccomp_not_unconfined(c: _Checker, path: tuple[PathPart, ...], sc: dict[str, Any]) -> None:
    if as_map(sc.get("seccompProfile")).get("type") == "Unconfined":
        c.error((*path, "seccompProfile", "type"), "seccomp profile Unconfined is not allowed")


def _apparmor(c: _Checker, path: tuple[PathPart, ...], sc: dict[str, Any]) -> None:
    kind = as_map(sc.get("appArmorProfile")).get("type")
    if kind not in (None, "RuntimeDefault", "Localhost"):
        c.error((*path, "appArmorProfile", "type"), f"AppArmor profile `{kind}` is not allowed")


def _restricted(c: _Checker, pod: dict[str, Any]) -> None:
    psc = as_map(pod.get("securityContext"))
    pod_non_root = psc.get("runAsNonRoot") is True
    pod_seccomp = as_map(psc.get("seccompProfile")).get("type") in ("RuntimeDefault", "Localhost")
    if psc.get("runAsUser") == 0:
        c.error(("spec", "securityContext", "runAsUser"), "running as user 0 (root) is not allowed")
    for i, vol in enumerate(as_list(pod.get("volumes"))):
        if isinstance(vol, dict):
            kinds = [k for k in vol if k != "name"]
            for k in kinds:
                if k not in RESTRICTED_VOLUMES and k != "hostPath":  # hostPath is reported by baseline
                    c.error(("spec", "volumes", i, k), f"volume type {k} is not allowed")
    for path, ct in _containers(pod):
        sc = as_map(ct.get("securityContext"))
        scp = (*path, "securityContext")
        if sc.get("allowPrivilegeEscalation") is not False:
            c.error((*scp, "allowPrivilegeEscalation"), "must be set to false",
                    at=(*scp, "allowPrivilegeEscalation") if "allowPrivilegeEscalation" in sc else path)
        if sc.get("runAsNonRoot") is False or (not pod_non_root and sc.get("runAsNonRoot") is not True):
            c.error((*scp, "runAsNonRoot"), "must be true (here or in the pod's securityContext)",
                    at=(*scp, "runAsNonRoot") if "runAsNonRoot" in sc else path)
        if sc.get("runAsUser") == 0:
            c.error((*scp, "runAsUser"), "running as user 0 (root) is not allowed")
        ct_seccomp = as_map(sc.get("seccompProfile")).get("type")
        if not pod_seccomp and ct_seccomp not in ("RuntimeDefault", "Localhost"):
            c.error((*scp, "seccompProfile", "type"),
                    "must be RuntimeDefault or Localhost (here or in the pod's securityContext)",
                    at=(*scp, "seccompProfile") if "seccompProfile" in sc else path)
        caps = as_map(sc.get("capabilities"))
        drop = caps.get("drop") if isinstance(caps.get("drop"), list) else []
        if "ALL" not in drop:
            c.error((*scp, "capabilities", "drop"), "must include ALL",
                    at=(*scp, "capabilities", "drop") if "drop" in caps else path)
        for j, cap in enumerate(as_list(caps.get("add"))):
            if isinstance(cap, str) and cap in BASELINE_CAPABILITIES and cap != "NET_BIND_SERVICE":
                c.error((*scp, "capabilities", "add", j), f"only NET_BIND_SERVICE may be added, not {cap}")


# Collector kinds whose sidecar Katib builds itself (metricscollector/v1beta1/common/const.go
# AutoInjectMetricsCollectorList); Custom injects the user's own container, Push injects none.
SIDECAR_COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric")


def check_collector_sidecar(doc: Document, level: str, inject_security_context: bool) -> list[Finding]:
    """Katib's metrics-collector sidecar as the namespace's Pod Security admission sees it.

    pod/inject_webhook.go getMetricsCollectorContainer gives the sidecar no securityContext unless katib-config
    sets injectSecurityContext: true (it then copies the first container's, which the checks above cover). With
    none, `restricted` refuses the pod: allowPrivilegeEscalation and capabilities.drop are container-level.
    """
    if level != "restricted" or inject_security_context:
        return []
    spec = as_map(as_map(doc.data).get("spec"))
    mcs = as_map(spec.get("metricsCollectorSpec"))
    kind = as_map(mcs.get("collector")).get("kind") or "StdOut"
    if kind not in SIDECAR_COLLECTORS or not isinstance(as_map(spec.get("trialTemplate")).get("trialSpec"), dict):
        return []
    path: tuple[PathPart, ...] = ("spec", "metricsCollectorSpec", "collector", "kind")
    return [doc.finding(
        f"Katib injects its {kind} metrics-collector sidecar into every primary trial pod without a securityContext "
        "(pod/inject_webhook.go getMetricsCollectorContainer), so Pod Security `restricted` rejects the pods even "
        "though this template passes: set injectSecurityContext: true in the cluster's katib-config and declare it "
        "here (--inject-security-context, or injectSecurityContext: true in katib-gitops.yaml)",
        path if "metricsCollectorSpec" in spec else ("spec",), severity=ERROR, rule=RULE + "-sidecar")]
