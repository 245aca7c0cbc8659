"""status: every Experiment of the repository as the cluster reports it.

Joins the rendered repository (each spec's current Experiment name, the overlays that deploy it) with the
live state (``live``): condition and reason, trial counts, best trial and its parameters. Live Experiments
made from the same spec under an older hash (label ``katib-gitops.dev/spec``, else the name pattern
``<spec>-<hash>``) are listed as superseded by the current one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..live.state import BestTrial, LiveExperiment, LiveState
from ..spec.naming import HASH_LEN
from ..profiles.layout import PROFILE_LABEL, SPEC_LABEL
from ..repo.repository import Repo


@dataclass
class ExperimentStatus:
    spec: str  # spec name
    spec_file: str
    name: str
    namespace: str
    current: bool  # the name the working tree renders (False: an older hash still on the cluster)
    superseded_by: str | None = None
    deployed_under: list[str] = field(default_factory=list)
    live: LiveExperiment | None = None

    @property
    def hash(self) -> str | None:
        prefix = f"{self.spec}-"
        return self.name[len(prefix):] if self.name.startswith(prefix) else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"spec": self.spec, "file": self.spec_file, "name": self.name,
                               "namespace": self.namespace, "hash": self.hash, "current": self.current,
                               "superseded_by": self.superseded_by, "deployed_under": self.deployed_under}
        if self.live is None:
            out["live"] = None
            return out
        state = self.live.state
        best = self.live.best_trial
        out["live"] = {
            "condition": state.type if state else None,
            "reason": state.reason if state else None,
            "message": state.message if state else None,
            "completionTime": self.live.completion_time,
            "trials": {k: self.live.count(k) for k in ("trials", "trialsSucceeded", "trialsFailed", "trialsRunning",
                                                       "trialsPending", "trialsKilled", "trialsEarlyStopped",
                                                       "trialMetricsUnavailable")},
            "bestTrial": None if best is None else best_trial_record(best),
        }
        return out


def best_trial_record(best: BestTrial) -> dict[str, Any]:
    """The best trial as status --output json and results/<spec>.yaml record it: its parameters, each metric's
    min/max/latest as Katib reports them, and the objective's value by its metricStrategy (Katib's ranking)."""
    out: dict[str, Any] = {"name": best.name, "parameters": dict(sorted(best.parameters.items())),
                           "metrics": {k: dict(v) for k, v in sorted(best.metrics.items())}}
    if best.objective and best.objective in best.metrics:
        out["objective"] = {"metric": best.objective, "strategy": best.strategies.get(best.objective, "latest"),
                            "value": best.objective_value}
    return out


def _of_spec(live: LiveExperiment, spec: str, profile: str | None = None) -> bool:
    label = live.labels.get(SPEC_LABEL)
    if label is not None:
        # An Experiment of the same spec under another profile is that profile's, not superseded by this one.
        return label == spec and (profile is None or live.labels.get(PROFILE_LABEL, profile) == profile)
    return re.fullmatch(re.escape(spec) + f"-[0-9a-f]{{{HASH_LEN}}}", live.name) is not None


def repo_status(repo: Repo, live: LiveState) -> list[ExperimentStatus]:
    from ..plan.sides import load_side  # the rendered tree with its deployed overlays built

    side = load_side(repo)
    rows: list[ExperimentStatus] = []
    current = {r.name for r in side.experiments.values()}
    reported: set[tuple[str, str]] = set()  # an old Experiment without a profile label is listed once
    for (spec_name, profile), r in sorted(side.experiments.items()):
        namespace = str(r.experiment["metadata"].get("namespace") or repo.config.namespace)
        rows.append(ExperimentStatus(spec_name, r.spec.path, r.name, namespace, True, None,
                                     sorted(side.deployments(r.name)), live.get(r.name, namespace)))
        for (ns, name), e in sorted(live.experiments.items()):
            if name not in current and (ns, name) not in reported and _of_spec(e, spec_name, profile):
                reported.add((ns, name))
                rows.append(ExperimentStatus(spec_name, r.spec.path, name, ns, False, r.name, [], e))
    return rows
