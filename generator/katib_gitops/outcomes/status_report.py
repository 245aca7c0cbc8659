"""Formatting status rows: text (a line per Experiment), markdown (a table), json. Reporters only format."""

from __future__ import annotations

import json
from typing import Sequence

from ..io.safetext import clean, clean_lines, md_code
from .status import ExperimentStatus


def _state(row: ExperimentStatus) -> str:
    if row.live is None:
        return "not on the cluster"
    state = row.live.state
    if state is None:
        return "no condition yet"
    return f"{state.type} ({state.reason})" if state.reason else state.type


def _trials(row: ExperimentStatus) -> str:
    if row.live is None:
        return ""
    c = row.live.count
    return (f"{c('trialsSucceeded')} succeeded, {c('trialsFailed')} failed, {c('trialsRunning')} running"
            f" of {c('trials')}")


def _best(row: ExperimentStatus) -> str:
    """The best trial as Katib ranks it: each metric's value by its metricStrategy (min, max or latest of the
    trial's reports), the objective first and the strategy named."""
    best = row.live.best_trial if row.live is not None else None
    if best is None:
        return ""
    names = [best.objective] if best.objective in best.metrics else []
    names += sorted(k for k in best.metrics if k != best.objective)
    metrics = ", ".join(f"{k}={best.value(k)} ({best.strategies.get(k, 'latest')})" for k in names)
    params = ", ".join(f"{k}={v}" for k, v in sorted(best.parameters.items()))
    ranked = f" by {best.objective}'s metricStrategy {best.strategies[best.objective]}" \
        if best.objective in best.strategies else ""
    return f"{best.name}{ranked}: {metrics}; {params}"


def _role(row: ExperimentStatus) -> str:
    return f"superseded by {row.superseded_by}" if row.superseded_by else "current"


def to_text(rows: Sequence[ExperimentStatus]) -> str:
    lines = []
    for r in rows:
        where = f" [{', '.join(r.deployed_under)}]" if r.deployed_under else ""
        lines.append(f"{r.spec_file}: {r.namespace}/{r.name} ({_role(r)}){where}: {_state(r)}")
        if r.live is not None:
            lines.append(f"    trials: {_trials(r)}")
            if _best(r):
                lines.append(f"    best: {_best(r)}")
    # Every value comes from the repository or the cluster: one safe line each.
    return "\n".join(clean(line) for line in lines) + "\n" if lines else "no experiments\n"


def _cell(text: str) -> str:
    """A table cell: the value as a code span (nothing in it is markup, ``md_code``), or a dash."""
    return md_code(text, cell=True) if text else "—"


def to_markdown(rows: Sequence[ExperimentStatus]) -> str:
    out = ["| spec | Experiment | | deployed under | condition | trials | best trial |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        role = f"superseded by {md_code(r.superseded_by, cell=True)}" if r.superseded_by else "current"
        out.append(f"| {_cell(r.spec_file)} | {_cell(f'{r.namespace}/{r.name}')} | {role} | "
                   f"{_cell(', '.join(r.deployed_under))} | {_cell(_state(r))} | {_cell(_trials(r))} | "
                   f"{_cell(_best(r))} |")
    return "\n".join(clean(line) for line in out) + "\n"


def to_json(rows: Sequence[ExperimentStatus]) -> str:
    return clean_lines(json.dumps([r.to_dict() for r in rows], indent=2)) + "\n"  # JSON's escapes: data kept


FORMATS = {"text": to_text, "markdown": to_markdown, "json": to_json}
