"""What a plan holds: one entry per experiment, the action, field-level changes, deployments and GPUs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..io.findings import format_path
from ..io.safetext import clean_lines

ADDED, REMOVED, UNCHANGED, UPDATED, REPLACED = "added", "removed", "unchanged", "updated in place", "replaced"
ACTIONS = (ADDED, REPLACED, UPDATED, REMOVED, UNCHANGED)
# plan's exit status when it prints that Katib will refuse a sync (needs --live); 1 is broken specs, 2 usage.
EXIT_REFUSED = 3


@dataclass
class FieldChange:
    path: str
    old: Any
    new: Any


@dataclass
class Deployment:
    overlay: str
    via: list[str]
    gpus_per_trial: int
    parallel: int

    @property
    def gpus(self) -> int:
        return self.gpus_per_trial * self.parallel


@dataclass
class LiveSummary:
    name: str
    condition: str
    reason: str
    trials: int
    running: int
    resume_policy: str


@dataclass
class ExperimentPlan:
    spec: str
    action: str
    old_name: str | None = None
    new_name: str | None = None
    changes: list[FieldChange] = field(default_factory=list)
    pruned: bool | None = None  # for removed and replaced: is the old Experiment deleted?
    namespace: str | None = None
    deployments: list[Deployment] = field(default_factory=list)  # the new Experiment's (the old one's if removed)
    old_deployments: list[Deployment] = field(default_factory=list)  # replaced: the old Experiment's
    notes: list[str] = field(default_factory=list)  # what a reviewer must know
    refused: list[str] = field(default_factory=list)  # Katib's webhook will refuse the sync (live state)
    live: LiveSummary | None = None
    profile: str = ""  # the profile this Experiment is deployed under (a spec may deploy under several)
    summary: str = ""  # added: what it runs, in one line (algorithm, objective, parameters, budget, image)

    @property
    def gpus(self) -> int:
        return sum(d.gpus for d in self.deployments)

    @property
    def label(self) -> str:
        """The spec, and the profile when there is one: `experiments/iris.yaml [gpu]`."""
        return f"{self.spec} [{self.profile}]" if self.profile else self.spec


@dataclass
class Plan:
    base: str
    experiments: list[ExperimentPlan]
    live_source: str | None = None
    deploy: list[Any] = field(default_factory=list)  # deploy_changes.DeployChange: deploy/ objects changed

    @property
    def refused(self) -> bool:
        """Katib will refuse at least one sync (known only with live state): plan exits EXIT_REFUSED."""
        return any(e.refused for e in self.experiments)

    @property
    def gpu_total(self) -> int:
        """GPUs at once for the Experiments this change starts or changes."""
        return sum(e.gpus for e in self.experiments if e.action in (ADDED, REPLACED, UPDATED))

    @property
    def gpu_kept(self) -> int:
        """GPUs the replaced Experiments it keeps (no pruning) can still hold while they run."""
        return sum(d.gpus for e in self.experiments if e.action == REPLACED and not e.pruned
                   for d in e.old_deployments)

    def to_dict(self) -> dict[str, Any]:
        experiments = []
        for e in self.experiments:
            d = asdict(e)
            d["gpus"] = e.gpus
            for dep in d["deployments"] + d["old_deployments"]:
                dep["gpus"] = dep["gpus_per_trial"] * dep["parallel"]
            experiments.append(d)
        return {"base": self.base, "live": self.live_source, "refused": self.refused, "gpu_total": self.gpu_total,
                "gpu_kept": self.gpu_kept, "experiments": experiments, "deploy": [asdict(d) for d in self.deploy]}

    def to_json(self) -> str:
        return clean_lines(json.dumps(self.to_dict(), indent=2)) + "\n"  # JSON's own escapes: the data is kept


def leaf_changes(old: Any, new: Any, path: tuple = ("spec",)) -> list[FieldChange]:
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
        return [FieldChange(format_path(path), old, new)]
    return []
