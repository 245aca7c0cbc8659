"""Render: every spec in experiments/ -> base/, overlays/<profile>/, root kustomization, deploy/.

``render_repo`` builds the whole output in memory (a mapping of relative path
to file text); ``write_tree`` (in ``writer``) puts it on disk. ``check`` and
``plan`` reuse the in-memory result without writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import overlays
from .experiment import build_experiment
from .findings import Finding, UserError
from .naming import experiment_name, spec_hash
from .profiles import profile_for, spec_profiles
from .repo import BASE_DIR, CONFIG_FILE, EXPERIMENTS_DIR, GENERATED_MARK, OVERLAYS_DIR, Repo
from .spec import Spec, check_document, parse, spec_document
from .yamlio import Document, dump

KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


@dataclass
class RenderedExperiment:
    spec: Spec
    document: Document  # the spec file, for positions in errors
    experiment: dict[str, Any]
    # profile -> concern -> JSON 6902 operations (None: in that overlay, unpatched)
    patches: dict[str, dict[str, list[dict[str, Any]]] | None]

    @property
    def name(self) -> str:
        return self.experiment["metadata"]["name"]

    @property
    def base_file(self) -> str:
        return f"{BASE_DIR}/{self.spec.name}.yaml"


@dataclass
class RenderResult:
    experiments: list[RenderedExperiment]
    files: dict[str, str] = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def profiles(self) -> list[str]:
        return profile_names(self.experiments)


def header(source: str) -> str:
    return (f"# {GENERATED_MARK} from {source}.\n"
            f"# Do not edit: change {source} and run `katib-gitops render`.\n")


def load_specs(repo: Repo, paths: list[Path] | None = None) -> list[tuple[Spec, Document]]:
    """Every spec, checked; all findings across all specs raised together."""
    findings: list[Finding] = []
    loaded = []
    names: dict[str, str] = {}
    root = repo.root.resolve()
    for path in paths if paths is not None else repo.spec_files():
        display = repo.rel(path)
        try:
            Path(path).resolve().relative_to(root)
        except ValueError:
            # A symlinked experiments/ or spec pointing elsewhere: what Argo CD and Flux see in git is not it.
            findings.append(Finding(f"refusing to read a spec from outside the repository (resolves to "
                                    f"{Path(path).resolve()})", file=f"{EXPERIMENTS_DIR}/{Path(path).name}",
                                    line=0, column=0, rule="io"))
            continue
        try:
            doc = spec_document(path, display)
        except UserError as exc:
            findings.append(exc.finding)
            continue
        problems = check_document(doc)
        if problems:
            findings.extend(problems)
            continue
        spec = parse(doc, display)
        stem = Path(path).stem
        if spec.name != stem:
            findings.append(doc.finding(f"name {spec.name!r} must match the file name {stem!r}", ["name"], rule="spec"))
            continue
        if spec.name in names:
            findings.append(doc.finding(f"name {spec.name!r} is already used by {names[spec.name]}", ["name"], rule="spec"))
            continue
        names[spec.name] = display
        loaded.append((spec, doc))
    if findings:
        raise SpecErrors(findings)
    return loaded


class SpecErrors(UserError):
    """Several findings at once; the CLI prints each on its own line."""

    def __init__(self, findings: list[Finding]):
        super().__init__(findings[0])
        self.findings = findings


def experiment_annotations(repo: Repo, spec: Spec) -> dict[str, str]:
    from . import deploy

    prune = repo.config.prune if spec.prune is None else spec.prune
    fn = getattr(deploy, "experiment_annotations", None)
    return fn(repo.config, prune) if fn else {}


def render_experiment(repo: Repo, spec: Spec, doc: Document) -> RenderedExperiment:
    base = build_experiment(spec)
    if not spec.namespace:
        base["metadata"]["namespace"] = repo.config.namespace
        # keep metadata keys in reading order: name, namespace, labels, annotations
        base["metadata"] = {k: base["metadata"][k] for k in ("name", "namespace", *[
            k for k in base["metadata"] if k not in ("name", "namespace")])}
    patches: dict[str, dict[str, list[dict[str, Any]]] | None] = {}
    for pname, profile in spec_profiles(spec).items():
        patches[pname] = None if profile is None else _patches_or_error(spec, doc, base, profile)
    digest = spec_hash(base["spec"], patches)
    base["metadata"]["name"] = experiment_name(spec, digest, doc.finding)
    annotations = {**base["metadata"].get("annotations", {}), **experiment_annotations(repo, spec)}
    if annotations:
        base["metadata"]["annotations"] = annotations
    return RenderedExperiment(spec, doc, base, patches)


def _patches_or_error(spec: Spec, doc: Document, base: dict[str, Any], profile: Any) -> dict[str, Any]:
    try:
        return overlays.profile_patches(spec, base, profile)
    except UserError as exc:
        # Point at the spec's trial section rather than line 1.
        raise UserError(doc.finding(exc.finding.message, ["trial"], rule=exc.finding.rule)) from None


def profile_names(experiments: list[RenderedExperiment]) -> list[str]:
    names = {"cpu", "gpu"}
    for r in experiments:
        names.update(r.patches)
    return sorted(names)


def _patches_for(r: RenderedExperiment, profile: str) -> dict[str, list[dict[str, Any]]]:
    if profile in r.patches:
        return r.patches[profile] or {}
    settings = profile_for(r.spec, profile)
    if settings is None:
        return {}
    return overlays.profile_patches(r.spec, r.experiment, settings)


def render_repo(repo: Repo, specs: list[tuple[Spec, Document]] | None = None) -> RenderResult:
    loaded = load_specs(repo) if specs is None else specs
    rendered = [render_experiment(repo, spec, doc) for spec, doc in loaded]
    overridden = namespace_findings(repo, rendered)
    if overridden:
        raise SpecErrors(overridden)
    result = RenderResult(rendered)
    files = result.files
    all_specs = f"{EXPERIMENTS_DIR}/"
    for r in rendered:
        files[r.base_file] = header(r.spec.path) + dump(r.experiment)
    base_resources = sorted(f"{r.spec.name}.yaml" for r in rendered)
    if repo.config.create_namespace:
        files[f"{BASE_DIR}/namespace.yaml"] = header(CONFIG_FILE) + dump(namespace_manifest(repo))
        base_resources.insert(0, "namespace.yaml")
    files[f"{BASE_DIR}/kustomization.yaml"] = header(all_specs) + dump(
        {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": base_resources})
    dumped: dict[str, str] = {}  # most specs share their patches (same profile, same concern): dump each once
    for profile in result.profiles:
        patch_entries = []
        for r in sorted(rendered, key=lambda x: x.spec.name):
            for concern, ops in _patches_for(r, profile).items():
                rel = f"{r.spec.name}/{concern}.yaml"
                key = repr(ops)  # exact: tells 1, 1.0, "1" and True apart
                if key not in dumped:
                    dumped[key] = dump(ops)
                files[f"{OVERLAYS_DIR}/{profile}/{rel}"] = header(r.spec.path) + dumped[key]
                patch_entries.append({"path": rel, "target": {
                    "group": "kubeflow.org", "version": "v1beta1", "kind": "Experiment", "name": r.name}})
        kust: dict[str, Any] = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": ["../../base"]}
        if patch_entries:
            kust["patches"] = patch_entries
        files[f"{OVERLAYS_DIR}/{profile}/kustomization.yaml"] = header(all_specs) + dump(kust)
    default = repo.config.default_profile
    if default not in result.profiles:
        raise UserError(Finding(f"default profile {default!r} is not a profile of any spec (have: {', '.join(result.profiles)})",
                                path=("defaultProfile",), file=CONFIG_FILE, line=1, column=1, rule="config"))
    files["kustomization.yaml"] = header(all_specs) + dump(
        {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": [f"{OVERLAYS_DIR}/{default}"]})
    files.update(deploy_files(repo, result.profiles))
    result.warnings.extend(security_warnings(rendered))
    return result


def namespace_findings(repo: Repo, rendered: list[RenderedExperiment]) -> list[Finding]:
    """A spec namespace Flux would silently override.

    Flux's Kustomization sets targetNamespace (the repository's namespace) on every object it applies,
    overriding metadata.namespace, so the Experiment would not land where the spec says. Argo CD's
    destination.namespace only fills in objects without a namespace, so under Argo CD the spec's own
    namespace would win: the two tools would deploy the same repository differently.
    """
    if not repo.config.flux.enabled:
        return []
    out = []
    for r in rendered:
        if r.spec.namespace and r.spec.namespace != repo.config.namespace:
            out.append(r.document.finding(
                f"namespace {r.spec.namespace!r} differs from the repository's {repo.config.namespace!r}, which "
                f"deploy/flux sets as targetNamespace: Flux would apply the Experiment in "
                f"{repo.config.namespace!r} (targetNamespace overrides metadata.namespace) while Argo CD keeps "
                f"{r.spec.namespace!r}; set namespace: in {CONFIG_FILE} instead, or disable flux there",
                ["namespace"], rule="namespace"))
    return out


def namespace_manifest(repo: Repo) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": repo.config.namespace,
        "labels": {"katib.kubeflow.org/metrics-collector-injection": "enabled"}}}


def deploy_files(repo: Repo, profiles: list[str]) -> dict[str, str]:
    from . import deploy

    out = {}
    fn = getattr(deploy, "deploy_files", None)
    for rel, docs in (fn(repo.config, profiles) if fn else {}).items():
        body = dump_docs(docs)
        out[rel] = header(CONFIG_FILE) + deploy.requirement_note(rel) + body
    return out


def dump_docs(docs: Any) -> str:
    from .yamlio import dump_all

    if isinstance(docs, list) and docs and all(isinstance(d, dict) and "kind" in d for d in docs):
        return dump_all(docs)
    return dump(docs)


def security_warnings(rendered: list[RenderedExperiment]) -> list[Finding]:
    out = []
    for r in rendered:
        sec = r.spec.trial.security
        if r.spec.trial.is_short_form and (sec is None or sec.opted_out()):
            fields = "all" if sec is None else ", ".join(sec.opted_out())
            out.append(r.document.finding(
                f"trial pods opt out of the Pod Security 'restricted' profile ({fields}); a hardened cluster may refuse them",
                ["trial", "security"], severity="warning", rule="pod-security"))
    return out


@dataclass(frozen=True)
class RunInputs:
    """What the local runner needs: the Experiment as one overlay deploys it."""

    experiment: dict[str, Any]
    env: dict[str, str]  # literal env of the primary container (valueFrom cannot be resolved locally)
    gpus_per_trial: int


def load_for_run(spec_path: str | Path, profile: str | None = None) -> RunInputs:
    """Render the repository holding spec_path and build PROFILE's overlay with real kustomize.

    The whole tree is rendered (as `render` would) into a scratch directory, so
    the runner sees exactly the Experiment Argo CD or Flux would apply.
    """
    import tempfile

    import yaml

    from . import kustomize
    from .repo import load_repo
    from .writer import write_tree

    spec_path = Path(spec_path)
    repo = load_repo(spec_path.resolve().parent)
    loaded = load_specs(repo)
    wanted = next(((s, d) for s, d in loaded if Path(repo.root / s.path).resolve() == spec_path.resolve()), None)
    if wanted is None:
        raise UserError(Finding(f"not a spec of the repository at {repo.root} (specs live in experiments/)",
                                file=str(spec_path), line=0, column=0, rule="io"), exit_code=2)
    result = render_repo(repo, loaded)
    profile = profile or repo.config.default_profile
    if profile not in result.profiles:
        raise UserError(Finding(f"no profile {profile!r} (have: {', '.join(result.profiles)})",
                                file=str(spec_path), line=0, column=0, rule="profile"), exit_code=2)
    rendered = next(r for r in result.experiments if r.spec is wanted[0])
    with tempfile.TemporaryDirectory(prefix="katib-gitops-run-") as tmp:
        scratch = Repo(Path(tmp), repo.config)
        write_tree(scratch, result.files)
        docs = yaml.safe_load_all(kustomize.build(Path(tmp) / OVERLAYS_DIR / profile, f"{OVERLAYS_DIR}/{profile}"))
        experiment = next(d for d in docs if d and d.get("kind") == "Experiment"
                          and d["metadata"]["name"] == rendered.name)
    settings = profile_for(rendered.spec, profile)
    return RunInputs(experiment, _literal_env(experiment), settings.gpus if settings else 0)


def _literal_env(experiment: dict[str, Any]) -> dict[str, str]:
    tt = experiment["spec"]["trialTemplate"]
    pod = ((tt.get("trialSpec") or {}).get("spec") or {}).get("template", {}).get("spec", {})
    for c in pod.get("containers") or []:
        if c.get("name") == tt.get("primaryContainerName"):
            return {e["name"]: str(e["value"]) for e in c.get("env") or [] if "value" in e}
    return {}
