"""check: the CI gate. The repository is in sync with its specs, builds, and validates.

1. Render in memory and compare with the files on disk: every missing, changed
   or stale generated file is a finding.
2. Validate the repository as ``validate`` does: specs, base/, every overlay
   built with real kustomize (once per overlay, whatever the number of
   experiments, builds in parallel) and deploy/.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..io.findings import Finding, UserError
from ..build.render import RenderResult, SpecErrors, render_repo
from ..repo.repository import Repo
from ..io.safefs import special_kind
from ..repo.record import RECORD_FILE, read_record, version_finding
from ..repo.writer import TXN_DIR, diff_tree, interrupted, leftovers, stray_copies

if TYPE_CHECKING:
    from ..build.builds import Builds


def sync_findings(repo: Repo, result: RenderResult) -> list[Finding]:
    changes = diff_tree(repo.root, result.files)
    hint = "run `katib-gitops render` and commit the result"
    out = []
    if interrupted(repo.root):
        out.append(Finding(f"a render was interrupted after it began replacing files; {hint} (it finishes the "
                           "interrupted one first)", file=TXN_DIR, line=0, column=0, rule="sync"))
    for name in leftovers(repo.root):
        out.append(Finding("left behind by an interrupted render (not part of the repository; keep "
                           "`.katib-gitops-*` out of git): the next `katib-gitops render` removes it",
                           file=name, line=0, column=0, rule="sync"))
    record, problems = read_record(repo.root)
    out += problems
    version = version_finding(record)
    if version is not None:
        out.append(version)
        changes.changed = [rel for rel in changes.changed if rel != RECORD_FILE]
    for rel in changes.added:
        out.append(Finding(f"missing: render would create this file; {hint}", file=rel, line=1, column=1, rule="sync"))
    for rel in changes.changed:
        out.append(Finding(f"out of date: differs from what render produces (edited by hand?); {hint}",
                           file=rel, line=_first_difference(repo.root / rel, result.files[rel]), column=1, rule="sync"))
    for rel in changes.removed:
        out.append(Finding(f"stale: generated from a spec that no longer exists; {hint}", file=rel, line=1, column=1,
                           rule="sync"))
    out += stray_copies(repo.root, result.files)
    return out


def _first_difference(path: Path, want: str) -> int:
    if special_kind(path) is not None:
        return 1  # never open a FIFO
    try:
        have = path.read_text(errors="replace").splitlines()
    except OSError:
        return 1
    for i, (a, b) in enumerate(zip(have, want.splitlines()), start=1):
        if a != b:
            return i
    return min(len(have), len(want.splitlines())) + 1


def check_repo(repo: Repo, options: object | None = None, builds: Builds | None = None) -> list[Finding]:
    """Every finding that should stop a merge; no errors when the repo is in sync and valid. builds: the
    repository's kustomize builds, when the caller started them already (``builds.start_builds``)."""
    from ..build.builds import start_builds
    from ..validation.provenance import RenderProvenance
    from ..validation.results_files import repo_results_findings
    from ..validation import validate_repo

    # The kustomize builds read only what is on disk: start them now, on the other core, and render meanwhile.
    builds = builds if builds is not None else start_builds(repo)
    try:
        result = render_repo(repo)
    except SpecErrors as exc:  # nothing built from broken specs is reported: stop the builds
        builds.cancel()
        return list(exc.findings)
    except UserError as exc:
        builds.cancel()
        if exc.exit_code == 2:
            raise  # unreadable input (exit status 2, one line on stderr), not a finding about the repository
        return [exc.finding]
    findings = list(result.warnings)
    out_of_sync = sync_findings(repo, result)
    findings += out_of_sync
    findings += validate_repo(repo, options, rendered=result, builds=builds,
                              provenance=RenderProvenance(repo, result),
                              in_sync=not any(f.severity == "error" for f in out_of_sync)).findings
    findings += repo_results_findings(repo)
    return findings
