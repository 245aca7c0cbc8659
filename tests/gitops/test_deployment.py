"""What a rendered tree deploys and the GPUs its trials hold, read from the tree itself."""

from __future__ import annotations

import yaml

from katib_gitops.repo.deployment import deployed_overlays, memory_reader, trial_gpus

OVERLAYS = ["overlays/cpu", "overlays/gpu", "overlays/gpu-a100"]


def kust(*resources: str) -> str:
    return yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                           "resources": list(resources)})


def tree(**extra: str) -> dict[str, str]:
    files = {f"{o}/kustomization.yaml": kust("../../base") for o in OVERLAYS}
    files.update({k.replace("__", "/").replace("_yaml", ".yaml"): v for k, v in extra.items()})
    return files


def app(path: str) -> str:
    return yaml.safe_dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                           "spec": {"source": {"path": path}}})


def test_root_kustomization_and_argo_cd_applications():
    files = tree(kustomization_yaml=kust("overlays/cpu"),
                 deploy__argocd__kustomization_yaml=kust("gpu.yaml"),
                 deploy__argocd__gpu_yaml=app("team/overlays/gpu"),  # below a monorepo prefix
                 deploy__argocd__unused_yaml=app("overlays/gpu-a100"))  # not in the kustomization: not deployed
    assert deployed_overlays(memory_reader(files), OVERLAYS) == {
        "overlays/cpu": ["kustomization.yaml"], "overlays/gpu": ["deploy/argocd"]}


def test_an_application_syncing_the_root_deploys_what_the_root_includes():
    files = tree(kustomization_yaml=kust("overlays/cpu", "overlays/gpu"),
                 deploy__flux__kustomization_yaml=kust("katib.yaml"),
                 deploy__flux__katib_yaml=yaml.safe_dump({"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                                                          "kind": "Kustomization", "spec": {"path": "./"}}))
    got = deployed_overlays(memory_reader(files), OVERLAYS)
    assert got == {"overlays/cpu": ["kustomization.yaml", "deploy/flux"],
                   "overlays/gpu": ["kustomization.yaml", "deploy/flux"]}


def test_applicationset_glob_with_exclusions_and_cycles_end():
    appset = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "spec": {"generators": [{"git": {
        "directories": [{"path": "overlays/*"}, {"path": "overlays/cpu", "exclude": True}]}}]}}
    files = tree(kustomization_yaml=kust("kustomization.yaml", "."),  # a cycle in untrusted input
                 deploy__argocd__kustomization_yaml=kust("set.yaml"), deploy__argocd__set_yaml=yaml.safe_dump(appset))
    assert deployed_overlays(memory_reader(files), OVERLAYS) == {
        "overlays/gpu": ["deploy/argocd"], "overlays/gpu-a100": ["deploy/argocd"]}


def test_trial_gpus_count_every_replica():
    container = {"name": "c", "resources": {"limits": {"nvidia.com/gpu": "2", "cpu": "4"}}}
    job = {"spec": {"trialTemplate": {"trialSpec": {"kind": "Job", "spec": {"template": {"spec": {
        "containers": [container]}}}}}}}
    pytorch = {"spec": {"trialTemplate": {"trialSpec": {"kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {
        "Master": {"replicas": 1, "template": {"spec": {"containers": [container]}}},
        "Worker": {"replicas": 3, "template": {"spec": {"containers": [container]}}}}}}}}}
    assert (trial_gpus(job), trial_gpus(pytorch), trial_gpus({"spec": {}})) == (2, 8, 0)
