"""Report what a spec renders to at the spec's own lines.

A PR author edits experiments/NAME.yaml, not base/. When the Experiment a spec
renders to breaks a Katib or Kubernetes rule, the finding keeps Katib's field
path (spec.maxTrialCount) but points at the line of the spec that produced it
(trials.max).

This module only maps findings; the validation engine
(``engine.rendered_findings``) produces them and calls in here, so
imports run one way (validation.engine -> validation.spec_lines -> build.render).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

from ..io.findings import Finding, PathPart, UserError, value_at
from ..build.render import RenderedExperiment, SpecErrors, load_specs, probe_spec, render_spec
from ..repo.repository import Repo
from ..spec.model import Spec
from ..io.yamlio import Document

# Experiment spec field -> spec path (the rest of the path is dropped unless noted below).
_TOP = {
    "maxTrialCount": ("trials", "max"),
    "parallelTrialCount": ("trials", "parallel"),
    "maxFailedTrialCount": ("trials", "maxFailed"),
    "resumePolicy": ("resumePolicy",),
    "objective": ("objective",),
    "algorithm": ("algorithm",),
    "earlyStopping": ("earlyStopping",),
    "metricsCollectorSpec": ("metricsCollector",),
    "nasConfig": ("nasConfig",),
    "trialTemplate": ("trial",),
}


def spec_path_for(path: Sequence[PathPart], spec: Spec) -> tuple[PathPart, ...]:
    """Where in the spec file the Experiment field at path comes from."""
    if not path:
        return ()
    if path[0] == "metadata":
        if path[1:2] in (("labels",), ("annotations",)):
            return tuple(path[1:3])  # the spec's labels: / annotations: (the key, when the spec sets it)
        return ("name",) if path[1:2] == ("name",) else ()
    if path[0] != "spec" or len(path) < 2:
        return ()
    head, rest = path[1], tuple(path[2:])
    if head == "parameters" and rest and isinstance(rest[0], int) and rest[0] < len(spec.parameters):
        return ("parameters", spec.parameters[rest[0]].name)
    if head == "nasConfig":
        return ("nasConfig",) + rest
    if head == "trialTemplate" and rest[:1] == ("trialSpec",) and spec.trial.template is not None:
        return ("trial", "template") + rest[1:]
    return _TOP.get(str(head), ())


def experiment_document(rendered: RenderedExperiment) -> Document:
    """The rendered Experiment as a document to validate.

    Positions are taken from the spec (``at_spec_lines``), so the Experiment needs no text of its own:
    validating the built mapping saves dumping and re-parsing it (it holds only what YAML gives back unchanged).
    """
    return Document(rendered.experiment, rendered.base_file, 0, "")


def at_spec_lines(findings: Sequence[Finding], rendered: RenderedExperiment) -> list[Finding]:
    """findings about the rendered Experiment, moved to the spec lines they come from."""
    out = []
    for f in findings:
        where = spec_path_for(f.path, rendered.spec)
        line, col = rendered.document.position(where)
        if where == ("trial",):
            # The short form's fields land deep in the trial template: point at the offending value itself
            # when the spec's trial section holds it as written.
            at = rendered.document.find_text(where, _scalar_text(value_at(rendered.experiment, f.path)))
            line, col = at or (line, col)
        out.append(replace(f, file=rendered.spec.path, line=line, column=col))
    return out


def at_profile_lines(findings: Sequence[Finding], probe: RenderedExperiment,
                     patched: dict[str, Any]) -> list[Finding]:
    """Findings about a probe (``render.probe_spec``: the spec patched by a profile it does not deploy
    under), at the spec's ``profiles.NAME`` line (the line holding the offending value when there is one).
    A field the profile left as the base has it is dropped: the spec's deployed Experiments report it."""
    out = []
    where = ("profiles", probe.profile)
    for f in findings:
        here = value_at(patched, f.path, _MISSING)
        if here is not _MISSING and here == value_at(probe.experiment, f.path, _MISSING):
            continue
        text = _scalar_text(here) if here is not _MISSING else "\0"
        at = probe.document.find_text(where, text) if probe.document.subnode(where) is not None else None
        line, col = at or probe.document.position(where)
        out.append(replace(f, file=probe.spec.path, line=line, column=col))
    return out


_MISSING = object()


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (str, int, float)) and value != "" else "\0"  # \0: matches nothing


def repo_spec_findings(repo: Repo, check: Callable[[RenderedExperiment], list[Finding]],
                       check_probe: Callable[[RenderedExperiment], list[Finding]]) -> list[Finding]:
    """Schema findings of every spec, then check's findings of what each renders to (check_probe's of what
    it would render to under each profile it adjusts without deploying under it)."""
    try:
        loaded = load_specs(repo)
    except SpecErrors as exc:
        return list(exc.findings)
    out: list[Finding] = []
    for spec, doc in loaded:
        for make, checker in ((render_spec, check), (probe_spec, check_probe)):
            try:
                made = make(repo, spec, doc)
            except UserError as exc:
                out.append(exc.finding)
                break
            for r in made:
                out += [f for f in checker(r) if f not in out]  # one finding per spec, however many profiles
    return out
