"""plan: what merging this change will do to each Experiment on the cluster.

The specs at a git ref (default: the merge base with the default branch) and in
the working tree are both rendered in memory and compared by spec name:

- added / removed (kept or pruned, per the prune setting at the base)
- unchanged
- updated in place: only the mutable counts changed (same Experiment name)
- replaced: something immutable changed, so the name changes and Katib gets a
  new Experiment; the changed fields are listed with old -> new values.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .findings import Finding, UserError, format_path
from .naming import MUTABLE_FIELDS, immutable_part
from .render import RenderedExperiment, load_specs, render_spec
from .repo import CONFIG_FILE, EXPERIMENTS_DIR, Repo, load_repo

ADDED, REMOVED, UNCHANGED, UPDATED, REPLACED = "added", "removed", "unchanged", "updated in place", "replaced"


@dataclass
class FieldChange:
    path: str
    old: Any
    new: Any


@dataclass
class ExperimentPlan:
    spec: str
    action: str
    profile: str = ""  # the profile (overlay) this Experiment is deployed under
    old_name: str | None = None
    new_name: str | None = None
    changes: list[FieldChange] = field(default_factory=list)
    pruned: bool | None = None  # for removed and replaced: is the old Experiment deleted?


@dataclass
class Plan:
    base: str
    experiments: list[ExperimentPlan]

    def to_json(self) -> str:
        return json.dumps({"base": self.base, "experiments": [asdict(e) for e in self.experiments]}, indent=2) + "\n"


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        msg = " ".join(proc.stderr.split()) or f"git {' '.join(args)} failed"
        raise UserError(Finding(f"git: {msg}", file=str(root), line=0, column=0, rule="git"), exit_code=2)
    return proc.stdout


def default_base(root: Path) -> str:
    """The merge base of HEAD with the default branch (origin/HEAD, else main or master)."""
    candidates = []
    try:
        candidates.append(_git(root, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD").strip())
    except UserError:
        pass
    candidates += ["origin/main", "origin/master", "main", "master"]
    for ref in candidates:
        if not ref:
            continue
        try:
            return _git(root, "merge-base", "HEAD", ref).strip()
        except UserError:
            continue
    return "HEAD"


def _repo_at(repo: Repo, ref: str, into: Path) -> Repo:
    """Materialise experiments/ and the settings file as they were at ref."""
    prefix = _git(repo.root, "rev-parse", "--show-prefix").strip()
    listing = _git(repo.root, "ls-tree", "-r", "--name-only", ref, "--", f"{EXPERIMENTS_DIR}/", CONFIG_FILE)
    for rel in listing.splitlines():
        rel_in_repo = rel[len(prefix):] if prefix and rel.startswith(prefix) else rel
        blob = subprocess.run(["git", "-C", str(repo.root), "show", f"{ref}:{rel}"], capture_output=True, check=True).stdout
        target = into / rel_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    (into / EXPERIMENTS_DIR).mkdir(exist_ok=True)
    return load_repo(into)


def _rendered(repo: Repo) -> dict[tuple[str, str], RenderedExperiment]:
    """(spec name, profile) -> its Experiment: a spec deployed under two profiles is two Experiments."""
    return {r.key: r for spec, doc in load_specs(repo) for r in render_spec(repo, spec, doc)}


def leaf_changes(old: Any, new: Any, path: tuple = ()) -> list[FieldChange]:
    """Field-level differences, named by their Katib path."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            out += leaf_changes(old.get(key), new.get(key), path + (key,))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out += leaf_changes(a, b, path + (i,))
        return out
    if old != new:
        return [FieldChange(format_path(("spec",) + path), old, new)]
    return []


def compare(old: dict[tuple[str, str], RenderedExperiment], new: dict[tuple[str, str], RenderedExperiment],
            old_repo: Repo) -> list[ExperimentPlan]:
    plans = []
    for key in sorted(set(old) | set(new)):
        o, n = old.get(key), new.get(key)
        profile = key[1]
        if o is None:
            plans.append(ExperimentPlan(n.spec.path, ADDED, profile, new_name=n.name))
            continue
        pruned = old_repo.config.prune if o.spec.prune is None else o.spec.prune
        if n is None:
            plans.append(ExperimentPlan(o.spec.path, REMOVED, profile, old_name=o.name, pruned=pruned))
            continue
        oe, ne = o.experiment["spec"], n.experiment["spec"]
        if o.name != n.name:
            changes = leaf_changes(immutable_part(oe), immutable_part(ne))
            if o.patches != n.patches:
                changes.append(FieldChange(f"profile {profile} (overlay patches)", "old patches", "new patches"))
            plans.append(ExperimentPlan(n.spec.path, REPLACED, profile, o.name, n.name, changes, pruned=pruned))
        elif o.experiment == n.experiment:
            plans.append(ExperimentPlan(n.spec.path, UNCHANGED, profile, o.name, n.name))
        else:
            changes = [FieldChange(f"spec.{k}", oe.get(k), ne.get(k)) for k in MUTABLE_FIELDS if oe.get(k) != ne.get(k)]
            meta = leaf_changes(o.experiment["metadata"], n.experiment["metadata"], ())
            changes += [FieldChange(c.path.replace("spec.", "metadata.", 1), c.old, c.new) for c in meta]
            plans.append(ExperimentPlan(n.spec.path, UPDATED, profile, o.name, n.name, changes))
    return plans


def make_plan(repo: Repo, base: str | None = None) -> Plan:
    ref = base or default_base(repo.root)
    _git(repo.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="katib-gitops-plan-") as tmp:
        old_repo = _repo_at(repo, ref, Path(tmp))
        old = _rendered(old_repo)
        new = _rendered(repo)
        return Plan(base=ref, experiments=compare(old, new, old_repo))


def _value(v: Any) -> str:
    return "(none)" if v is None else json.dumps(v) if not isinstance(v, str) else v


def to_text(plan: Plan) -> str:
    lines = []
    for e in plan.experiments:
        lines.append(_headline(e))
        for c in e.changes:
            lines.append(f"    {c.path}: {_value(c.old)} -> {_value(c.new)}")
    counts = {a: sum(1 for e in plan.experiments if e.action == a) for a in (ADDED, REPLACED, UPDATED, REMOVED, UNCHANGED)}
    lines.append("Plan: " + ", ".join(f"{n} {a}" for a, n in counts.items()) + ".")
    return "\n".join(lines) + "\n"


def _headline(e: ExperimentPlan) -> str:
    spec = f"{e.spec} [{e.profile}]" if e.profile else e.spec
    if e.action == ADDED:
        return f"+ {spec}: added as {e.new_name}"
    if e.action == REMOVED:
        return f"- {spec}: removed; {e.old_name} is {'pruned' if e.pruned else 'kept (its results survive)'}"
    if e.action == REPLACED:
        fate = "pruned" if e.pruned else "kept"
        return f"± {spec}: replaced: {e.old_name} -> {e.new_name} (immutable fields changed; old Experiment {fate})"
    if e.action == UPDATED:
        return f"~ {spec}: updated in place: {e.new_name}"
    return f"  {spec}: unchanged ({e.new_name})"


def to_markdown(plan: Plan) -> str:
    icons = {ADDED: "🆕", REMOVED: "🗑️", REPLACED: "♻️", UPDATED: "✏️", UNCHANGED: "✅"}
    out = [f"### katib-gitops plan (against `{plan.base[:12]}`)", "",
           "| spec | action | Experiment | details |", "| --- | --- | --- | --- |"]
    for e in plan.experiments:
        if e.action == REPLACED:
            name = f"`{e.old_name}` → `{e.new_name}`"
        else:
            name = f"`{e.new_name or e.old_name}`"
        details = "<br>".join(f"`{c.path}`: {_md(c.old)} → {_md(c.new)}" for c in e.changes)
        if e.action in (REMOVED, REPLACED):
            details = (details + "<br>" if details else "") + ("old Experiment pruned" if e.pruned else "old Experiment kept")
        spec = f"`{e.spec}` ({e.profile})" if e.profile else f"`{e.spec}`"
        out.append(f"| {spec} | {icons[e.action]} {e.action} | {name} | {details} |")
    if any(e.action == REPLACED for e in plan.experiments):
        out += ["", "Katib forbids editing an Experiment's spec beyond its trial counts, so a replaced "
                "experiment starts again under a new name."]
    return "\n".join(out) + "\n"


def _md(v: Any) -> str:
    return f"`{_value(v)}`".replace("|", "\\|")
