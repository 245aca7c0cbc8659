"""The annotations every rendered Experiment carries for Argo CD and Flux."""

from __future__ import annotations

import re

import pytest

from katib_gitops.deploy import experiment_annotations
from katib_gitops.repo.repository import RepoConfig

# Kubernetes annotation keys: optional DNS-subdomain prefix, then a name.
KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def test_kept_experiments_are_protected_from_both_tools() -> None:
    assert experiment_annotations(RepoConfig(), prune=False) == {
        "argocd.argoproj.io/compare-options": "IgnoreExtraneous",
        "argocd.argoproj.io/sync-options": "Prune=false",
        "kustomize.toolkit.fluxcd.io/prune": "disabled",
        "kustomize.toolkit.fluxcd.io/substitute": "disabled",
    }


def test_pruned_experiments_only_opt_out_of_substitution() -> None:
    assert experiment_annotations(RepoConfig(prune=True), prune=True) == {
        "kustomize.toolkit.fluxcd.io/substitute": "disabled",
    }


def test_prune_argument_wins_over_repo_setting() -> None:
    # render passes the effective setting (a spec may override the repo).
    assert "kustomize.toolkit.fluxcd.io/prune" in experiment_annotations(RepoConfig(prune=True), prune=False)
    assert "kustomize.toolkit.fluxcd.io/prune" not in experiment_annotations(RepoConfig(prune=False), prune=True)


@pytest.mark.parametrize("prune", [True, False])
def test_annotations_are_valid_and_stable(prune: bool) -> None:
    out = experiment_annotations(RepoConfig(), prune)
    assert all(KEY.match(k) and len(k.split("/")[-1]) <= 63 for k in out)
    assert all(isinstance(v, str) for v in out.values())
    assert list(out) == sorted(out)
    assert out == experiment_annotations(RepoConfig(), prune)


@pytest.mark.parametrize("prune", [True, False])
def test_the_emitted_namespace_is_never_pruned_or_deleted(iris_repo, prune: bool) -> None:
    """createNamespace: true emits the Namespace (which usually holds Katib too) in the default profile's
    overlay; built by real kustomize, it tells Argo CD never to prune it nor delete it with the Application
    (Prune=false,Delete=false) and Flux never to prune it (also not when its Kustomization is deleted),
    whatever the prune setting of the Experiments."""
    import yaml

    from conftest import cli
    from katib_gitops.build.kustomize import build

    cfg = iris_repo / "katib-gitops.yaml"
    text = cfg.read_text().replace("createNamespace: false", "createNamespace: true")
    cfg.write_text(text.replace("prune: false", f"prune: {str(prune).lower()}"))
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    docs = list(yaml.safe_load_all(build(iris_repo / "overlays" / "cpu", "overlays/cpu")))
    (ns,) = [d for d in docs if d["kind"] == "Namespace"]
    annotations = ns["metadata"]["annotations"]
    options = set(annotations["argocd.argoproj.io/sync-options"].split(","))
    assert options == {"Prune=false", "Delete=false"}
    assert annotations["kustomize.toolkit.fluxcd.io/prune"] == "disabled"
    assert ns["metadata"]["labels"]["katib.kubeflow.org/metrics-collector-injection"] == "enabled"
    assert cli("check", "-C", str(iris_repo)) == 0
