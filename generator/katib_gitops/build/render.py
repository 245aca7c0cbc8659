"""Render: every spec in experiments/ -> base/, overlays/<profile>/, root kustomization, deploy/.

``render_repo`` builds the whole output in memory (a mapping of relative path
to file text); ``write_tree`` (in ``writer``) puts it on disk. ``check`` and
``plan`` reuse the in-memory result without writing.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..spec.experiment import build_experiment
from ..io.findings import Finding, UserError
from ..spec.naming import experiment_name, spec_hash
from ..profiles import layout
from ..profiles.layout import PROFILE_LABEL
from ..profiles.model import Profile, ProfileError, conflicts, for_experiment
from ..profiles.patches import ProfileConflict, profile_patches
from ..repo.record import RECORD_FILE, record_text
from ..repo.repository import BASE_DIR, CONFIG_FILE, EXPERIMENTS_DIR, GENERATED_MARK, OVERLAYS_DIR, Repo
from ..spec.model import Spec, check_document, parse, spec_document, spec_warnings
from ..io.yamlio import Document, dump

KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


@dataclass
class RenderedExperiment:
    """One Experiment: a spec deployed under one of its profiles."""

    spec: Spec
    document: Document  # the spec file, for positions in errors
    profile: str
    experiment: dict[str, Any]  # as base/<profile>/<spec>.yaml holds it (named, unpatched)
    patches: dict[str, list[dict[str, Any]]]  # concern -> JSON 6902 operations the overlay adds
    settings: Profile | None = None

    @property
    def name(self) -> str:
        return self.experiment["metadata"]["name"]

    @property
    def base_file(self) -> str:
        return f"{BASE_DIR}/{self.profile}/{self.spec.name}.yaml"

    @property
    def key(self) -> tuple[str, str]:
        return (self.spec.name, self.profile)


@dataclass
class RenderResult:
    experiments: list[RenderedExperiment]
    files: dict[str, str] = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)  # the overlays written, sorted
    # Specs' adjustments of profiles they do not deploy under, rendered to be checked (``probe_spec``).
    probes: list[RenderedExperiment] = field(default_factory=list)


def header(source: str) -> str:
    return (f"# {GENERATED_MARK} from {source}.\n"
            f"# Do not edit: change {source} and run `katib-gitops render`.\n")


def load_specs(repo: Repo, paths: list[Path] | None = None) -> list[tuple[Spec, Document]]:
    """Every spec, checked; all findings across all specs raised together."""
    findings: list[Finding] = []
    loaded = []
    names: dict[str, str] = {}
    unreadable = False  # a spec that cannot be read at all: exit status 2, as for any unreadable input
    root = repo.root.resolve()
    if paths is None and not repo.experiments_dir.is_dir():
        # Rendering "no specs" would remove every generated Experiment: only an empty experiments/ may mean that.
        what = "is not a directory" if repo.experiments_dir.exists() else "does not exist"
        if not repo.experiments_dir.exists() and not (repo.root / CONFIG_FILE).exists():
            # Nothing here or above is a katib-gitops repository: most often a hook run at a monorepo's top.
            message = (f"no katib-gitops repository here or above (no {CONFIG_FILE}, no {EXPERIMENTS_DIR}/): run "
                       "in its folder, or with -C FOLDER (`katib-gitops init` makes one)")
        else:
            message = (f"{EXPERIMENTS_DIR}/ {what}: render would remove every Experiment (create it; an empty "
                       "experiments/ renders none)")
        raise SpecErrors([Finding(message, file=EXPERIMENTS_DIR, line=0, column=0, rule="io")])
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
            unreadable = unreadable or exc.exit_code == 2
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
        raise SpecErrors(findings, 2 if unreadable else 1)
    return loaded


class SpecErrors(UserError):
    """Several findings at once; the CLI prints each on its own line."""

    def __init__(self, findings: list[Finding], exit_code: int = 1):
        super().__init__(findings[0], exit_code)
        self.findings = findings


def experiment_annotations(repo: Repo, spec: Spec) -> dict[str, str]:
    from .. import deploy

    prune = repo.config.prune if spec.prune is None else spec.prune
    fn = getattr(deploy, "experiment_annotations", None)
    return fn(repo.config, prune) if fn else {}


def chosen_profiles(repo: Repo, spec: Spec) -> tuple[str, ...]:
    return spec.profile if spec.profile is not None else (repo.config.default_profile,)


def _base_experiment(repo: Repo, spec: Spec) -> dict[str, Any]:
    base = build_experiment(spec)
    if not spec.namespace:
        base["metadata"]["namespace"] = repo.config.namespace
        # keep metadata keys in reading order: name, namespace, labels, annotations
        base["metadata"] = {k: base["metadata"][k] for k in ("name", "namespace", *[
            k for k in base["metadata"] if k not in ("name", "namespace")])}
    return base


def _settings(repo: Repo, doc: Document, pname: str, overrides: dict[str, Any], where: list[Any]) -> Profile:
    """The profile pname as this spec gets it; its own contradictions are errors at the spec line."""
    try:
        settings = for_experiment(repo.config.profiles, pname, overrides)
    except ProfileError as exc:
        raise UserError(doc.finding(exc.message, ["profiles", *exc.path], rule="profile")) from None
    if settings is None:
        known = sorted({*repo.config.profiles, *overrides})
        hint = difflib.get_close_matches(pname, known, n=1)
        raise UserError(doc.finding(
            f"no profile {pname!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
            + f" (katib-gitops.yaml has: {', '.join(sorted(repo.config.profiles))})", where, rule="profile"))
    for path, message in conflicts(settings):
        in_spec = pname in overrides and path[0] in (overrides[pname] or {})
        raise UserError(doc.finding(message, ["profiles", pname, *path] if in_spec else where, rule="profile"))
    return settings


def render_spec(repo: Repo, spec: Spec, doc: Document) -> list[RenderedExperiment]:
    """One Experiment per profile the spec deploys under, each named after its own base and overlay patches."""
    base = _base_experiment(repo, spec)
    annotations = {**base["metadata"].get("annotations", {}), **experiment_annotations(repo, spec)}
    overrides = dict(spec.profiles)
    chosen = chosen_profiles(repo, spec)
    if len(chosen) > 1 and not spec.hash_name:
        raise UserError(doc.finding("hashName: false gives every profile's Experiment the same name; deploy under "
                                    "one profile, or keep the hash", ["hashName"], rule="profile"))
    out = []
    for i, pname in enumerate(chosen):
        where = ["profile", i] if isinstance(doc.data.get("profile"), list) else ["profile"]
        if spec.profile is None:
            where = ["name"]
        settings = _settings(repo, doc, pname, overrides, where)
        experiment = base if i == len(chosen) - 1 else copy.deepcopy(base)
        experiment["metadata"]["labels"] = {**experiment["metadata"]["labels"], PROFILE_LABEL: pname}
        patches = _patches_or_error(spec, doc, experiment, settings, where)
        digest = spec_hash(experiment["spec"], {"profile": pname, "patches": patches})
        experiment["metadata"]["name"] = experiment_name(spec, digest, doc.finding)
        if annotations:
            experiment["metadata"]["annotations"] = dict(annotations)
        _refuse_oversized(doc, experiment)
        out.append(RenderedExperiment(spec, doc, pname, experiment, patches, settings))
    return out


def _refuse_oversized(doc: Document, experiment: dict[str, Any]) -> None:
    """A large spec whose Experiment is over the API server's size limit stops here, before validation
    (which would take seconds on 10,000 parameters to say less); validation checks every object exactly."""
    from ..spec.limits import OBJECT_LIMIT, SPEC_TEXT_CHECKED, object_size, size_message

    if len(doc.text) <= SPEC_TEXT_CHECKED:
        return
    size = object_size(experiment)
    if size > OBJECT_LIMIT:
        where = ["parameters"] if "parameters" in doc.data else []
        raise UserError(doc.finding(size_message(size, f"the Experiment this spec renders to ({experiment['metadata']['name']})")
                                    + "; split the search space", where, rule="k8s-limits"))


def unused_profiles(repo: Repo, spec: Spec) -> list[str]:
    """The profiles the spec's ``profiles:`` adjusts (or defines) that it does not deploy under."""
    chosen = chosen_profiles(repo, spec)
    return [name for name, _ in spec.profiles if name not in chosen]


def probe_spec(repo: Repo, spec: Spec, doc: Document) -> list[RenderedExperiment]:
    """The Experiment the spec would deploy under each profile it adjusts but does not deploy under.

    Nothing deploys these; they exist so that such an adjustment is checked like any other (its own
    contradictions and conflicts with the trial here, at the spec's ``profiles.NAME`` line; the patched
    Experiment by the validation layers) instead of being silently dropped. ``render_repo`` also warns.
    """
    out = []
    overrides = dict(spec.profiles)
    for pname in unused_profiles(repo, spec):
        where = ["profiles", pname]
        settings = _settings(repo, doc, pname, overrides, where)
        experiment = _base_experiment(repo, spec)
        experiment["metadata"]["labels"] = {**experiment["metadata"]["labels"], PROFILE_LABEL: pname}
        patches = _patches_or_error(spec, doc, experiment, settings, where)
        out.append(RenderedExperiment(spec, doc, pname, experiment, patches, settings))
    return out


def unused_profile_warnings(repo: Repo, spec: Spec, doc: Document) -> list[Finding]:
    chosen = chosen_profiles(repo, spec)
    if spec.profile is None:
        how = f"it has no profile:, so it deploys under the repository's defaultProfile {chosen[0]!r}"
    else:
        how = f"its profile: is {', '.join(chosen)}"
    return [doc.finding(f"adjusts the profile {name!r}, which this spec does not deploy under ({how}): the "
                        f"adjustment is checked but changes nothing; add {name!r} to profile: or remove it",
                        ["profiles", name], severity="warning", rule="profile-unused")
            for name in unused_profiles(repo, spec)]


def _patches_or_error(spec: Spec, doc: Document, base: dict[str, Any], profile: Profile,
                      where: list[Any]) -> dict[str, Any]:
    try:
        return profile_patches(base, profile)
    except ProfileConflict as exc:
        raise UserError(doc.finding(exc.message, _trial_path(spec, doc, exc.trial_field, where),
                                    rule="profile")) from None


def _trial_path(spec: Spec, doc: Document, trial_field: tuple[Any, ...], fallback: list[Any]) -> list[Any]:
    """The spec line of the trial setting a profile conflicts with (the profile choice when there is none)."""
    trial = doc.data.get("trial") or {}
    if spec.trial.template is not None:
        return ["trial", "template"]
    if not trial_field or trial_field[0] not in trial:
        return ["trial"] if trial_field and spec.trial.config_map is None and trial_field[0] != "template" \
            else fallback
    path: list[Any] = ["trial", trial_field[0]]
    node = trial[trial_field[0]]
    for part in trial_field[1:]:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        else:
            break
    return path


def render_repo(repo: Repo, specs: list[tuple[Spec, Document]] | None = None) -> RenderResult:
    loaded = load_specs(repo) if specs is None else specs
    rendered = [r for spec, doc in loaded for r in render_spec(repo, spec, doc)]
    probes = [p for spec, doc in loaded for p in probe_spec(repo, spec, doc)]
    overridden = namespace_findings(repo, rendered)
    if overridden:
        raise SpecErrors(overridden)
    _unique_names(rendered)
    result = RenderResult(rendered, probes=probes)
    result.warnings.extend(_special_specs(repo))
    for spec, doc in loaded:
        result.warnings.extend(unused_profile_warnings(repo, spec, doc))
    for r in rendered:
        result.warnings.extend(spec_warnings(r.document))
    if not rendered:
        result.warnings.append(Finding("no specs in experiments/: the repository renders no Experiment",
                                       file=EXPERIMENTS_DIR, line=0, column=0, severity="warning", rule="spec"))
    files = result.files
    all_specs = f"{EXPERIMENTS_DIR}/"
    by_profile: dict[str, list[RenderedExperiment]] = {repo.config.default_profile: []}
    base_texts = {}
    for r in rendered:
        files[r.base_file] = base_texts[r.base_file] = header(r.spec.path) + dump(r.experiment)
        by_profile.setdefault(r.profile, []).append(r)
    result.profiles = sorted(by_profile)
    files[f"{BASE_DIR}/kustomization.yaml"] = header(all_specs) + dump(
        {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": list(result.profiles)})
    default = repo.config.default_profile
    overlay_header = header(f"{CONFIG_FILE} and {all_specs}")
    for profile in result.profiles:
        members = sorted(by_profile[profile], key=lambda x: x.spec.name)
        files[f"{BASE_DIR}/{profile}/kustomization.yaml"] = header(all_specs) + dump(
            {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
             "resources": [f"{r.spec.name}.yaml" for r in members]})
        groups = layout.group(layout.Member(r.spec.name, _trial_kind(r), r.patches) for r in members)
        for g in groups:
            files[f"{OVERLAYS_DIR}/{profile}/{g.file}"] = overlay_header + layout.patch_text(profile, g, dump)
        custom = repo.root / OVERLAYS_DIR / profile / layout.CUSTOM_DIR
        has_custom = not custom.is_symlink() and (custom / "kustomization.yaml").is_file()
        kust = layout.overlay_kustomization(profile, groups, has_custom)
        if repo.config.create_namespace and profile == default:
            # In one overlay only, so that overlays synced apart never fight over the Namespace.
            files[f"{OVERLAYS_DIR}/{profile}/namespace.yaml"] = header(CONFIG_FILE) + dump(namespace_manifest(repo))
            kust["resources"].insert(0, "namespace.yaml")
        files[f"{OVERLAYS_DIR}/{profile}/kustomization.yaml"] = overlay_header + dump(kust)
    # The root deploys every overlay: each Experiment is in exactly one of them, under its own name.
    files["kustomization.yaml"] = header(all_specs) + dump(
        {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
         "resources": [f"{OVERLAYS_DIR}/{p}" for p in result.profiles]})
    files.update(deploy_files(repo, result.profiles))
    _no_collisions(rendered, files, base_texts)
    files[RECORD_FILE] = record_text(files, header(all_specs))  # last: it lists every other file
    result.warnings.extend(security_warnings(rendered))
    # A spec deployed under several profiles is rendered once per profile: say each thing about it once.
    result.warnings = list(dict.fromkeys(result.warnings))
    return result


def _special_specs(repo: Repo) -> list[Finding]:
    """FIFOs, sockets and devices named like specs: never opened (a FIFO would block), but said so."""
    from ..io.safefs import special_kind

    d = repo.experiments_dir
    out = []
    for p in sorted(d.iterdir()) if d.is_dir() else ():
        kind = special_kind(p) if p.suffix in (".yaml", ".yml") else None
        if kind is not None:
            out.append(Finding(f"skipped: {kind}, not a regular file (never opened: it could block)",
                               file=repo.rel(p), line=0, column=0, severity="warning", rule="special-file"))
    return out


def _no_collisions(rendered: list[RenderedExperiment], files: dict[str, str], base_texts: dict[str, str]) -> None:
    """A spec's Experiment file that another generated file replaced (a spec named `kustomization`, say)."""
    findings = [r.document.finding(f"name {r.spec.name!r} is taken: {r.base_file} is also a file render generates "
                                   "for the whole repository; choose another name", ["name"], rule="spec")
                for r in rendered if files.get(r.base_file) is not base_texts[r.base_file]]
    if findings:
        raise SpecErrors(list(dict.fromkeys(findings)))


def _unique_names(rendered: list[RenderedExperiment]) -> None:
    """Two specs may not render the same Experiment (hashName: false and a name equal to a hashed one)."""
    seen: dict[tuple[str, str], RenderedExperiment] = {}
    findings = []
    for r in rendered:
        key = (r.experiment["metadata"].get("namespace", ""), r.name)
        if key in seen:
            findings.append(r.document.finding(
                f"renders the Experiment {r.name!r}, as {seen[key].spec.path} does: two specs would write one "
                "Experiment (change a name, or hashName)", ["name"], rule="spec"))
        else:
            seen[key] = r
    if findings:
        raise SpecErrors(findings)


def _trial_kind(r: RenderedExperiment) -> str:
    return str(((r.experiment["spec"]["trialTemplate"].get("trialSpec") or {}).get("kind")) or "trial")


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
    for r in {id(r.spec): r for r in rendered}.values():  # once per spec, whatever its number of profiles
        if r.spec.namespace and r.spec.namespace != repo.config.namespace:
            out.append(r.document.finding(
                f"namespace {r.spec.namespace!r} differs from the repository's {repo.config.namespace!r}, which "
                f"deploy/flux sets as targetNamespace: Flux would apply the Experiment in "
                f"{repo.config.namespace!r} (targetNamespace overrides metadata.namespace) while Argo CD keeps "
                f"{r.spec.namespace!r}; set namespace: in {CONFIG_FILE} instead, or disable flux there",
                ["namespace"], rule="namespace"))
    return out


def namespace_manifest(repo: Repo) -> dict[str, Any]:
    from ..deploy import namespace_annotations  # never pruned or deleted by Argo CD or Flux: it holds Katib too

    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": repo.config.namespace,
        "labels": {"katib.kubeflow.org/metrics-collector-injection": "enabled"},
        "annotations": namespace_annotations()}}


def deploy_files(repo: Repo, profiles: list[str]) -> dict[str, str]:
    from .. import deploy

    out = {}
    fn = getattr(deploy, "deploy_files", None)
    for rel, docs in (fn(repo.config, profiles) if fn else {}).items():
        body = dump_docs(docs)
        out[rel] = header(CONFIG_FILE) + deploy.requirement_note(rel) + body
    return out


def dump_docs(docs: Any) -> str:
    from ..io.yamlio import dump_all

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
    import shutil
    import tempfile

    import yaml

    from . import kustomize
    from ..repo.repository import load_repo
    from ..repo.writer import write_tree

    spec_path = Path(spec_path)
    repo = load_repo(spec_path.resolve().parent)
    loaded = load_specs(repo)
    wanted = next(((s, d) for s, d in loaded if Path(repo.root / s.path).resolve() == spec_path.resolve()), None)
    if wanted is None:
        raise UserError(Finding(f"not a spec of the repository at {repo.root} (specs live in experiments/)",
                                file=str(spec_path), line=0, column=0, rule="io"), exit_code=2)
    result = render_repo(repo, loaded)
    spec = wanted[0]
    deployed = chosen_profiles(repo, spec)
    if profile is None:
        profile = repo.config.default_profile if repo.config.default_profile in deployed else deployed[0]
    if profile not in deployed:
        raise UserError(Finding(f"{spec.name} is not deployed under profile {profile!r}; it deploys under "
                                f"{', '.join(deployed)} (add {profile!r} to its `profile:` to run it there)",
                                file=str(spec_path), line=0, column=0, rule="profile"), exit_code=2)
    rendered = next(r for r in result.experiments if r.spec is spec and r.profile == profile)
    with tempfile.TemporaryDirectory(prefix="katib-gitops-run-") as tmp:
        scratch = Repo(Path(tmp), repo.config)
        write_tree(scratch, result.files)
        custom = repo.root / OVERLAYS_DIR / profile / layout.CUSTOM_DIR
        if custom.is_dir() and not custom.is_symlink():
            # The team's own component is part of what the overlay deploys.
            shutil.copytree(custom, Path(tmp) / OVERLAYS_DIR / profile / layout.CUSTOM_DIR, symlinks=True)
        docs = yaml.safe_load_all(kustomize.build(Path(tmp) / OVERLAYS_DIR / profile, f"{OVERLAYS_DIR}/{profile}",
                                                  root=Path(tmp)))
        experiment = next(d for d in docs if d and d.get("kind") == "Experiment"
                          and d["metadata"]["name"] == rendered.name)
    settings = rendered.settings
    gpus = settings.gpus if settings is not None and not settings.disabled else 0
    return RunInputs(experiment, _literal_env(experiment), gpus)


def _literal_env(experiment: dict[str, Any]) -> dict[str, str]:
    tt = experiment["spec"]["trialTemplate"]
    pod = ((tt.get("trialSpec") or {}).get("spec") or {}).get("template", {}).get("spec", {})
    for c in pod.get("containers") or []:
        if c.get("name") == tt.get("primaryContainerName"):
            return {e["name"]: str(e["value"]) for e in c.get("env") or [] if "value" in e}
    return {}
