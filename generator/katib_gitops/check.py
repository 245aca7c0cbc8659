"""check: the CI gate. The repository is in sync with its specs, builds, and validates.

1. Render in memory and compare with the files on disk: every missing, changed
   or stale generated file is a finding.
2. Build every overlay with real kustomize: once per overlay, whatever the
   number of experiments, the builds running in parallel.
3. Validate the specs, the built overlays and deploy/ with every layer.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import kustomize
from .findings import Finding, UserError
from .render import RenderResult, SpecErrors, render_repo
from .repo import OVERLAYS_DIR, Repo
from .writer import diff_tree


@dataclass
class BuiltOverlay:
    name: str
    text: str | None
    finding: Finding | None = None

    @property
    def display(self) -> str:
        return f"{OVERLAYS_DIR}/{self.name} (kustomize build)"


def sync_findings(repo: Repo, result: RenderResult) -> list[Finding]:
    changes = diff_tree(repo.root, result.files)
    hint = "run `katib-gitops render` and commit the result"
    out = []
    for rel in changes.added:
        out.append(Finding(f"missing: render would create this file; {hint}", file=rel, line=1, column=1, rule="sync"))
    for rel in changes.changed:
        out.append(Finding(f"out of date: differs from what render produces (edited by hand?); {hint}",
                           file=rel, line=_first_difference(repo.root / rel, result.files[rel]), column=1, rule="sync"))
    for rel in changes.removed:
        out.append(Finding(f"stale: generated from a spec that no longer exists; {hint}", file=rel, line=1, column=1,
                           rule="sync"))
    return out


def _first_difference(path: Path, want: str) -> int:
    try:
        have = path.read_text(errors="replace").splitlines()
    except OSError:
        return 1
    for i, (a, b) in enumerate(zip(have, want.splitlines()), start=1):
        if a != b:
            return i
    return min(len(have), len(want.splitlines())) + 1


def overlay_names(root: Path) -> list[str]:
    d = root / OVERLAYS_DIR
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if (p / "kustomization.yaml").is_file())


def build_overlays(root: Path, names: list[str]) -> list[BuiltOverlay]:
    def one(name: str) -> BuiltOverlay:
        try:
            return BuiltOverlay(name, kustomize.build(root / OVERLAYS_DIR / name, f"{OVERLAYS_DIR}/{name}"))
        except UserError as exc:
            return BuiltOverlay(name, None, exc.finding)

    workers = min(len(names), os.cpu_count() or 1) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, names))


def check_repo(repo: Repo, options: object | None = None) -> list[Finding]:
    """Every finding that should stop a merge; empty when the repo is in sync and valid."""
    try:
        result = render_repo(repo)
    except SpecErrors as exc:
        return list(exc.findings)
    except UserError as exc:
        return [exc.finding]
    findings = list(result.warnings)
    findings += sync_findings(repo, result)
    built = build_overlays(repo.root, overlay_names(repo.root))
    findings += [b.finding for b in built if b.finding]
    findings += validate_built(repo, built, options)
    return findings


def validate_built(repo: Repo, built: list[BuiltOverlay], options: object | None) -> list[Finding]:
    from .validation import engine

    opts = options or engine.options_for_repo(repo)
    out: list[Finding] = []
    for b in built:
        if b.text is not None:
            out += engine.validate_text(b.text, b.display, opts)
    out += engine.validate_repo_sources(repo, opts)
    return out
