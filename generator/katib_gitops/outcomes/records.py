"""results: each completed Experiment's outcome, recorded in git beside the spec that produced it.

``results/<spec>.yaml`` lists, per Experiment made from the spec (one per hash), how it completed and its
best trial: parameters, metrics, Experiment name and hash, completion time. Writing merges with what the
file already records (an Experiment pruned from the cluster keeps its entry), in a fixed order, and leaves
the file untouched when nothing changed: re-running is idempotent. What is written passes the same schema
``check`` validates these files with (``validation.results_files``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..io.findings import Finding, UserError
from ..repo.repository import Repo
from ..validation.results_files import RESULTS_DIR, file_findings, plain_dir_problem, results_validator
from .status import ExperimentStatus, best_trial_record

HEADER = ("# Outcomes of experiments/{spec}.yaml, recorded by `katib-gitops results --write` from the live\n"
          "# Experiments (best trial of each completed one). Review and commit; re-running is idempotent.\n")


def record(row: ExperimentStatus) -> dict[str, Any] | None:
    """The entry for one completed Experiment (None while it has not completed)."""
    live = row.live
    if live is None or not live.completed or live.state is None:
        return None
    entry: dict[str, Any] = {"name": row.name, "namespace": row.namespace, "hash": row.hash or "",
                             "condition": live.state.type, "reason": live.state.reason,
                             "completionTime": live.completion_time or ""}
    entry["trials"] = {"total": live.count("trials"), "succeeded": live.count("trialsSucceeded"),
                       "failed": live.count("trialsFailed"), "earlyStopped": live.count("trialsEarlyStopped"),
                       "killed": live.count("trialsKilled"),
                       "metricsUnavailable": live.count("trialMetricsUnavailable")}
    best = live.best_trial
    if best is not None:
        entry["bestTrial"] = best_trial_record(best)
    return entry


def results_files(repo: Repo, rows: list[ExperimentStatus]) -> dict[str, str]:
    """results/<spec>.yaml -> text, merged with what each file records already."""
    from ..io.yamlio import dump

    problem = plain_dir_problem(repo)
    if problem is not None:
        raise UserError(problem, exit_code=2)

    by_spec: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        entry = record(row)
        if entry is not None:
            by_spec.setdefault(row.spec, {})[entry["name"]] = entry
    out = {}
    for spec, entries in sorted(by_spec.items()):
        rel = f"{RESULTS_DIR}/{spec}.yaml"
        merged = {e["name"]: e for e in _existing(repo, rel)}
        merged.update(entries)
        ordered = sorted(merged.values(), key=lambda e: (str(e.get("completionTime", "")), str(e.get("name"))))
        out[rel] = HEADER.format(spec=spec) + dump({"spec": spec, "experiments": ordered})
    return out


def _existing(repo: Repo, rel: str) -> list[dict[str, Any]]:
    from ..io.yamlio import load_file

    path = repo.root / rel
    if not path.exists() and not path.is_symlink():
        return []
    _refuse_special(path, rel)
    problems = file_findings(repo, path)
    if problems:
        raise UserError(problems[0])
    docs = load_file(str(path), rel)
    return list(docs[0].data["experiments"]) if docs else []


def _refuse_special(path: Path, rel: str) -> None:
    """A FIFO, socket or device where a results file belongs is never opened (a FIFO would block)."""
    from ..io.safefs import special_kind

    kind = special_kind(path)
    if kind is not None:
        raise UserError(Finding(f"{kind} stands where a results file belongs: refusing to open it", file=rel,
                                line=0, column=0, rule="results"), exit_code=2)


def _validated(files: dict[str, str]) -> None:
    """What results --write is about to write, against the schema ``check`` validates results files with:
    a live status with a negative count or a value of the wrong type is refused before anything is written."""
    from ..validation.schema import schema_findings
    from ..io.yamlio import load_documents

    problems = []
    for rel, text in sorted(files.items()):
        for doc in load_documents(text, rel):
            problems += schema_findings(results_validator(), doc.data, doc, (), "results")
    if problems:
        from ..build.render import SpecErrors

        raise SpecErrors([replace(f, message=f"{f.message} (from the live state: nothing was written)")
                          for f in problems])


def write_results(repo: Repo, files: dict[str, str]) -> list[str]:
    """Write each file that changed (never through a symlink out of the repo); the ones written.

    Nothing is written unless every file passes the schema ``check`` applies to results files, and then all
    new contents are written beside their files first and renamed over them only once all are written: a
    full disk leaves every results file as it was, and no temporary file."""
    root = repo.root.resolve()
    problem = plain_dir_problem(repo)
    if problem is not None:
        raise UserError(problem, exit_code=2)
    _validated(files)
    staged: list[tuple[str, str, Path]] = []  # (rel, temporary file, target)
    try:
        for rel, text in sorted(files.items()):
            path = repo.root / rel
            if path.is_symlink():
                raise UserError(Finding("refusing to write through a symlink", file=rel, rule="write"), exit_code=2)
            _refuse_special(path, rel)
            if path.exists() and path.read_bytes() == text.encode():
                continue
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.parent.resolve().relative_to(root)
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
                staged.append((rel, tmp, path))
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                raise UserError(Finding(f"cannot write it: {exc.strerror or exc}; no results file was changed",
                                        file=rel, rule="write"), exit_code=2) from None
        for rel, tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for _, tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)  # renamed already, or left by an error
    return [rel for rel, _, _ in staged]
