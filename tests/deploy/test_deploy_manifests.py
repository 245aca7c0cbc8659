"""deploy/: every Argo CD and Flux object against our schemas and the upstream CRDs, and what it says."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml
from conftest import CRDS, REPO_ROOT, needs_shared
from deploy_support import PROFILES, cel_program, configs, crd_rules, crd_schema, crd_validator, emitted_objects, iter_rules

from katib_gitops.build import kustomize
from katib_gitops.deploy import application_set, deploy_files, flux_kustomization, git_repository
from katib_gitops.deploy.flux import git_ref, git_url
from katib_gitops.deploy.schemas import SCHEMA_FILES, schema_errors, schema_file_for, validator
from katib_gitops.repo.repository import ArgoSettings, FluxSettings, RepoConfig
from katib_gitops.io.yamlio import dump, iter_yaml_files, load_file

CONFIGS = configs()
CRD_FILES = {
    ("argoproj.io/v1alpha1", "Application"): "argocd-application-crd.yaml",
    ("argoproj.io/v1alpha1", "ApplicationSet"): "argocd-applicationset-crd.yaml",
    ("source.toolkit.fluxcd.io/v1", "GitRepository"): "flux-gitrepository-crd.yaml",
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): "flux-kustomization-crd.yaml",
}
# Maps whose keys are data, not field names.
FREE_MAPS = {"labels", "annotations", "data", "values", "substitute"}


def all_objects() -> list[tuple[str, str, dict[str, Any]]]:
    return [(cid, path, obj) for cid, cfg in CONFIGS.items() for path, obj in emitted_objects(cfg)]


def object_id(item: tuple[str, str, dict[str, Any]]) -> str:
    return f"{item[0]}:{item[1]}"


def kinds_emitted() -> set[tuple[str, str]]:
    return {(o.get("apiVersion"), o.get("kind")) for _, _, o in all_objects()}


# --------------------------------------------------------------------------- our schemas


@pytest.mark.parametrize("filename", sorted(SCHEMA_FILES.values()))
def test_schema_is_valid_draft_2020_12(filename: str) -> None:
    schema = validator(filename).schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_argo_and_flux_kind_is_emitted_somewhere() -> None:
    assert set(SCHEMA_FILES) <= kinds_emitted()


@pytest.mark.parametrize("item", all_objects(), ids=object_id)
def test_object_matches_our_schema(item: tuple[str, str, dict[str, Any]]) -> None:
    _, _, obj = item
    if (obj["apiVersion"], obj["kind"]) in SCHEMA_FILES:
        assert schema_file_for(obj) is not None
    assert [e.message for e in schema_errors(obj)] == []


def dict_paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    """Paths of every mapping in node whose keys are field names."""
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            if key not in FREE_MAPS:
                yield from dict_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from dict_paths(value, (*path, i))


def with_key(obj: dict[str, Any], path: tuple, key: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    node = out
    for part in path:
        node = node[part]
    node[key] = "x"
    return out


def schema_objects() -> list[tuple[str, str, dict[str, Any]]]:
    seen = set()
    out = []
    for cid, path, obj in all_objects():
        kind = (obj["apiVersion"], obj["kind"])
        if kind in SCHEMA_FILES and kind not in seen:
            seen.add(kind)
            out.append((cid, path, obj))
    return out


@pytest.mark.parametrize("item", schema_objects(), ids=object_id)
def test_misspelt_field_is_refused_at_every_emitted_level(item: tuple[str, str, dict[str, Any]]) -> None:
    _, _, obj = item
    paths = list(dict_paths(obj))
    assert len(paths) >= 4
    for path in paths:
        assert schema_errors(with_key(obj, path, "syncPolicyy")), f"a stray key at {path} was accepted"


@pytest.mark.parametrize("mutate, needle", [
    (lambda a: a["spec"]["syncPolicy"]["syncOptions"].append("SkipDryRunOnMissingResources=true"), "does not match"),
    (lambda a: a["spec"]["syncPolicy"]["automated"].update(prune="false"), "is not of type 'boolean'"),
    (lambda a: a["spec"].pop("destination"), "'destination' is a required property"),
    (lambda a: a["spec"]["destination"].update(name="in-cluster"), "is valid under each of"),
    (lambda a: a["metadata"].update(name="Katib_CPU"), "does not match"),
])
def test_application_schema_catches_common_mistakes(mutate: Any, needle: str) -> None:
    from katib_gitops.deploy import application

    app = application(RepoConfig(), "cpu")
    assert schema_errors(app) == []
    mutate(app)
    assert any(needle in e.message for e in schema_errors(app))


@pytest.mark.parametrize("mutate, needle", [
    (lambda k: k["spec"].update(interval="5 minutes"), "does not match"),
    (lambda k: k["spec"]["sourceRef"].update(kind="GitRepo"), "is not one of"),
    (lambda k: k["spec"]["healthCheckExprs"][0].pop("current"), "'current' is a required property"),
    (lambda k: k["spec"].pop("prune"), "'prune' is a required property"),
])
def test_flux_kustomization_schema_catches_common_mistakes(mutate: Any, needle: str) -> None:
    ks = flux_kustomization(RepoConfig(), "cpu")
    assert schema_errors(ks) == []
    mutate(ks)
    assert any(needle in e.message for e in schema_errors(ks))


def test_gitrepository_schema_refuses_scp_like_url() -> None:
    repo = git_repository(RepoConfig())
    repo["spec"]["url"] = "git@github.com:acme/ml.git"
    assert any("does not match" in e.message for e in schema_errors(repo))


# --------------------------------------------------------------------------- upstream CRDs


@needs_shared(CRDS)
@pytest.mark.parametrize("item", all_objects(), ids=object_id)
def test_object_matches_upstream_crd(item: tuple[str, str, dict[str, Any]]) -> None:
    _, _, obj = item
    crd_file = CRD_FILES.get((obj["apiVersion"], obj["kind"]))
    if crd_file is None:
        assert obj["kind"] in ("ConfigMap", "Kustomization") and obj["apiVersion"] in (
            "v1", "kustomize.config.k8s.io/v1beta1")
        return
    version = obj["apiVersion"].split("/")[1]
    errors = sorted(crd_validator(CRDS / crd_file, version).iter_errors(obj), key=lambda e: [str(p) for p in e.path])
    assert [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


@needs_shared(CRDS)
@pytest.mark.parametrize("item", all_objects(), ids=object_id)
def test_object_passes_upstream_cel_rules(item: tuple[str, str, dict[str, Any]]) -> None:
    celpy = pytest.importorskip("celpy", reason="cel-python not installed")
    _, _, obj = item
    crd_file = CRD_FILES.get((obj["apiVersion"], obj["kind"]))
    if crd_file is None:
        return
    for path, rule, message, value in iter_rules(crd_rules(CRDS / crd_file, obj["apiVersion"].split("/")[1]), obj):
        result = cel_program(rule).evaluate({"self": celpy.json_to_cel(value)})
        assert bool(result), f"{path}: {message}"


def committed_objects() -> list[tuple[str, dict[str, Any]]]:
    root = REPO_ROOT / "deploy"
    if not root.is_dir():
        return []
    return [(Path(f).relative_to(REPO_ROOT).as_posix(), d.data)
            for f in iter_yaml_files(str(root)) for d in load_file(f)]


@needs_shared(CRDS)
@pytest.mark.skipif(not committed_objects(), reason="no committed deploy/ in this checkout yet")
def test_committed_deploy_manifests_match_schemas_and_crds() -> None:
    checked = 0
    for rel, obj in committed_objects():
        kind = (obj.get("apiVersion"), obj.get("kind"))
        if kind not in CRD_FILES:
            continue
        checked += 1
        assert [e.message for e in schema_errors(obj)] == [], rel
        errors = crd_validator(CRDS / CRD_FILES[kind], kind[0].split("/")[1]).iter_errors(obj)
        assert [e.message for e in errors] == [], rel
    assert checked >= 3


@needs_shared(CRDS)
def test_upstream_cel_rule_is_applied() -> None:
    celpy = pytest.importorskip("celpy", reason="cel-python not installed")
    repo = git_repository(RepoConfig())
    repo["spec"]["serviceAccountName"] = "puller"
    rules = list(iter_rules(crd_rules(CRDS / CRD_FILES[("source.toolkit.fluxcd.io/v1", "GitRepository")], "v1"), repo))
    assert [path for path, *_ in rules] == ["spec"]
    (_, rule, _, value), = rules
    assert not bool(cel_program(rule).evaluate({"self": celpy.json_to_cel(value)}))
    assert any("provider" in e.message for e in schema_errors(repo))  # our schema says the same


@needs_shared(CRDS)
def test_strict_crd_schema_refuses_unknown_field() -> None:
    # The CRD converter must add strictness, or the check above proves little.
    schema = crd_schema(CRDS / CRD_FILES[("kustomize.toolkit.fluxcd.io/v1", "Kustomization")], "v1")
    ks = flux_kustomization(RepoConfig(), "cpu")
    ks["spec"]["healthCheckExpr"] = []
    assert any("healthCheckExpr" in e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(ks))


# --------------------------------------------------------------------------- what the manifests say


def test_one_application_syncs_the_whole_repository_by_default() -> None:
    cfg = RepoConfig()
    files = deploy_files(cfg, ["gpu", "cpu"])
    assert {p for p in files if p.startswith(("deploy/argocd/katib", "deploy/flux/katib"))} == {
        "deploy/argocd/katib.yaml", "deploy/flux/katib.yaml"}
    app = files["deploy/argocd/katib.yaml"]
    assert app["metadata"]["name"] == "katib"
    assert app["spec"]["source"]["path"] == "."  # the root kustomization.yaml: every overlay
    assert files["deploy/flux/katib.yaml"]["spec"]["path"] == "./"
    assert files["deploy/argocd/kustomization.yaml"]["resources"] == ["argocd-cm.yaml", "katib.yaml"]


def test_application_per_profile() -> None:
    cfg = replace(RepoConfig(), sync="profiles")
    files = deploy_files(cfg, ["gpu", "cpu"])
    app = files["deploy/argocd/katib-gpu.yaml"]
    assert app["metadata"] == {"name": "katib-gpu", "namespace": "argocd", "labels": {
        "app.kubernetes.io/managed-by": "katib-gitops", "katib-gitops/profile": "gpu"}}
    assert app["spec"]["source"] == {"repoURL": cfg.git.repo_url, "targetRevision": "main", "path": "overlays/gpu"}
    assert app["spec"]["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "kubeflow"}
    policy = app["spec"]["syncPolicy"]
    assert policy["automated"] == {"prune": False, "selfHeal": True}
    assert policy["syncOptions"] == ["SkipDryRunOnMissingResource=true"]


def test_prune_and_namespace_settings_reach_sync_policy() -> None:
    files = deploy_files(CONFIGS["prune"], PROFILES)
    policy = files["deploy/argocd/katib.yaml"]["spec"]["syncPolicy"]
    assert policy["automated"]["prune"] is True
    assert "PruneLast=true" in policy["syncOptions"]
    assert files["deploy/flux/katib.yaml"]["spec"]["prune"] is True
    ns = deploy_files(CONFIGS["namespace"], PROFILES)
    assert "CreateNamespace=true" in ns["deploy/argocd/katib.yaml"]["spec"]["syncPolicy"]["syncOptions"]
    assert ns["deploy/argocd/katib.yaml"]["spec"]["destination"]["namespace"] == "team-a"
    assert ns["deploy/flux/katib.yaml"]["spec"]["targetNamespace"] == "team-a"


def test_per_profile_sync_enables_every_overlay() -> None:
    # Each overlay holds its own Experiments under their own names, so all of them can sync at once.
    files = deploy_files(CONFIGS["per-profile"], PROFILES)
    assert files["deploy/argocd/kustomization.yaml"]["resources"] == [
        "argocd-cm.yaml", "katib-cpu.yaml", "katib-gpu.yaml", "katib-gpu-a100.yaml"]
    assert files["deploy/flux/kustomization.yaml"]["resources"] == [
        "gitrepository.yaml", "katib-cpu.yaml", "katib-gpu.yaml", "katib-gpu-a100.yaml"]


def test_applicationset_walks_overlays_with_a_git_directory_generator() -> None:
    cfg = CONFIGS["applicationset-prune-subdir"]
    files = deploy_files(cfg, PROFILES)
    assert not any(p.startswith("deploy/argocd/katib-") for p in files)
    appset = files["deploy/argocd/applicationset.yaml"]
    (gen,) = appset["spec"]["generators"]
    assert gen["git"]["repoURL"] == "git@github.com:acme/ml.git"
    assert gen["git"]["revision"] == "release-1"
    assert gen["git"]["directories"] == [{"path": "teams/vision/overlays/*"}]
    template = appset["spec"]["template"]
    assert template["metadata"]["name"] == "katib-{{.path.basename}}"
    assert template["spec"]["source"]["path"] == "{{.path.path}}"
    assert appset["spec"]["goTemplate"] is True
    assert appset["spec"]["syncPolicy"] == {"preserveResourcesOnDeletion": False}
    assert appset["metadata"]["namespace"] == "gitops"
    assert files["deploy/argocd/kustomization.yaml"]["resources"] == ["argocd-cm.yaml", "applicationset.yaml"]
    assert application_set(RepoConfig(), PROFILES)["spec"]["syncPolicy"] == {"preserveResourcesOnDeletion": True}


def test_flux_objects() -> None:
    cfg = CONFIGS["subdir-commit"]
    files = deploy_files(cfg, PROFILES)
    repo = files["deploy/flux/gitrepository.yaml"]
    assert repo["metadata"]["namespace"] == "flux"
    assert repo["spec"] == {"interval": "90s", "url": cfg.git.repo_url, "ref": {"commit": cfg.git.revision}}
    ks = files["deploy/flux/katib-gpu.yaml"]["spec"]
    assert ks["sourceRef"] == {"kind": "GitRepository", "name": repo["metadata"]["name"]}
    assert ks["path"] == "./katib/overlays/gpu"
    assert ks["wait"] is True and ks["prune"] is False
    assert ks["interval"] == "90s"


@pytest.mark.parametrize("revision, ref", [
    ("main", {"branch": "main"}),
    ("HEAD", {"name": "HEAD"}),
    ("refs/tags/v1.2.0", {"name": "refs/tags/v1.2.0"}),
    ("0123456789abcdef0123456789abcdef01234567", {"commit": "0123456789abcdef0123456789abcdef01234567"}),
])
def test_git_ref(revision: str, ref: dict[str, str]) -> None:
    assert git_ref(revision) == ref


@pytest.mark.parametrize("url, flux", [
    ("https://github.com/acme/ml.git", "https://github.com/acme/ml.git"),
    ("git@github.com:acme/ml.git", "ssh://git@github.com/acme/ml.git"),
    ("ssh://git@example.com:2222/ml.git", "ssh://git@example.com:2222/ml.git"),
])
def test_git_url(url: str, flux: str) -> None:
    assert git_url(url) == flux


def test_disabled_tools_emit_nothing() -> None:
    off = RepoConfig(argocd=ArgoSettings(enabled=False), flux=FluxSettings(enabled=False))
    assert deploy_files(off, PROFILES) == {}
    only_flux = deploy_files(RepoConfig(argocd=ArgoSettings(enabled=False)), PROFILES)
    assert all(p.startswith("deploy/flux/") for p in only_flux)


@pytest.mark.parametrize("cid", sorted(CONFIGS))
def test_output_is_deterministic_and_sorted(cid: str) -> None:
    first = deploy_files(CONFIGS[cid], PROFILES)
    again = deploy_files(CONFIGS[cid], list(reversed(PROFILES)))
    assert list(first) == sorted(first)
    assert {p: dump(d) for p, d in first.items()} == {p: dump(d) for p, d in again.items()}


@pytest.mark.parametrize("cid", ["defaults", "applicationset"])
def test_deploy_directories_build_with_real_kustomize(tmp_path: Path, cid: str) -> None:
    files = deploy_files(CONFIGS[cid], PROFILES)
    for rel, doc in files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump(doc))
    for tool in ("argocd", "flux"):
        built = list(yaml.safe_load_all(kustomize.build(tmp_path / "deploy" / tool)))
        listed = files[f"deploy/{tool}/kustomization.yaml"]["resources"]
        assert len(built) == len(listed)
        expected = [files[f"deploy/{tool}/{name}"] for name in listed]
        assert sorted(built, key=lambda o: (o["kind"], o["metadata"]["name"])) == sorted(
            expected, key=lambda o: (o["kind"], o["metadata"]["name"]))
