"""The validation pipeline: which layers run on which document, and where documents come from.

``validate_document`` runs every layer that applies to one parsed document and
returns all findings together (never stop-at-first). ``validate_paths`` reads
files, directories (a directory holding kustomization.yaml is built with real
kustomize first) and stdin. ``validate_repo`` covers a katib-gitops repository.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, Sequence

from ..io import jsondata, safefs
from ..io.findings import ERROR, WARNING, Finding, Report, UserError
from ..io.yamlio import MAX_BYTES, Document, decode, iter_yaml_files, load_documents, load_file
from . import apilimits, filekinds, hygiene, katib_rules, kubernetes, podwebhook, roundtrip, schema, wrapper
from ..build.builds import Builds, has_kustomization, start_builds, walk_inputs  # noqa: F401 (re-exported)
from ..build.builds import display_path as _display
from ..build.builds import overlay_dirs as _overlay_dirs
from ..build.kustomize import build as kustomize_build
from ..repo.paths import KUSTOMIZATION_FILES  # noqa: F401 (re-exported)

# podsecurity (only with --pod-security) and resources (kinds other than Experiment) are imported where
# used: a per-file run on one Experiment should not pay for them.

if TYPE_CHECKING:
    from ..build.render import RenderedExperiment, RenderResult
    from ..repo.repository import Repo

EXPERIMENT_API = "kubeflow.org/v1beta1"
INJECTION_LABEL = "katib.kubeflow.org/metrics-collector-injection"
STDIN = "-"
STDIN_NAME = "<stdin>"


@dataclass(frozen=True)
class ValidationOptions:
    # major.minor of the Kubernetes schemas to check against; None: the newest bundled.
    kubernetes_version: str | None = None
    # "no schema for KIND" becomes an error instead of a warning.
    strict: bool = False
    # Algorithm names a cluster's katib-config adds to the default list.
    extra_algorithms: tuple[str, ...] = ()
    extra_early_stopping: tuple[str, ...] = ()
    # Metrics collector kinds a cluster's katib-config adds to the default list (StdOut, File, TensorFlowEvent).
    extra_collectors: tuple[str, ...] = ()
    # katib-config injectSecurityContext: the injected collector sidecar copies the first container's
    # securityContext (pod/inject_webhook.go getMetricsCollectorContainer); without it the sidecar has none.
    inject_security_context: bool = False
    # None, "baseline" or "restricted": Pod Security Standard every pod template must meet.
    pod_security: str | None = None
    # live.LiveState: apply Katib's update rules to each Experiment the cluster already has (validate --live).
    live: Any = None


@dataclass
class ValidationReport(Report):
    documents: int = 0
    sources: list[str] = field(default_factory=list)
    # For the namespace-label rule: the labels of each Namespace manifest seen, and where the first
    # Experiment of each namespace is.
    namespace_labels: dict[str, Any] = field(default_factory=dict)
    experiment_namespaces: dict[str, tuple[Document, tuple[Any, ...]]] = field(default_factory=dict)
    # Facts the findings cannot carry (printed after the summary): namespaces that must carry the label.
    notes: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != ERROR]


DEFAULT_OPTIONS = ValidationOptions()


# ---------------------------------------------------------------------------
# one document


def validate_document(doc: Document, options: ValidationOptions | None = None) -> list[Finding]:
    """Every applicable layer over one document; findings sorted by position."""
    options = options or DEFAULT_OPTIONS
    version = kubernetes.resolve_version(options.kubernetes_version)
    data = doc.data
    if filekinds.is_json6902(data):
        return _tidy(filekinds.json6902_findings(doc))
    if filekinds.other_tool(data) is not None:
        return []  # a GitHub workflow (its `on:` key is a boolean to YAML 1.1): not a manifest, not ours
    if not isinstance(data, dict):
        what = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        return [doc.finding(f"a Kubernetes manifest must be a mapping, not {what}", (), rule="k8s-object")]
    not_json = jsondata.problems(doc)
    if not_json:
        return not_json  # the API server cannot even read it; the other layers assume string keys
    api, kind = data.get("apiVersion"), data.get("kind")
    if kind == "List" and isinstance(data.get("items"), list):
        return _tidy(_list_items(doc, data["items"], options))
    findings = apilimits.check_object(doc)  # labels, annotations, size: every kind the API server stores
    if kind == "Experiment" and api == EXPERIMENT_API:
        findings += _experiment(doc, options, version)
    elif kind == "Experiment" and isinstance(api, str) and "/" in api and api.split("/", 1)[0] == "kubeflow.org":
        findings += [doc.finding(f"{api} is not served by current Katib: use {EXPERIMENT_API}", ("apiVersion",),
                                 rule="api-version")]
    else:
        from . import resources

        findings += resources.check_resource(doc, version, options.strict)
        findings += _pod_checks(doc, (), data, options, version)
    return _tidy(findings)


def _experiment(doc: Document, options: ValidationOptions, version: str) -> list[Finding]:
    schema_errors = schema.check_experiment(doc)
    rules = katib_rules.check(doc, options.extra_algorithms, options.extra_early_stopping, options.extra_collectors)
    # Where Katib's rule and the schema flag the same field (an enum, say), Katib's message is the precise one.
    flagged = {f.path for f in rules}
    findings = [f for f in schema_errors if f.path not in flagged] + rules
    trial = kubernetes.trial_resource(doc.data)
    if trial is not None:
        findings += kubernetes.check_trial_template(doc, version, trial)
        findings += _pod_checks(doc, kubernetes.TRIAL_SPEC, trial, options, version, api_rules=False)
        raw = _dig(doc.data, *kubernetes.TRIAL_SPEC)
        if isinstance(raw, dict) and raw.get("apiVersion") == kubernetes.JOB_API and raw.get("kind") == "Job":
            findings += roundtrip.check_job_template(doc, kubernetes.TRIAL_SPEC, raw)
    findings += podwebhook.check(doc)
    findings += wrapper.check_wrapped_command(doc)
    if options.pod_security:
        from . import podsecurity

        findings += podsecurity.check_collector_sidecar(doc, options.pod_security, options.inject_security_context)
    if options.live is not None:
        findings += live_update_findings(doc, options.live)
    collector = _dig(doc.data, "spec", "metricsCollectorSpec", "collector", "customCollector")
    if isinstance(collector, dict):
        findings += hygiene.check_container(doc, ("spec", "metricsCollectorSpec", "collector", "customCollector"),
                                            collector)
    return findings


def rendered_findings(rendered: RenderedExperiment, options: ValidationOptions | None = None) -> list[Finding]:
    """Every layer over the Experiment a spec renders to, reported at the spec's lines."""
    from .spec_lines import at_spec_lines, experiment_document

    doc = experiment_document(rendered)
    # Live Experiments are compared with what Argo CD and Flux apply, each deployed overlay as kustomize builds
    # it (validate_repo), never with this base Experiment, which lacks the profile's patches.
    live = getattr(options, "live", None)
    findings = validate_document(doc, replace(options, live=None) if live is not None else options)
    return at_spec_lines(findings, rendered)


def probe_findings(probe: RenderedExperiment, options: ValidationOptions | None = None) -> list[Finding]:
    """Every layer over a spec's Experiment patched by a profile it adjusts but does not deploy under
    (``render.probe_spec``), reported at the spec's ``profiles.NAME`` line. The patches are applied as
    kustomize applies them (RFC 6902, jsonpatch): nothing deploys this Experiment, so no overlay builds it."""
    import jsonpatch

    from .spec_lines import at_profile_lines

    patched = jsonpatch.apply_patch(probe.experiment, [op for ops in probe.patches.values() for op in ops])
    options = replace(options or DEFAULT_OPTIONS, live=None)
    return at_profile_lines(validate_document(Document(patched, probe.base_file, 0, ""), options), probe, patched)


def live_update_findings(doc: Document, live: Any, immutable: bool = True) -> list[Finding]:
    """Katib's update rules (``updates``) for this Experiment against the live one of the same name."""
    from ..live.updates import refusals

    meta = doc.data.get("metadata") if isinstance(doc.data.get("metadata"), dict) else {}
    spec = doc.data.get("spec")
    if not isinstance(meta.get("name"), str) or not isinstance(spec, dict):
        return []
    namespace = meta.get("namespace")
    current = live.get(meta["name"], namespace if isinstance(namespace, str) and namespace else None)
    if current is None:
        return []
    return [doc.finding(r.message, r.path, rule=r.rule) for r in refusals(current, spec, immutable)]


def _pod_checks(doc: Document, prefix: tuple[Any, ...], resource: dict[str, Any], options: ValidationOptions, version: str,
                api_rules: bool = True) -> list[Finding]:
    """API-server rules (unless already run), pod security and hygiene for each pod template in resource."""
    out: list[Finding] = []
    for path, template, job in kubernetes.pod_templates(resource):
        where = (*prefix, *path)
        if api_rules:
            out += kubernetes.check_pod_spec(doc, where, template, job, version)
        if options.pod_security:
            from . import podsecurity

            out += podsecurity.check_pod_security(doc, where, template, options.pod_security)
        out += hygiene.check_pod(doc, where, template)
    return out


def _dig(data: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _tidy(findings: Iterable[Finding]) -> list[Finding]:
    unique = dict.fromkeys(findings)
    return sorted(unique, key=lambda f: (f.line, f.column, f.dotted, f.rule, f.message))


# ---------------------------------------------------------------------------
# inputs


class Provenance(Protocol):
    """Where generated documents come from, so findings in them point at the lines a person edits.

    ``render`` and ``check`` pass one (see ``katib_gitops.validation.provenance``); plain ``validate`` does not.
    """

    def covered(self, doc: Document) -> bool:
        """True when doc is exactly something already validated at its source (skip it)."""

    def relocate(self, doc: Document | None, label: str, findings: list[Finding]) -> list[Finding]:
        """The same findings, moved to the spec or settings line each comes from (doc None: a failed build)."""


def _list_items(doc: Document, items: list[Any], options: ValidationOptions) -> list[Finding]:
    """A `kind: List` (what `kubectl get -o yaml` prints): each item as the document kubectl would apply."""
    out: list[Finding] = []
    for i, item in enumerate(items):
        for f in validate_document(Document(item, doc.file, doc.index, doc.text), options):
            path = ("items", i, *f.path)
            line, column = doc.position(path)
            out.append(replace(f, path=path, line=line, column=column))
    out += _duplicates([(("items", i), item) for i, item in enumerate(items)], doc)
    return out


def _identity(data: Any) -> tuple[str, str, str, str] | None:
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        return None
    meta = data["metadata"]
    if not isinstance(meta.get("name"), str):
        return None
    return (str(data.get("apiVersion", "")).split("/")[0], str(data.get("kind")), str(meta.get("namespace") or ""),
            meta["name"])


def _duplicates(entries: Iterable[tuple[tuple[Any, ...], Any]], doc: Document) -> list[Finding]:
    """The second of two objects with one identity: applying the file keeps only the last one."""
    seen: dict[tuple[str, str, str, str], tuple[Any, ...]] = {}
    out = []
    for path, data in entries:
        key = _identity(data)
        if key is None:
            continue
        if key in seen:
            first = ".".join(map(str, seen[key])) or "an earlier document"
            out.append(doc.finding(f"{key[1]} {key[3]!r} is defined twice (also at {first}): applying this file "
                                   "keeps only the last one", (*path, "metadata", "name"), rule="duplicate-object"))
        else:
            seen[key] = path
    return out


def validate_documents(docs: Iterable[Document], options: ValidationOptions, report: ValidationReport,
                       provenance: Provenance | None = None) -> None:
    first: dict[tuple[str, tuple[str, str, str, str]], int] = {}
    docs = list(docs)
    for doc in docs:
        key = _identity(doc.data)
        if key is None:
            continue
        if (doc.file, key) in first:
            report.findings.append(doc.finding(
                f"{key[1]} {key[3]!r} is defined twice in this file (also document {first[doc.file, key] + 1}): "
                "applying the file keeps only the last one", ("metadata", "name"), rule="duplicate-object"))
        else:
            first[doc.file, key] = doc.index
    for doc in docs:
        report.documents += 1
        note_namespace(doc, report)
        if provenance is not None and provenance.covered(doc):
            continue
        found = validate_document(doc, options)
        report.extend(provenance.relocate(doc, doc.file, found) if provenance is not None and found else found)


def note_namespace(doc: Document, report: ValidationReport) -> None:
    data = doc.data if isinstance(doc.data, dict) else {}
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    name = meta.get("namespace")
    if data.get("kind") == "Namespace" and data.get("apiVersion") == "v1" and isinstance(meta.get("name"), str):
        report.namespace_labels[meta["name"]] = meta.get("labels")
    elif data.get("kind") == "Experiment" and data.get("apiVersion") == EXPERIMENT_API and isinstance(name, str):
        report.experiment_namespaces.setdefault(name, (doc, ("metadata", "namespace")))


def namespace_findings(report: ValidationReport) -> list[Finding]:
    """Katib's validating webhook (experiment/validation_webhook.go Handle) refuses an Experiment whose namespace
    lacks the label katib.kubeflow.org/metrics-collector-injection: enabled. Checked when the Namespace's manifest
    is among the validated files; otherwise a note in the report names the namespaces that must carry it."""
    out = []
    unseen = []
    for namespace, (doc, path) in sorted(report.experiment_namespaces.items()):
        labels = report.namespace_labels.get(namespace, False)
        if labels is False:
            unseen.append(namespace)
        elif not isinstance(labels, dict) or labels.get(INJECTION_LABEL) != "enabled":
            out.append(doc.finding(
                f"namespace {namespace} lacks the label {INJECTION_LABEL}: enabled in its manifest: Katib's webhook "
                "refuses every Experiment in it", path, rule="katib-namespace-label"))
    if unseen:
        report.notes.append(f"namespace(s) {', '.join(unseen)} must carry the label {INJECTION_LABEL}: enabled "
                            "(Katib's webhook refuses Experiments elsewhere; no Namespace manifest for them was checked)")
    return out


def _load(load: Callable[[], list[Any]], report: ValidationReport, provenance: Provenance | None = None,
          label: str = "") -> list[Any]:
    """Documents from load(); YAML errors and failed builds become findings (other inputs still get checked)."""
    try:
        return load()
    except UserError as exc:
        if exc.exit_code != 1:
            raise
        found = [exc.finding]
        report.extend(provenance.relocate(None, label, found) if provenance is not None else found)
        return []


def validate_file(path: Path, display: str, options: ValidationOptions, report: ValidationReport,
                  provenance: Provenance | None = None) -> None:
    """A manifest file, or an experiment spec (validated as `render` would, at the spec's lines)."""
    own = filekinds.own_file_findings(path, display)
    if own is not None:  # katib-gitops.yaml, the render record, results/: checked as the tool reads them
        report.documents += 1
        report.extend(own)
        return
    docs = _load(lambda: load_file(str(path), display), report, provenance, display)
    if len(docs) == 1 and filekinds.other_tool(docs[0].data, path) is not None:
        report.documents += 1
        return
    if len(docs) == 1 and is_spec(docs[0].data, path):
        report.documents += 1
        report.extend(spec_file_findings(path, display, options))
        return
    validate_documents(docs, options, report, provenance)


def is_spec(data: Any, path: Path) -> bool:
    """A mapping without apiVersion/kind that is a file under experiments/ or has a spec's shape."""
    if not isinstance(data, dict) or "apiVersion" in data or "kind" in data:
        return False
    return path.resolve().parent.name == "experiments" or ("name" in data and ("trial" in data or "objective" in data))


def spec_file_findings(path: Path, display: str, options: ValidationOptions) -> list[Finding]:
    """What `render` reports for this spec: its schema, then every layer over the Experiment it renders to."""
    from ..build.render import SpecErrors, load_specs, probe_spec, render_spec, unused_profile_warnings
    from ..repo.repository import load_repo

    repo = load_repo(path.resolve().parent)
    options = with_repo_config(options, repo.config)
    try:
        [(spec, doc)] = load_specs(repo, [path])
        findings: list[Finding] = unused_profile_warnings(repo, spec, doc)
        for r in render_spec(repo, spec, doc):
            findings += [f for f in rendered_findings(r, options) if f not in findings]  # once, not per profile
        for p in probe_spec(repo, spec, doc):
            findings += [f for f in probe_findings(p, options) if f not in findings]
    except SpecErrors as exc:
        findings = list(exc.findings)
    except UserError as exc:
        if exc.exit_code != 1:
            raise
        findings = [exc.finding]
    shown = repo.rel(path)
    return [replace(f, file=display) if f.file == shown else f for f in findings]


def validate_directory(directory: Path, options: ValidationOptions, report: ValidationReport,
                       root: Path | None = None, build: bool = True, builds: Builds | None = None,
                       checked: frozenset[str] = frozenset(), provenance: Provenance | None = None) -> None:
    """Validate every YAML file under directory (kustomization roots built first, unless build is False).

    builds: kustomize builds already started (see ``Builds``); checked: display names of files whose
    exact content was already validated elsewhere (counted, not validated again).
    """
    inputs = walk_inputs(directory) if build else (("file", p) for p in iter_yaml_files(directory))
    for what, path in inputs:
        name = _display(path, root)
        refused = safefs.refusal(path, root or directory, name)
        if refused is not None or what == "linked-dir":
            report.extend([refused or Finding("skipped: a symlinked directory (not followed)", file=name, line=0,
                                              column=0, severity=WARNING, rule="symlink")])
            continue
        if what == "kustomize":
            label = f"{name} (kustomize build)"
            report.sources.append(label)
            built = _load(lambda: [builds.get(path, label) if builds else kustomize_build(path, label)], report,
                          provenance, label)
            if built:
                validate_documents(_load(lambda: load_documents(built[0], label), report), options, report,
                                   provenance)
        elif name in checked:
            report.sources.append(name)
            report.documents += 1
        else:
            report.sources.append(name)
            validate_file(path, name, options, report, provenance)


def validate_paths(paths: Sequence[str], options: ValidationOptions | None = None) -> ValidationReport:
    """Validate files, directories and `-` (stdin); UserError (exit 2) for a path that cannot be read."""
    options = options or DEFAULT_OPTIONS
    kubernetes.resolve_version(options.kubernetes_version)  # a bad version is a usage error before any work
    report = ValidationReport()
    for raw in paths:
        if raw == STDIN:
            report.sources.append(STDIN_NAME)
            text = decode(sys.stdin.buffer.read(MAX_BYTES + 1), STDIN_NAME)  # endless input: refused at the limit
            validate_documents(_load(lambda: load_documents(text, STDIN_NAME), report), options, report)
            continue
        path = Path(raw)
        if path.is_dir():
            validate_directory(path, options, report)
        elif path.is_file():
            report.sources.append(raw)
            validate_file(path, raw, options, report)
        else:
            raise UserError(Finding("no such file or directory", file=raw, line=0, column=0, rule="io"), exit_code=2)
    report.extend(namespace_findings(report))
    return report


# ---------------------------------------------------------------------------
# a katib-gitops repository


def with_repo_config(options: ValidationOptions, config: Any) -> ValidationOptions:
    """options plus what the repository's katib-gitops.yaml says about the cluster's katib-config."""
    def merged(attr: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*getattr(config, attr, ()), *getattr(options, attr))))

    return replace(options, extra_algorithms=merged("extra_algorithms"),
                   extra_early_stopping=merged("extra_early_stopping"), extra_collectors=merged("extra_collectors"),
                   inject_security_context=options.inject_security_context
                   or bool(getattr(config, "inject_security_context", False)))


def validate_repo(repo: Repo, options: ValidationOptions | None = None, rendered: RenderResult | None = None,
                  builds: Builds | None = None, provenance: Provenance | None = None,
                  spec_findings: list[Finding] | None = None, in_sync: bool = False) -> ValidationReport:
    """specs in experiments/, base/ (as written, so lines match the files), every overlays/* built, deploy/.

    rendered: the repository's render, when the caller has it (``check``); builds: kustomize builds the
    caller started already. Both only save work: the findings are the same without them. provenance:
    moves findings in generated files (built overlays, deploy/) to the spec or settings lines they come from.
    spec_findings: the specs' findings, when the caller has them already (``repo_options`` gives the options).
    in_sync: the tree on disk is exactly what rendered says (render's staged tree; a check with no sync
    finding), so each overlay's build must hold exactly the Experiments rendered to it (``OverlayContents``).
    """
    from ..repo.repository import BASE_DIR, DEPLOY_DIR, OVERLAYS_DIR

    options = repo_options(repo, options)
    root = repo.root
    report = ValidationReport()
    builds = builds if builds is not None else start_builds(repo)
    try:
        report.sources.extend(repo.rel(p) for p in repo.spec_files())
        report.documents += len(repo.spec_files())
        rendering_here = rendered is None
        rendered = rendered if rendered is not None else _render_or_none(repo)
        if rendering_here and rendered is not None:
            # Callers that rendered (check, render's gate) print the render's own warnings; validate did not:
            # an adjustment of a profile a spec does not deploy under is known to the render alone.
            report.extend([f for f in rendered.warnings if f.rule == "profile-unused"])
        if provenance is None and rendered is not None and options.live is not None:
            # A sync Katib will refuse is reported at the spec line that makes it, as check and render do.
            from .provenance import RenderProvenance

            provenance = RenderProvenance(repo, rendered)
        spec_found = _spec_findings(repo, options, rendered) if spec_findings is None else spec_findings
        report.extend(spec_found)
        report.extend(safefs.tree_refusals(root, (BASE_DIR, OVERLAYS_DIR, DEPLOY_DIR)))
        # What each Experiment's spec already reported is not reported again per overlay built from it.
        seen = _reported_per_experiment(rendered, spec_found)
        base = root / BASE_DIR
        if base.is_dir():  # not what is deployed: never compared with the live Experiments
            validate_directory(base, replace(options, live=None), report, root, build=False,
                               checked=_in_sync(root, rendered))
        dirs = _overlay_dirs(root / OVERLAYS_DIR)
        deployed = _deployed(repo, dirs) if options.live is not None else set()
        # Each overlay is parsed and validated as soon as its build is done, whichever finishes first; what
        # is reported, and in what order, is then decided in overlay order, as if one after the other.
        expected = _expected_overlays(rendered, repo) if in_sync else {}
        built = {d: _built_overlay(d, root, builds, options, deployed, provenance, expected.get(d.name))
                 for d in builds.completed([d for d in dirs if has_kustomization(d)])}
        for d in dirs:
            if d in built:
                label, failed, checked = built[d]
                report.sources.append(label)
                report.extend(failed)
                for doc, found in checked:
                    report.documents += 1
                    note_namespace(doc, report)
                    found = _not_reported_yet(doc, found, seen)
                    report.extend(provenance.relocate(doc, label, found) if provenance and found else found)
            else:
                validate_directory(d, options, report, root, provenance=provenance)
        deploy = root / DEPLOY_DIR
        if deploy.is_dir():
            validate_directory(deploy, options, report, root, builds=builds, provenance=provenance)
    except BaseException:
        builds.cancel()  # an error here (or Ctrl-C) makes the outstanding builds moot: stop them at once
        raise
    builds.close()
    report.extend(namespace_findings(report))
    # Relocated findings repeat the spec's own (the same rule at the same spec line): keep each once.
    report.findings = list(dict.fromkeys(report.findings))
    return report


def _built_overlay(d: Path, root: Path, builds: Builds, options: ValidationOptions, deployed: set[str],
                   provenance: Provenance | None, expected: OverlayContents | None = None,
                   ) -> tuple[str, list[Finding], list[tuple[Document, list[Finding]]]]:
    """(label, findings of a failed build, unreadable or unexpected output, (document, its findings) for
    every built document). An Experiment exactly as rendered (``provenance.covered``) was validated at its
    spec already. expected: what the build must hold, when the render says (``OverlayContents``)."""
    label = f"{_display(d, root)} (kustomize build)"
    failed = ValidationReport()
    built = _load(lambda: [builds.get(d, label)], failed, provenance, label)
    # Live Experiments are compared with what is deployed, not with every overlay of the same name.
    here = options if _display(d, root) in deployed else replace(options, live=None)
    checked = []
    docs = _load(lambda: load_documents(built[0], label), failed) if built else []
    if built and expected is not None and not failed.findings:
        failed.extend(expected.check(docs, label))
        if failed.findings:
            return label, failed.findings, []  # not the overlay's objects: validating them says nothing more
    for doc in docs:
        if provenance is not None and provenance.covered(doc):  # validated at its spec: only the live rules
            checked.append((doc, live_update_findings(doc, here.live) if here.live is not None else []))
        else:
            checked.append((doc, validate_document(doc, here)))
    return label, failed.findings, checked


@dataclass(frozen=True)
class OverlayContents:
    """What an overlay's build must hold: exactly the Experiments render put in it (and the Namespace, when
    katib-gitops.yaml has createNamespace). kustomize is a tool like any other (a different binary on PATH,
    a custom component): empty output, a List, a stray ConfigMap or a missing Experiment is an error
    naming the overlay, not a pass."""

    experiments: frozenset[str]
    namespace: str | None = None

    def check(self, docs: list[Document], label: str) -> list[Finding]:
        """One finding naming the overlay, saying everything that is wrong with its build (or none)."""
        problems, seen = [], set()
        if not docs and self.experiments:
            problems.append("printed no objects")
        for doc in docs:
            data = doc.data
            if not isinstance(data, dict):
                what = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
                problems.append(f"printed {what} where an object belongs")
                continue
            kind, api = data.get("kind"), data.get("apiVersion")
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            name = meta.get("name")
            if kind == "Experiment" and api == EXPERIMENT_API and name in self.experiments:
                seen.add(name)
            elif kind == "Namespace" and api == "v1" and self.namespace is not None and name == self.namespace:
                pass
            elif kind == "Experiment" and api == EXPERIMENT_API:
                problems.append(f"holds an Experiment {name!r} that no spec renders to this overlay")
            else:
                what = kind if isinstance(kind, str) and kind else "document without a kind"
                problems.append(f"holds a {what}" + (f" {name!r}" if isinstance(name, str) else ""))
        missing = sorted(self.experiments - seen)
        if missing:
            problems.append(f"lacks the Experiment(s) {', '.join(missing)}")
        if not problems:
            return []
        expected = "exactly the Experiments rendered to it" + (" and its Namespace" if self.namespace else "")
        return [Finding(f"the build {'; '.join(dict.fromkeys(problems))} (an overlay's build holds {expected})",
                        file=label, line=0, column=0, rule="kustomize-output")]


def _expected_overlays(rendered: RenderResult | None, repo: Repo) -> dict[str, OverlayContents]:
    """Overlay directory name -> what its build must hold, for the overlays this render writes."""
    if rendered is None:
        return {}
    names: dict[str, set[str]] = {p: set() for p in rendered.profiles}
    for r in rendered.experiments:
        names.setdefault(r.profile, set()).add(r.name)
    namespace = repo.config.namespace if getattr(repo.config, "create_namespace", False) else None
    return {p: OverlayContents(frozenset(n), namespace) for p, n in names.items()}


def repo_options(repo: Repo, options: ValidationOptions | None = None) -> ValidationOptions:
    """options plus what the repository's katib-gitops.yaml says about the cluster (``with_repo_config``)."""
    options = with_repo_config(options or DEFAULT_OPTIONS, repo.config)
    kubernetes.resolve_version(options.kubernetes_version)
    return options


def spec_findings(repo: Repo, rendered: RenderResult, options: ValidationOptions | None = None) -> list[Finding]:
    """What the specs' Experiments break, at the specs' lines."""
    return _spec_findings(repo, repo_options(repo, options), rendered)


def _deployed(repo: Repo, dirs: list[Path]) -> set[str]:
    from ..repo.deployment import deployed_overlays, disk_reader

    return set(deployed_overlays(disk_reader(repo.root), [_display(d, repo.root) for d in dirs]))


FindingKey = tuple  # (field path, rule, message, severity): the same problem, wherever it was seen


def _key(f: Finding) -> FindingKey:
    return (f.path, f.rule, f.message, f.severity)


def _reported_per_experiment(rendered: RenderResult | None, spec_findings: list[Finding]) -> dict[str, set]:
    """Experiment name -> keys of the findings reported at its spec."""
    seen: dict[str, set] = {}
    if rendered is None:
        return seen
    by_file: dict[str, set] = {}
    for f in spec_findings:
        by_file.setdefault(f.file, set()).add(_key(f))
    for r in rendered.experiments:
        seen[r.name] = set(by_file.get(r.spec.path, ()))
    return seen


def _not_reported_yet(doc: Document, findings: list[Finding], seen: dict[str, set]) -> list[Finding]:
    """An overlay's findings about an Experiment, less those its spec or an earlier overlay reported."""
    data = doc.data if isinstance(doc.data, dict) else {}
    if data.get("kind") != "Experiment":
        return findings
    name = str((data.get("metadata") or {}).get("name"))
    keys = seen.setdefault(name, set())
    out = []
    for f in findings:
        if _key(f) not in keys:
            keys.add(_key(f))
            out.append(f)
    return out


def _render_or_none(repo: Repo) -> RenderResult | None:
    from ..build.render import render_repo

    try:
        return render_repo(repo)
    except UserError:  # spec findings are then collected spec by spec, every one of them
        return None


def _spec_findings(repo: Repo, options: ValidationOptions, rendered: RenderResult | None) -> list[Finding]:
    """Each spec's schema findings, then the findings of what it renders to, at the spec's lines."""
    from .spec_lines import repo_spec_findings

    if rendered is None:
        return repo_spec_findings(repo, lambda r: rendered_findings(r, options), lambda p: probe_findings(p, options))
    # A spec deployed under several profiles renders Experiments that differ only in name and profile label.
    return list(dict.fromkeys([*(f for r in rendered.experiments for f in rendered_findings(r, options)),
                               *(f for p in rendered.probes for f in probe_findings(p, options))]))


def _in_sync(root: Path, rendered: RenderResult | None) -> frozenset[str]:
    """base/ Experiments that are exactly what their spec renders to: validated already, at the spec's lines."""
    if rendered is None:
        return frozenset()
    same = set()
    for r in rendered.experiments:
        try:
            path = root / r.base_file
            if safefs.special_kind(path) is None and path.read_bytes() == rendered.files[r.base_file].encode():
                same.add(r.base_file)
        except OSError:
            continue
    return frozenset(same)
