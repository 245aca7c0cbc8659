"""Katib's rules for updating a live Experiment, applied to the Experiment a change would apply.

From Katib's validating webhook (pkg/webhook/v1beta1/experiment/validator/validator.go,
ValidateExperiment, ~L117-143), when the spec differs from the live one:

- katib-update-completed: once the Experiment completed (Succeeded or Failed), any spec change is refused
  unless it Succeeded by reaching maxTrialCount (reason ExperimentMaxTrialsReached) and its resumePolicy is
  LongRunning or FromVolume (experiment/util/status_util.go IsCompletedExperimentRestartable); reported at
  spec.resumePolicy, as Katib does.
- katib-update-max-trials: a new maxTrialCount must be greater than status.trials.
- katib-update-immutable: only parallelTrialCount, maxTrialCount and maxFailedTrialCount may change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .live import RESTARTABLE_POLICIES, LiveExperiment
from .naming import MUTABLE_FIELDS


@dataclass(frozen=True)
class Refusal:
    path: tuple[str, ...]
    message: str
    rule: str


def refusals(live: LiveExperiment, new_spec: dict[str, Any], immutable: bool = True) -> list[Refusal]:
    """Why Katib's webhook would refuse updating live to new_spec (empty: accepted, or nothing changes).

    immutable=False skips the immutable-fields rule, for callers comparing an Experiment that is not the one
    deployed (base/ before an overlay's patches).
    """
    if _same(new_spec, live.spec):
        return []
    out = []
    if live.completed and not live.restartable:
        state = live.state
        how = f"{state.type} ({state.reason})" if state and state.reason else (state.type if state else "completed")
        out.append(Refusal(("spec", "resumePolicy"),
                           f"Katib refuses any change to {live.namespace}/{live.name}: it has completed "
                           f"({how}) and a completed Experiment restarts only when it Succeeded by reaching "
                           f"maxTrialCount with resumePolicy {' or '.join(RESTARTABLE_POLICIES)} (it has "
                           f"{live.resume_policy}); change something immutable to start a new Experiment instead",
                           "katib-update-completed"))
    new_max = new_spec.get("maxTrialCount")
    trials = live.count("trials")
    if isinstance(new_max, int) and new_max <= trials:
        out.append(Refusal(("spec", "maxTrialCount"),
                           f"must be greater than status.trials of the live Experiment {live.namespace}/{live.name} "
                           f"({trials}): Katib refuses {new_max}", "katib-update-max-trials"))
    if immutable:
        changed = sorted(k for k in set(new_spec) | set(live.spec)
                         if k not in MUTABLE_FIELDS and not _same(new_spec.get(k), live.spec.get(k)))
        if changed:
            out.append(Refusal(("spec",), f"only spec.parallelTrialCount, spec.maxTrialCount and "
                               f"spec.maxFailedTrialCount can change on the live Experiment "
                               f"{live.namespace}/{live.name}; this changes spec.{', spec.'.join(changed)}",
                               "katib-update-immutable"))
    return out


def _same(a: Any, b: Any) -> bool:
    """equality.Semantic.DeepEqual, near enough: an absent field equals an empty one (Go's omitempty)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(_same(a.get(k), b.get(k)) for k in set(a) | set(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a in (None, "", [], {}) and b in (None, "", [], {}):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def completed_warning(resume_policy: str) -> str:
    """What plan says of an in-place change when it has no live state."""
    if resume_policy in RESTARTABLE_POLICIES:
        return (f"Katib refuses this change if the Experiment has completed other than by reaching maxTrialCount "
                f"(goal reached, search space exhausted, or failed); resumePolicy is {resume_policy}, so after "
                f"reaching maxTrialCount it resumes when maxTrialCount grows past the trials it has")
    return (f"Katib refuses this change if the Experiment has already completed: resumePolicy is {resume_policy} "
            f"(only LongRunning or FromVolume resume); pass --live to check")
