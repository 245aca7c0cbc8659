"""results/<spec>.yaml as ``check`` reads them: against schemas/results.schema.json, findings at their lines.

``katib-gitops results --write`` (``outcomes.records``) writes these files and checks what it is about to
write with the same compiled schema, so it never writes a file ``check`` rejects.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io.findings import Finding, UserError

if TYPE_CHECKING:  # only the type: validating a single file loads no repository code
    from ..repo.repository import Repo

RESULTS_DIR = "results"
SCHEMA = "results.schema.json"


def plain_dir_problem(repo: Repo) -> Finding | None:
    """results/ must be a directory of this repository (never a symlink: nothing outside is read or written)."""
    d = repo.root / RESULTS_DIR
    if d.is_symlink() or (d.exists() and not d.is_dir()):
        return Finding("results/ is not a plain directory of this repository (a symlink?): refusing to use it",
                       file=RESULTS_DIR, line=0, column=0, rule="results")
    return None


@lru_cache(maxsize=1)
def results_validator() -> Any:
    from ..io.packaged import load_schema
    from .schema import compile_schema

    return compile_schema(load_schema(SCHEMA))


def file_findings(repo: Repo, path: Path) -> list[Finding]:
    """A results file against schemas/results.schema.json, findings at its lines."""
    from .schema import schema_findings
    from ..io.yamlio import load_file

    rel = repo.rel(path)
    if path.is_symlink():
        return [Finding("a results file must not be a symlink: refusing to read it", file=rel, line=0, column=0,
                        rule="results")]
    try:
        docs = load_file(str(path), rel)
    except UserError as exc:
        return [exc.finding]
    if len(docs) != 1:
        return [Finding("a results file holds exactly one YAML document", file=rel, line=1, column=1,
                        rule="results")]
    findings = schema_findings(results_validator(), docs[0].data, docs[0], (), "results")
    spec = docs[0].data.get("spec") if isinstance(docs[0].data, dict) else None
    if not findings and spec != path.stem:
        findings.append(docs[0].finding(f"spec {spec!r} must match the file name {path.stem!r}", ["spec"],
                                        rule="results"))
    return findings


def repo_results_findings(repo: Repo) -> list[Finding]:
    d = repo.root / RESULTS_DIR
    problem = plain_dir_problem(repo)
    if problem is not None:
        return [problem]
    if not d.is_dir():
        return []
    from ..io.safefs import refusal

    out = []
    for path in sorted(d.iterdir()):
        if path.suffix not in (".yaml", ".yml") or path.name.startswith("."):
            continue
        if not path.is_symlink() and not path.is_file():
            special = refusal(path, repo.root, repo.rel(path))  # a FIFO: skipped with a warning, never opened
            out += [special] if special is not None else []
        else:
            out += file_findings(repo, path)
    return out
