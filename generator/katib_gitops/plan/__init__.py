"""plan: what merging this change will do to each Experiment on the cluster.

The specs at a git ref (default: the merge base with the default branch) and in the working tree are both
rendered in memory (``sides``), their deployed overlays built with kustomize, and compared by spec name and
profile (a spec deployed under two profiles is two Experiments):

- added / removed (kept or pruned, per the prune setting at the base);
- unchanged (collapsed to a count by the reporters);
- updated in place: only the mutable counts changed (same Experiment name); Katib's update rules
  (``updates``) say when it will refuse, checked against the live Experiment with ``--live``;
- replaced: something immutable changed, so the name changes and Katib gets a new Experiment; the changed
  fields are listed (base and each deployed overlay), and what happens to the old one.

For each experiment the plan names the overlays it is deployed under and, where trials hold GPUs, the GPU
budget (GPUs per trial x parallel trials); ``reporters`` formats it as text, markdown or json.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ..repo.deployment import gpu_use
from ..spec.naming import MUTABLE_FIELDS, immutable_part
from ..repo.repository import Repo
from .deploy_changes import compare_deploy
from .model import (
    ADDED,
    EXIT_REFUSED,
    REMOVED,
    REPLACED,
    UNCHANGED,
    UPDATED,
    Deployment,
    ExperimentPlan,
    FieldChange,
    LiveSummary,
    Plan,
    leaf_changes,
)
from .reporters import to_markdown, to_text
from .sides import Side, default_base, load_side, side_at
from .summary import one_line


def _deployments(side: Side, name: str) -> list[Deployment]:
    out = []
    for overlay, experiment in side.deployments(name).items():
        use = gpu_use(experiment)
        out.append(Deployment(overlay, side.deployed.get(overlay, []), use.per_trial, use.parallel))
    return out


def _overlay_changes(old: Side, new: Side, old_name: str, new_name: str, seen: list[FieldChange]) -> list[FieldChange]:
    """Immutable changes a deployed overlay adds to the base's (its patches: GPUs, tolerations, env, ...)."""
    known = {(c.path, json.dumps(c.old, sort_keys=True), json.dumps(c.new, sort_keys=True)) for c in seen}
    out = []
    olds, news = old.deployments(old_name), new.deployments(new_name)
    for overlay in [o for o in news if o in olds]:
        for c in leaf_changes(immutable_part(olds[overlay].get("spec") or {}),
                              immutable_part(news[overlay].get("spec") or {})):
            key = (c.path, json.dumps(c.old, sort_keys=True), json.dumps(c.new, sort_keys=True))
            if key not in known:
                known.add(key)
                out.append(FieldChange(f"{c.path} ({overlay})", c.old, c.new))
    return out


def compare(old: Side, new: Side, live: Any = None) -> list[ExperimentPlan]:
    from ..live.updates import completed_warning

    plans = []
    for key in sorted(set(old.experiments) | set(new.experiments)):
        o, n = old.experiments.get(key), new.experiments.get(key)
        if o is None:
            built = new.deployments(n.name)
            plans.append(ExperimentPlan(n.spec.path, ADDED, new_name=n.name, namespace=_ns(n),
                                        deployments=_deployments(new, n.name), profile=key[1],
                                        summary=one_line(next(iter(built.values()), n.experiment))))
            _with_live(plans[-1], new, n, live)
            continue
        pruned = old.repo.config.prune if o.spec.prune is None else o.spec.prune
        if n is None:
            e = ExperimentPlan(o.spec.path, REMOVED, old_name=o.name, pruned=pruned, namespace=_ns(o),
                               deployments=_deployments(old, o.name))
            if not pruned:
                e.notes.append(_keeps_running(o.name, _ns(o), e.deployments))
            e.profile = key[1]
            _with_live(e, new, n, live)
            plans.append(e)
            continue
        oe, ne = o.experiment["spec"], n.experiment["spec"]
        if o.name != n.name:
            changes = leaf_changes(immutable_part(oe), immutable_part(ne))
            changes += _overlay_changes(old, new, o.name, n.name, changes)
            e = ExperimentPlan(n.spec.path, REPLACED, o.name, n.name, changes, pruned=pruned, namespace=_ns(n),
                               deployments=_deployments(new, n.name), old_deployments=_deployments(old, o.name))
            if pruned:
                e.notes.append(f"{o.name} is deleted when this merges (pruning is on), with its trials")
            else:
                e.notes.append(_keeps_running(o.name, _ns(o), e.old_deployments))
        elif o.experiment == n.experiment and old.deployments(o.name) == new.deployments(n.name):
            e = ExperimentPlan(n.spec.path, UNCHANGED, o.name, n.name, namespace=_ns(n),
                               deployments=_deployments(new, n.name))
        else:
            changes = [FieldChange(f"spec.{k}", oe.get(k), ne.get(k)) for k in MUTABLE_FIELDS if oe.get(k) != ne.get(k)]
            changes += leaf_changes(o.experiment["metadata"], n.experiment["metadata"], ("metadata",))
            e = ExperimentPlan(n.spec.path, UPDATED, o.name, n.name, changes, namespace=_ns(n),
                               deployments=_deployments(new, n.name))
            custom = _overlay_changes(old, new, o.name, n.name, [])
            if custom:  # outside the name's hash: a team's own Component (overlays/<profile>/custom)
                e.changes += custom
                e.refused.append("an overlay's own kustomize Component changed immutable fields of the "
                                 f"Experiment {n.name} under the same name (its changes are not part of the name's "
                                 "hash): Katib refuses the update; change the spec too, so it gets a new name")
            if live is None and any(c.path.startswith("spec.") for c in changes):
                e.notes.append(completed_warning(str(ne.get("resumePolicy") or "Never")))
                if oe.get("maxTrialCount") != ne.get("maxTrialCount"):
                    e.notes.append("Katib also refuses a maxTrialCount that is not above the number of trials the "
                                   "Experiment has already created (status.trials)")
        e.profile = key[1]
        _with_live(e, new, n, live)
        plans.append(e)
    return plans


def _with_live(e: ExperimentPlan, new: Side, n: Any, live: Any) -> None:
    """What the live state says: the Experiment's condition, and whether Katib's webhook refuses what Argo CD or
    Flux will apply to it (each deployed overlay as kustomize builds it, Katib's defaults on both sides)."""
    from ..live.updates import refusals

    if live is None:
        return
    name = e.old_name if e.action in (REPLACED, REMOVED) else e.new_name
    current = live.get(name, e.namespace) if name else None
    if current is None:
        if e.action == UPDATED:
            e.notes.append(f"{name} is not in the live state ({live.source}): Argo CD or Flux create it as written")
        return
    e.live = LiveSummary(current.name, current.state.type if current.state else "Unknown",
                         current.state.reason if current.state else "", current.count("trials"),
                         current.count("trialsRunning"), current.resume_policy)
    if e.action in (REPLACED, REMOVED) or n is None:
        return
    for overlay, built in new.deployments(n.name).items():
        for r in refusals(current, built.get("spec") or {}):
            if r.message not in e.refused:
                e.refused.append(r.message)
    if e.action == UNCHANGED and e.refused:
        e.notes.append("unchanged in git, but the live Experiment differs from what is deployed (edited on the "
                       "cluster, or an earlier sync never applied): the next sync is refused")


def _ns(r: Any) -> str | None:
    return r.experiment.get("metadata", {}).get("namespace")


def _keeps_running(name: str, namespace: str | None, deployments: list[Deployment]) -> str:
    gpus = sum(d.gpus for d in deployments)
    holding = f", up to {gpus} GPU(s) at once" if gpus else ""
    return (f"the old Experiment {name} keeps running and holding its resources{holding} until it completes "
            f"(pruning is off); to stop it: kubectl delete experiment {name} -n {namespace or 'NAMESPACE'}")


def make_plan(repo: Repo, base: str | None = None, live: Any = None) -> Plan:
    from .sides import _git

    if base is not None and (not base or base.startswith("-")):
        from ..io.findings import Finding, UserError

        raise UserError(Finding(f"--base {base!r} is not a git ref", file="--base", rule="usage"), exit_code=2)
    ref = base or default_base(repo.root)
    _git(repo.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="katib-gitops-plan-") as tmp:
        old = side_at(repo, ref, Path(tmp))
        new = load_side(repo)
        return Plan(base=ref, experiments=compare(old, new, live),
                    live_source=getattr(live, "source", None), deploy=compare_deploy(old.deploy, new.deploy))


__all__ = ["ADDED", "EXIT_REFUSED", "REMOVED", "UNCHANGED", "UPDATED", "REPLACED", "Plan", "ExperimentPlan", "FieldChange",
           "make_plan", "to_text", "to_markdown", "leaf_changes"]
