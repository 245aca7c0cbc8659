"""Where a generated document comes from: findings in generated files, moved to the lines a person edits.

A finding in a built overlay (``overlays/gpu (kustomize build):82:19``) or in
deploy/ names a file nobody edits. Every generated file comes from a spec or
from katib-gitops.yaml, so each finding is moved there:

- an Experiment in a built overlay: a field that is the same as in the base
  Experiment comes from the spec (``spec_lines.spec_path_for``); a field a
  profile patched comes from that profile, in the spec or in the settings
  file (the line holding the offending value when there is one);
- deploy/ (Argo CD, Flux): from katib-gitops.yaml, at the line holding the
  offending value, else at the section the file belongs to;
- anything else (hand-written files) keeps its own position.

The mapping is by content (an Experiment's name, the value at the finding's
field path), never by file layout, so any overlay layout works the same way.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any, Sequence

from ..io.findings import Finding, PathPart, UserError, value_at
from ..build.render import RenderedExperiment, RenderResult
from ..repo.repository import CONFIG_FILE, DEPLOY_DIR, OVERLAYS_DIR, Repo
from .spec_lines import spec_path_for
from ..io.yamlio import Document, load_one

_MISSING = object()
UPDATE_RULES = "katib-update-"  # updates.refusals


def dig(data: Any, path: Sequence[PathPart]) -> Any:
    return value_at(data, path, _MISSING)


def _text(value: Any) -> str | None:
    if value is _MISSING or isinstance(value, (dict, list)) or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RenderProvenance:
    """Provenance (see ``validation.engine.Provenance``) of one render of a repository."""

    def __init__(self, repo: Repo, result: RenderResult):
        self.repo = repo
        self.by_name: dict[str, RenderedExperiment] = {r.name: r for r in result.experiments}

    @cached_property
    def settings(self) -> Document | None:
        path = self.repo.root / CONFIG_FILE
        if not path.is_file():
            return None
        try:
            return load_one(str(path), CONFIG_FILE)
        except UserError:
            return None

    # -- the protocol

    def covered(self, doc: Document) -> bool:
        r = self._experiment(doc)
        return r is not None and doc.data == r.experiment

    def relocate(self, doc: Document | None, label: str, findings: list[Finding]) -> list[Finding]:
        area = label.split("/", 1)[0]
        if area == OVERLAYS_DIR and doc is not None:
            r = self._experiment(doc)
            if r is not None:
                profile = label.split("/")[1].split(" ")[0]
                return [self._in_overlay(r, profile, doc, f) for f in findings]
        if area == DEPLOY_DIR and self.settings is not None:
            section = label.split("/")[1].split(" ")[0] if "/" in label else ""
            # A finding that names a file of its own (a kustomization reaching outside) stays there.
            return [f if doc is None and f.file != label else self._in_settings(f, doc, (section,))
                    for f in findings]
        return findings

    # -- helpers

    def _experiment(self, doc: Document) -> RenderedExperiment | None:
        data = doc.data
        if not (isinstance(data, dict) and data.get("kind") == "Experiment" and isinstance(data.get("metadata"), dict)):
            return None
        name = data["metadata"].get("name")
        return self.by_name.get(name) if isinstance(name, str) else None

    def _in_overlay(self, r: RenderedExperiment, profile: str, doc: Document, f: Finding) -> Finding:
        here = dig(doc.data, f.path)
        # Katib's update rules compare the whole deployed Experiment with the live one: a refusal is about the
        # spec field (trials.max, resumePolicy, trial, ...) whatever the profile patched inside it.
        update_rule = f.rule.startswith(UPDATE_RULES) and spec_path_for(f.path, r.spec)
        if update_rule or (here is not _MISSING and here == dig(r.experiment, f.path)):
            line, col = r.document.position(spec_path_for(f.path, r.spec))
            return replace(f, file=r.spec.path, line=line, column=col)
        # Patched by the profile: the spec's own profile, else one the settings file defines.
        wanted = _text(here)
        for source, path in ((r.document, ("profiles", profile)), (self.settings, ("profiles", profile))):
            if source is None or source.subnode(path) is None:
                continue
            at = source.find_text(path, wanted) if wanted is not None else None
            line, col = at or source.position(path)
            return replace(f, file=source.file, line=line, column=col)
        line, col = r.document.position(spec_path_for(f.path, r.spec) or ("profiles",))
        return replace(f, file=r.spec.path, line=line, column=col)

    def _in_settings(self, f: Finding, doc: Document | None, section: tuple[str, ...]) -> Finding:
        settings = self.settings
        assert settings is not None
        wanted = _text(dig(doc.data, f.path)) if doc is not None else None
        at = settings.find_text((), wanted) if wanted else None
        line, col = at or settings.position(section)
        return replace(f, file=settings.file, line=line, column=col)

