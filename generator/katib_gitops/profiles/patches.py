"""A profile -> JSON 6902 operations that add it to one Experiment's trial pods.

Kustomize has no schema for Experiment, so a strategic-merge patch would
replace lists that carry no ``name`` key (tolerations) and drop what the base
had. JSON 6902 ``add`` operations append instead. The generator knows the base
it is patching, so every operation targets a path that exists: a list or map
the base lacks is added whole, one it has is appended to (``/-``).

A profile never silently overrides the trial: the same env name, resource,
mount path, node-selector key or class set to a different value on both sides
is a ``ProfileConflict`` (the renderer reports it at the spec's line).

Where things go in training kinds: every role gets the profile's placement
(tolerations, nodeSelector, affinity, priority class, pod labels and
annotations); roles that compute (Master, Worker, Chief, ...) also get its
resources, GPUs, env, runtime class and /dev/shm. MPIJob's Launcher only runs
mpirun (Kubeflow's MPI operator starts the ranks on the Workers), so it gets
placement and no GPUs. TrainJob (kubeflow/trainer) exposes
``spec.trainer.resourcesPerNode`` and ``spec.trainer.env`` for the training
node and ``spec.podSpecOverrides`` (tolerations, nodeSelector, affinity,
volumes, container volumeMounts) for its pods; it has no field for a runtime or
priority class or pod labels, which belong to its TrainingRuntime, so a profile
setting those is refused with that reason.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..spec import quantity
from ..spec.experiment import env_list
from .model import Profile

SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"
# Concerns in the order a patch file lists them; each is commented in the file.
CONCERNS = {
    "resources": "resources: the profile's CPU, memory and GPUs (limit = request for GPUs)",
    "tolerations": "tolerations: the profile's taints to tolerate, added beside the trial's own",
    "node-placement": "node placement: nodeSelector and affinity",
    "env": "env: the profile's environment variables",
    "shm": "shm: a Memory-backed emptyDir on /dev/shm",
    "classes": "runtime and priority class",
    "pod-metadata": "pod labels and annotations (a Kueue queue, say)",
}
# Roles that only coordinate: placement, but no GPUs, resources, env or shm.
COORDINATING_ROLES = {("MPIJob", "Launcher")}
# kubeflow/trainer's default TrainingRuntimes call the replicated job that trains "node".
TRAINJOB_NODE = "node"

Ops = list[dict[str, Any]]


class ProfileConflict(Exception):
    """The profile and the trial disagree, or the trial kind cannot take the profile."""

    def __init__(self, message: str, trial_field: tuple[Any, ...] = ()):
        super().__init__(message)
        self.message = message
        self.trial_field = trial_field  # ("env", NAME), ("resources", "limits", KEY), ("volumeMounts",), ...


def pointer(*parts: Any) -> str:
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class PodTarget:
    """A pod template inside the trial spec, the container to patch in it, and whether the role computes."""

    pod_pointer: str  # JSON pointer to the PodTemplateSpec
    pod: dict[str, Any]
    container_index: int
    computes: bool
    role: str


def pod_targets(experiment: dict[str, Any]) -> list[PodTarget]:
    """Every pod template a profile patches; ProfileConflict for kinds whose pods the tool cannot see."""
    tt = experiment["spec"]["trialTemplate"]
    trial_spec = tt.get("trialSpec")
    primary = tt.get("primaryContainerName")
    if trial_spec is None:
        raise ProfileConflict("cannot apply a profile: the trial template comes from a ConfigMap the tool cannot see")
    kind = trial_spec.get("kind")
    pods: list[tuple[str, dict[str, Any], str]] = []
    root = ("", "spec", "trialTemplate", "trialSpec", "spec")
    if kind == "Job":
        pods.append((pointer(*root, "template"), (trial_spec.get("spec") or {}).get("template") or {}, "Job"))
    else:
        body = trial_spec.get("spec") or {}
        replica_keys = [k for k in body if k.endswith("ReplicaSpecs") and isinstance(body[k], dict)]
        if not replica_keys:
            raise ProfileConflict(f"cannot apply a profile: the tool does not know where a {kind}'s pods are")
        for key in replica_keys:
            for role in body[key]:
                tmpl = (body[key][role] or {}).get("template")
                if isinstance(tmpl, dict):
                    pods.append((pointer(*root, key, role, "template"), tmpl, str(role)))
    out = []
    for ptr, pod, role in pods:
        containers = (pod.get("spec") or {}).get("containers") or []
        if not containers:
            raise ProfileConflict(f"cannot apply a profile: the pod template at {ptr} has no containers")
        index = next((i for i, c in enumerate(containers) if c.get("name") == primary), 0)
        out.append(PodTarget(ptr, pod, index, (kind, role) not in COORDINATING_ROLES, role))
    return out


def profile_patches(experiment: dict[str, Any], profile: Profile) -> dict[str, Ops]:
    """Concern -> JSON 6902 operations adding profile to every trial pod; {} for a disabled profile."""
    if profile.disabled:
        return {}
    trial_spec = experiment["spec"]["trialTemplate"].get("trialSpec") or {}
    patches: dict[str, Ops] = {c: [] for c in CONCERNS}
    if trial_spec.get("kind") == "TrainJob":
        _trainjob(experiment, profile, patches)
    else:
        for t in pod_targets(experiment):
            _pod(t, profile, patches)
    return {k: v for k, v in patches.items() if v}


def _pod(t: PodTarget, profile: Profile, patches: dict[str, Ops]) -> None:
    pod_spec = t.pod.get("spec") or {}
    container = pod_spec["containers"][t.container_index]
    pod_ptr = t.pod_pointer + "/spec"
    c_ptr = f"{pod_ptr}/containers/{t.container_index}"
    patches["tolerations"] += _list_append(pod_ptr, "tolerations", pod_spec, [dict(x) for x in profile.tolerations])
    patches["node-placement"] += _map_merge(pod_ptr, "nodeSelector", pod_spec, dict(profile.node_selector),
                                            ("nodeSelector",))
    patches["node-placement"] += _scalar(pod_ptr, "affinity", pod_spec, profile.affinity, ("affinity",))
    patches["classes"] += _scalar(pod_ptr, "priorityClassName", pod_spec, profile.priority_class,
                                  ("priorityClassName",))
    meta = t.pod.get("metadata")
    if profile.pod_labels or profile.pod_annotations:
        if not isinstance(meta, dict):
            value = {}
            if profile.pod_labels:
                value["labels"] = dict(profile.pod_labels)
            if profile.pod_annotations:
                value["annotations"] = dict(profile.pod_annotations)
            patches["pod-metadata"].append({"op": "add", "path": f"{t.pod_pointer}/metadata", "value": value})
        else:
            patches["pod-metadata"] += _map_merge(f"{t.pod_pointer}/metadata", "labels", meta,
                                                  dict(profile.pod_labels), ("podLabels",))
            patches["pod-metadata"] += _map_merge(f"{t.pod_pointer}/metadata", "annotations", meta,
                                                  dict(profile.pod_annotations), ("podAnnotations",))
    if not t.computes:
        return
    patches["classes"] += _scalar(pod_ptr, "runtimeClassName", pod_spec, profile.runtime_class, ("runtimeClassName",))
    patches["resources"] += _resource_ops(c_ptr, container.get("resources"), profile, "resources")
    patches["env"] += _env_ops(c_ptr, container, profile)
    if profile.shm:
        patches["shm"] += _shm_volume(pod_ptr, pod_spec, profile)
        patches["shm"] += _mount_ops(c_ptr, container)


def _trainjob(experiment: dict[str, Any], profile: Profile, patches: dict[str, Ops]) -> None:
    unsupported = [k for k, v in (("runtimeClassName", profile.runtime_class),
                                  ("priorityClassName", profile.priority_class),
                                  ("podLabels", profile.pod_labels), ("podAnnotations", profile.pod_annotations)) if v]
    if unsupported:
        raise ProfileConflict(
            f"profile {profile.name!r} sets {', '.join(unsupported)}, which a TrainJob does not expose (they belong "
            f"to its TrainingRuntime); set them there, or `{unsupported[0]}: null` in this spec's profiles.{profile.name}")
    body = experiment["spec"]["trialTemplate"]["trialSpec"].get("spec") or {}
    primary = experiment["spec"]["trialTemplate"].get("primaryContainerName") or TRAINJOB_NODE
    spec_ptr = pointer("", "spec", "trialTemplate", "trialSpec", "spec")
    trainer = body.get("trainer")
    if not isinstance(trainer, dict):
        patches_for_trainer: dict[str, Any] = {}
        if _resources_wanted(profile, None):
            patches_for_trainer["resourcesPerNode"] = _resources_wanted(profile, None)
        if profile.env:
            patches_for_trainer["env"] = env_list(profile.env)
        if patches_for_trainer:
            patches["resources"].append({"op": "add", "path": f"{spec_ptr}/trainer", "value": patches_for_trainer})
    else:
        t_ptr = f"{spec_ptr}/trainer"
        patches["resources"] += _resource_ops(t_ptr, trainer.get("resourcesPerNode"), profile, "resourcesPerNode")
        patches["env"] += _env_ops(t_ptr, trainer, profile)
    override: dict[str, Any] = {"targetJobs": [{"name": TRAINJOB_NODE}]}
    if profile.tolerations:
        override["tolerations"] = [dict(x) for x in profile.tolerations]
    if profile.node_selector:
        override["nodeSelector"] = dict(profile.node_selector)
    if profile.affinity:
        override["affinity"] = copy.deepcopy(dict(profile.affinity))
    if profile.shm:
        override["volumes"] = [_shm_source(profile)]
        override["containers"] = [{"name": primary, "volumeMounts": [{"name": SHM_VOLUME, "mountPath": SHM_PATH}]}]
    if len(override) > 1:
        have = body.get("podSpecOverrides")
        if isinstance(have, list) and any(TRAINJOB_NODE in [j.get("name") for j in (o or {}).get("targetJobs") or []]
                                          for o in have if isinstance(o, dict)):
            raise ProfileConflict(f"the TrainJob already overrides the {TRAINJOB_NODE!r} pods (podSpecOverrides); "
                                  f"profile {profile.name!r} would add a second override for them", ("template",))
        concern = "tolerations" if set(override) <= {"targetJobs", "tolerations"} else "node-placement"
        patches[concern] += _list_append(spec_ptr, "podSpecOverrides", body, [override])


def _resources_wanted(profile: Profile, have: Any) -> dict[str, dict[str, str]]:
    own = isinstance(have, dict) and any(have.get(s) for s in ("limits", "requests"))
    limits = dict(profile.limits) if (profile.resources_set or not own) else {}
    requests = dict(profile.requests) if (profile.resources_set or not own) else {}
    if profile.gpus:
        # Extended resources: whole numbers, and a request must equal the limit.
        limits[profile.gpu_resource] = str(profile.gpus)
        requests[profile.gpu_resource] = str(profile.gpus)
    return {k: v for k, v in (("limits", limits), ("requests", requests)) if v}


def _resource_ops(c_ptr: str, have: Any, profile: Profile, key: str) -> Ops:
    wanted = _resources_wanted(profile, have)
    if not wanted:
        return []
    if not isinstance(have, dict):
        return [{"op": "add", "path": f"{c_ptr}/{key}", "value": wanted}]
    out: Ops = []
    for section, values in wanted.items():
        current = have.get(section) if isinstance(have.get(section), dict) else {}
        for k, v in values.items():
            if k in current and str(current[k]) != v:
                raise ProfileConflict(
                    f"{section}.{k} is {current[k]} in the trial but {v} in profile {profile.name!r}"
                    f"{_where(profile, 'gpus' if k == profile.gpu_resource else section)}; set it in one place",
                    ("resources", section, k))
        out += _map_merge(f"{c_ptr}/{key}", section, have, {k: v for k, v in values.items() if k not in current})
    return out


def _where(profile: Profile, key: str) -> str:
    src = profile.sources.get(key)
    return f" (set in {src})" if src else " (a built-in default)"


def _env_ops(c_ptr: str, container: dict[str, Any], profile: Profile) -> Ops:
    def clash(theirs: dict[str, Any]) -> ProfileConflict:
        return ProfileConflict(f"env {theirs['name']} is set by the trial and, differently, by profile "
                               f"{profile.name!r}{_where(profile, 'env')}; set it in one place", ("env", theirs["name"]))

    return _keyed_append(c_ptr, "env", container, env_list(profile.env), "name", clash)


def _shm_source(profile: Profile) -> dict[str, Any]:
    empty_dir: dict[str, Any] = {"medium": "Memory"}
    if profile.shm_size:
        # Katib's webhook refuses a Job whose sizeLimit Go would rewrite (1024Mi -> 1Gi): write Go's form.
        empty_dir["sizeLimit"] = quantity.canonical_text(profile.shm_size) or profile.shm_size
    return {"name": SHM_VOLUME, "emptyDir": empty_dir}


def _shm_volume(pod_ptr: str, pod_spec: dict[str, Any], profile: Profile) -> Ops:
    def clash(_: dict[str, Any]) -> ProfileConflict:
        return ProfileConflict(f"the trial already has a volume named {SHM_VOLUME!r}; profile {profile.name!r} "
                               f"adds its /dev/shm volume under that name", ("volumes",))

    return _keyed_append(pod_ptr, "volumes", pod_spec, [_shm_source(profile)], "name", clash)


def _mount_ops(c_ptr: str, container: dict[str, Any]) -> Ops:
    def clash(theirs: dict[str, Any]) -> ProfileConflict:
        return ProfileConflict(f"the trial already mounts {theirs.get('name')!r} on {SHM_PATH}; the profile mounts "
                               f"its shm volume there (set `shm: false` in this spec's profile, or drop the mount)",
                               ("volumeMounts",))

    return _keyed_append(c_ptr, "volumeMounts", container, [{"name": SHM_VOLUME, "mountPath": SHM_PATH}],
                         "mountPath", clash)


def _keyed_append(parent: str, key: str, holder: dict[str, Any], items: list[dict[str, Any]], ident: str,
                  clash: Callable[[dict[str, Any]], ProfileConflict]) -> Ops:
    """Ops adding items to the list holder[key] (the whole list when it is missing), each matched on its
    ``ident`` field with what is there: the same item is left alone, a different one is clash(theirs)."""
    if not items:
        return []
    have = holder.get(key)
    if not isinstance(have, list):
        return [{"op": "add", "path": f"{parent}/{key}", "value": items}]
    present = {e.get(ident): e for e in have if isinstance(e, dict)}
    out: Ops = []
    for item in items:
        theirs = present.get(item[ident])
        if theirs is None:
            out.append({"op": "add", "path": f"{parent}/{key}/-", "value": item})
        elif theirs != item:
            raise clash(theirs)
    return out


def _scalar(parent: str, key: str, holder: dict[str, Any], value: Any, field: tuple[Any, ...]) -> Ops:
    if value is None or value == {}:
        return []
    have = holder.get(key)
    if have is None:
        return [{"op": "add", "path": f"{parent}/{pointer(key)}", "value": copy.deepcopy(value)}]
    if have != value:
        raise ProfileConflict(f"{key} is set by the trial and, differently, by the profile; set it in one place", field)
    return []


def _map_merge(parent: str, key: str, holder: dict[str, Any], values: dict[str, Any],
               field: tuple[Any, ...] = ()) -> Ops:
    if not values:
        return []
    have = holder.get(key)
    if not isinstance(have, dict):
        return [{"op": "add", "path": f"{parent}/{pointer(key)}", "value": dict(values)}]
    out: Ops = []
    for k, v in values.items():
        if k in have:
            if have[k] != v:
                raise ProfileConflict(f"{key}[{k}] is {have[k]!r} in the trial but {v!r} in the profile; "
                                      "set it in one place", field + (k,))
            continue
        out.append({"op": "add", "path": f"{parent}/{pointer(key, k)}", "value": v})
    return out


def _list_append(parent: str, key: str, holder: dict[str, Any], items: list[Any]) -> Ops:
    have = holder.get(key)
    items = [i for i in items if not (isinstance(have, list) and i in have)]
    if not items:
        return []
    if not isinstance(have, list):
        return [{"op": "add", "path": f"{parent}/{pointer(key)}", "value": copy.deepcopy(items)}]
    return [{"op": "add", "path": f"{parent}/{pointer(key)}/-", "value": copy.deepcopy(i)} for i in items]


def iter_ops(patches: dict[str, Ops]) -> Iterator[dict[str, Any]]:
    for concern in CONCERNS:
        yield from patches.get(concern, ())
