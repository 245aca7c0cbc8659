"""A plan as text (terminal), markdown (a pull-request comment) and json; reporters only format."""

from __future__ import annotations

import json
from typing import Any

from ..io.safetext import clean, md_code
from .model import (
    ADDED,
    ACTIONS,
    EXIT_REFUSED,
    REMOVED,
    REPLACED,
    UNCHANGED,
    UPDATED,
    Deployment,
    ExperimentPlan,
    Plan,
)

# Past these sizes the markdown folds details away (<details>), so the comment stays readable.
FOLD_CHANGES = 8
FOLD_EXPERIMENTS = 6
# GitHub refuses comments longer than 65,536 characters.
MAX_COMMENT = 60_000


def _value(v: Any) -> str:
    return "(none)" if v is None else json.dumps(v) if not isinstance(v, str) else v


def _as_is(value: str) -> str:
    return value


def _where(deployments: list[Deployment], shown=_as_is) -> str:
    """Where it is deployed; shown formats each value (``md_code`` in markdown)."""
    if not deployments:
        return "not deployed (no deployed overlay holds it)"
    return ", ".join(f"{shown(d.overlay)} ({', '.join(shown(v) for v in d.via)})" for d in deployments)


def _gpu_line(deployments: list[Deployment], shown=_as_is) -> str | None:
    with_gpus = [d for d in deployments if d.gpus_per_trial]
    if not with_gpus:
        return None
    return "; ".join(f"{shown(d.overlay)}: {d.gpus_per_trial} GPU(s) per trial × {d.parallel} parallel = "
                     f"{d.gpus} GPU(s)" for d in with_gpus)


def _budget(plan: Plan) -> str:
    text = f"{plan.gpu_total} GPU(s) at once for the Experiments this change starts or changes"
    if plan.gpu_kept:
        text += f" (plus up to {plan.gpu_kept} held by replaced Experiments that are kept until they complete)"
    return text


def _counts(plan: Plan) -> str:
    counts = {a: sum(1 for e in plan.experiments if e.action == a) for a in ACTIONS}
    return ", ".join(f"{n} {a}" for a, n in counts.items())


def _shown(e: ExperimentPlan) -> bool:
    """Unchanged Experiments are counted, not listed, unless Katib will refuse their next sync."""
    return e.action != UNCHANGED or bool(e.refused)


def _headline(e: ExperimentPlan) -> str:
    if e.action == ADDED:
        return f"+ {e.label}: added as {e.new_name}"
    if e.action == UNCHANGED:
        return f"= {e.label}: unchanged: {e.new_name}"
    if e.action == REMOVED:
        return f"- {e.label}: removed; {e.old_name} is {'pruned' if e.pruned else 'kept (its results survive)'}"
    if e.action == REPLACED:
        fate = "pruned" if e.pruned else "kept"
        return f"± {e.label}: replaced: {e.old_name} -> {e.new_name} (immutable fields changed; old Experiment {fate})"
    return f"~ {e.label}: updated in place: {e.new_name}"


def _live(e: ExperimentPlan) -> str | None:
    if e.live is None:
        return None
    reason = f" ({e.live.reason})" if e.live.reason else ""
    return (f"live: {e.live.name} {e.live.condition}{reason}, {e.live.trials} trial(s), {e.live.running} running, "
            f"resumePolicy {e.live.resume_policy}")


def to_text(plan: Plan) -> str:
    lines = []
    for e in plan.experiments:
        if not _shown(e):
            continue
        lines.append(_headline(e))
        if e.summary:
            lines.append(f"    {e.summary}")
        lines.append(f"    deployed under {_where(e.deployments)}")
        gpus = _gpu_line(e.deployments)
        if gpus:
            lines.append(f"    GPUs: {gpus}")
        for c in e.changes:
            lines.append(f"    {c.path}: {_value(c.old)} -> {_value(c.new)}")
        if _live(e):
            lines.append(f"    {_live(e)}")
        lines += [f"    REFUSED by Katib: {r}" for r in e.refused]
        lines += [f"    note: {n}" for n in e.notes]
    unchanged = sum(1 for e in plan.experiments if e.action == UNCHANGED and not _shown(e))
    if unchanged:
        lines.append(f"= {unchanged} unchanged")
    for d in plan.deploy:
        lines.append(f"{_DEPLOY_SIGNS[d.action]} {d.file}: {d.label} {d.action}")
        lines += [f"    {c.path}: {_value(c.old)} -> {_value(c.new)}" for c in d.changes]
        lines += [f"    note: {n}" for n in d.notes]
    lines.append(f"GPU budget: {_budget(plan)}.")
    lines.append(f"Plan: {_counts(plan)}{_deploy_counts(plan)}.")
    if plan.refused:
        lines.append(f"Katib will refuse at least one sync (REFUSED above): exit status {EXIT_REFUSED}.")
    return "\n".join(clean(line) for line in lines) + "\n"  # values may hold anything: one safe line each


_DEPLOY_SIGNS = {ADDED: "+", REMOVED: "-", "changed": "~"}


def _deploy_counts(plan: Plan) -> str:
    if not plan.deploy:
        return ""
    counts = {a: sum(1 for d in plan.deploy if d.action == a) for a in (ADDED, "changed", REMOVED)}
    return "; deploy/: " + ", ".join(f"{n} {a}" for a, n in counts.items())


_ICONS = {ADDED: "🆕", REMOVED: "🗑️", REPLACED: "♻️", UPDATED: "✏️", UNCHANGED: "✅"}


# Markdown: every value from the repository, git or the cluster is a code span (``md_code``), so nothing in
# it is markup; what is not in one is katib-gitops's own text.


def _md(v: Any, cell: bool = False) -> str:
    return md_code(_value(v), cell)


def _md_name(e: ExperimentPlan, cell: bool = False) -> str:
    if e.action == REPLACED:
        return f"{md_code(e.old_name, cell)} → {md_code(e.new_name, cell)}"
    return md_code(e.new_name or e.old_name, cell)


def _md_experiment(e: ExperimentPlan) -> list[str]:
    out = [f"#### {_ICONS[e.action]} {md_code(e.label)}: {e.action}, {_md_name(e)}", ""]
    if e.summary:
        out.append(f"- {md_code(e.summary)}")
    out.append(f"- deployed under: {_where(e.deployments, md_code)}")
    gpus = _gpu_line(e.deployments, md_code)
    if gpus:
        out.append(f"- GPU budget: {gpus}")
    if e.live is not None:
        out.append(f"- live: {md_code(_live(e).removeprefix('live: '))}")
    out += [f"- ⛔ **Katib will refuse this sync**: {md_code(r)}" for r in e.refused]
    out += [f"- ⚠️ {md_code(n)}" for n in e.notes]
    if e.changes:
        changes = [f"  - {md_code(c.path)}: {_md(c.old)} → {_md(c.new)}" for c in e.changes]
        label = "immutable fields changed" if e.action == REPLACED else "fields changed"
        if len(changes) > FOLD_CHANGES:
            out += [f"- <details><summary>{len(changes)} {label} (field-level diff)</summary>", "", *changes, "",
                    "  </details>"]
        else:
            out += [f"- {label}:", *changes]
    return out + [""]


def _md_deploy(plan: Plan) -> list[str]:
    if not plan.deploy:
        return []
    out = ["#### deploy/ (applied by hand, not synced)", "", "| file | object | change |", "| --- | --- | --- |"]
    out += [f"| {md_code(d.file, cell=True)} | {md_code(d.kind, cell=True)} {md_code(f'{d.namespace}/{d.name}', cell=True)}"
            f" | {_DEPLOY_SIGNS[d.action]} {d.action} |" for d in plan.deploy]
    out.append("")
    for d in plan.deploy:
        out += [f"- {md_code(d.label)}: {md_code(c.path)}: {_md(c.old)} → {_md(c.new)}" for c in d.changes]
        out += [f"- ⚠️ {md_code(d.label)}: {md_code(n)}" for n in d.notes if d.action == REMOVED]
    applies = sorted({n for d in plan.deploy if d.action != REMOVED for n in d.notes})
    out += [f"- {md_code(n)}" for n in applies]
    return out + [""]


def to_markdown(plan: Plan) -> str:
    changed = [e for e in plan.experiments if _shown(e)]
    unchanged = len(plan.experiments) - len(changed)
    out = [f"### katib-gitops plan (against {md_code(plan.base[:12])})", "",
           f"**{_counts(plan)}{_deploy_counts(plan)}.**", "", f"**GPU budget**: {_budget(plan)}.", ""]
    if plan.refused:
        out += ["⛔ **Katib will refuse at least one sync** (below).", ""]
    if plan.live_source:
        out += [f"Live state: {md_code(plan.live_source)}.", ""]
    if changed:
        out += ["| spec | action | Experiment | deployed under | GPUs at once |", "| --- | --- | --- | --- | --- |"]
        for e in changed:
            where = ", ".join(md_code(d.overlay, cell=True) for d in e.deployments) or "—"
            out.append(f"| {md_code(e.label, cell=True)} | {_ICONS[e.action]} {e.action} | {_md_name(e, cell=True)} "
                       f"| {where} | {e.gpus} |")
        out.append("")
        details = [line for e in changed for line in _md_experiment(e)]
        if len(changed) > FOLD_EXPERIMENTS:
            out += ["<details><summary>Details per experiment</summary>", "", *details, "</details>", ""]
        else:
            out += details
    if unchanged:
        out += [f"✅ {unchanged} experiment(s) unchanged.", ""]
    out += _md_deploy(plan)
    if any(e.action == REPLACED for e in plan.experiments):
        out += ["Katib forbids editing an Experiment's spec beyond its trial counts, so a replaced "
                "experiment starts again under a new name."]
    text = "\n".join(clean(line) for line in out).rstrip() + "\n"
    if len(text) > MAX_COMMENT:
        cut = text[:MAX_COMMENT].rsplit("\n", 1)[0]
        text = cut + "\n\n… (truncated: run `katib-gitops plan` for the full plan)\n"
    return text
