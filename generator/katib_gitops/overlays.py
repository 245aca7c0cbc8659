"""Profile overlays: JSON 6902 patches that add a profile's settings to a trial pod.

Kustomize has no schema for Experiment, so a strategic-merge patch would
replace lists that carry no ``name`` key (tolerations) and drop what the base
had. JSON 6902 ``add`` operations append instead. The generator knows the base
it is patching, so every operation targets a path that exists: a list or map
the base lacks is added whole, one it has is appended to (``/-``) or its
entries replaced by index.

One patch file per concern: resources, tolerations, env, shm, node-selector.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Iterator

from .experiment import env_list
from . import quantity
from .findings import Finding, UserError
from .spec import Profile, Spec

TRIAL_SPEC = "/spec/trialTemplate/trialSpec"
SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"
CONCERNS = ("resources", "tolerations", "env", "shm", "node-selector")


def pointer(*parts: Any) -> str:
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class PodTarget:
    """A pod template inside the trial spec, and the container to patch in it."""

    pod_pointer: str  # JSON pointer to the PodTemplateSpec
    pod: dict[str, Any]
    container_index: int


def pod_targets(spec: Spec, experiment: dict[str, Any]) -> list[PodTarget]:
    """Every pod template a profile must patch; a UserError for kinds we cannot patch."""
    tt = experiment["spec"]["trialTemplate"]
    trial_spec = tt.get("trialSpec")
    primary = tt.get("primaryContainerName")
    if trial_spec is None:
        raise _unpatchable(spec, "its trial template comes from a ConfigMap the tool cannot see")
    kind = trial_spec.get("kind")
    pods: list[tuple[str, dict[str, Any]]] = []
    if kind == "Job":
        pods.append((pointer("", "spec", "trialTemplate", "trialSpec", "spec", "template"),
                     trial_spec.get("spec", {}).get("template", {})))
    else:
        body = trial_spec.get("spec") or {}
        replica_keys = [k for k in body if k.endswith("ReplicaSpecs") and isinstance(body[k], dict)]
        if not replica_keys:
            raise _unpatchable(spec, f"the tool does not know where a {kind}'s pods are")
        for key in replica_keys:
            for role in body[key]:
                tmpl = (body[key][role] or {}).get("template")
                if isinstance(tmpl, dict):
                    pods.append((pointer("", "spec", "trialTemplate", "trialSpec", "spec", key, role, "template"), tmpl))
    out = []
    for ptr, pod in pods:
        containers = (pod.get("spec") or {}).get("containers") or []
        if not containers:
            raise _unpatchable(spec, f"the pod template at {ptr} has no containers")
        index = next((i for i, c in enumerate(containers) if c.get("name") == primary), 0)
        out.append(PodTarget(ptr, pod, index))
    return out


def _unpatchable(spec: Spec, why: str) -> UserError:
    return UserError(Finding(
        f"cannot apply profiles to this trial: {why}; set `profiles: {{cpu: null, gpu: null}}` to deploy it unpatched",
        path=("trial",), file=spec.path, line=1, column=1, rule="profile"))


def profile_patches(spec: Spec, experiment: dict[str, Any], profile: Profile) -> dict[str, list[dict[str, Any]]]:
    """Concern -> JSON 6902 operations adding profile to every trial pod."""
    targets = pod_targets(spec, experiment)
    patches: dict[str, list[dict[str, Any]]] = {c: [] for c in CONCERNS}
    for t in targets:
        pod_spec = t.pod.get("spec", {})
        container = pod_spec["containers"][t.container_index]
        pod_ptr = t.pod_pointer + "/spec"
        c_ptr = f"{pod_ptr}/containers/{t.container_index}"
        patches["resources"] += list(_resource_ops(c_ptr, container, profile))
        patches["tolerations"] += list(_list_append(pod_ptr, "tolerations", pod_spec, [dict(x) for x in profile.tolerations]))
        patches["env"] += list(_named_merge(c_ptr, "env", container, env_list(profile.env)))
        if profile.shm:
            empty_dir: dict[str, Any] = {"medium": "Memory"}
            if profile.shm_size:
                # Katib's webhook refuses a Job whose sizeLimit Go would rewrite (1024Mi -> 1Gi): write Go's form.
                empty_dir["sizeLimit"] = quantity.canonical_text(profile.shm_size) or profile.shm_size
            patches["shm"] += list(_named_merge(pod_ptr, "volumes", pod_spec, [{"name": SHM_VOLUME, "emptyDir": empty_dir}]))
            patches["shm"] += list(_mount_ops(c_ptr, container))
        patches["node-selector"] += list(_map_merge(pod_ptr, "nodeSelector", pod_spec, dict(profile.node_selector)))
    return {k: v for k, v in patches.items() if v}


def _resource_ops(c_ptr: str, container: dict[str, Any], profile: Profile) -> Iterator[dict[str, Any]]:
    limits = dict(profile.limits)
    requests = dict(profile.requests)
    if profile.gpus:
        # Extended resources: whole numbers, and a request must equal the limit.
        limits[profile.gpu_resource] = str(profile.gpus)
        requests[profile.gpu_resource] = str(profile.gpus)
    wanted = {k: v for k, v in (("limits", limits), ("requests", requests)) if v}
    if not wanted:
        return
    have = container.get("resources")
    if not isinstance(have, dict):
        yield {"op": "add", "path": f"{c_ptr}/resources", "value": wanted}
        return
    for section, values in wanted.items():
        yield from _map_merge(f"{c_ptr}/resources", section, have, values)


def _map_merge(parent: str, key: str, holder: dict[str, Any], values: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if not values:
        return
    have = holder.get(key)
    if not isinstance(have, dict):
        yield {"op": "add", "path": f"{parent}/{pointer(key)}", "value": dict(values)}
        return
    for k, v in values.items():
        # "add" on an existing member replaces it, which is what a profile means.
        yield {"op": "add", "path": f"{parent}/{pointer(key, k)}", "value": v}


def _list_append(parent: str, key: str, holder: dict[str, Any], items: list[Any]) -> Iterator[dict[str, Any]]:
    have = holder.get(key)
    items = [i for i in items if not (isinstance(have, list) and i in have)]
    if not items:
        return
    if not isinstance(have, list):
        yield {"op": "add", "path": f"{parent}/{pointer(key)}", "value": copy.deepcopy(items)}
        return
    for item in items:
        yield {"op": "add", "path": f"{parent}/{pointer(key)}/-", "value": copy.deepcopy(item)}


def _named_merge(parent: str, key: str, holder: dict[str, Any], items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Add items to a list keyed by name, replacing an entry of the same name."""
    have = holder.get(key)
    if not items:
        return
    if not isinstance(have, list):
        yield {"op": "add", "path": f"{parent}/{pointer(key)}", "value": copy.deepcopy(items)}
        return
    index = {e.get("name"): i for i, e in enumerate(have) if isinstance(e, dict)}
    for item in items:
        if item["name"] in index:
            if have[index[item["name"]]] != item:
                yield {"op": "replace", "path": f"{parent}/{pointer(key)}/{index[item['name']]}", "value": copy.deepcopy(item)}
        else:
            yield {"op": "add", "path": f"{parent}/{pointer(key)}/-", "value": copy.deepcopy(item)}


def _mount_ops(c_ptr: str, container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    mount = {"name": SHM_VOLUME, "mountPath": SHM_PATH}
    have = container.get("volumeMounts")
    if not isinstance(have, list):
        yield {"op": "add", "path": f"{c_ptr}/volumeMounts", "value": [mount]}
        return
    for i, m in enumerate(have):
        if isinstance(m, dict) and m.get("mountPath") == SHM_PATH:
            if m != mount:
                yield {"op": "replace", "path": f"{c_ptr}/volumeMounts/{i}", "value": mount}
            return
    yield {"op": "add", "path": f"{c_ptr}/volumeMounts/-", "value": mount}
