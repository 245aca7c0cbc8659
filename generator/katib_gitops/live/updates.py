"""Katib's rules for updating a live Experiment, applied to the Experiment a change would apply.

From Katib's validating webhook (pkg/webhook/v1beta1/experiment/validator/validator.go,
ValidateExperiment, the ``oldInst != nil`` branch), which sees both objects after the mutating webhook
(experiments/v1beta1/experiment_defaults.go SetDefault) has filled in the defaults, and compares the typed
specs with ``equality.Semantic.DeepEqual``: a spec that is semantically unchanged is no change at all
(no restart, nothing refused). When it changed:

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

from ..spec.defaults import apply_katib_defaults
from .state import RESTARTABLE_POLICIES, LiveExperiment
from ..spec.naming import MUTABLE_FIELDS

# The one part of ExperimentSpec Go keeps as unstructured.Unstructured (a map): compared key for key.
UNSTRUCTURED = ("trialTemplate", "trialSpec")


@dataclass(frozen=True)
class Refusal:
    path: tuple[str, ...]
    message: str
    rule: str


def with_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """spec as Katib holds it once its mutating webhook has run (both sides of an update have them)."""
    return apply_katib_defaults({"spec": spec if isinstance(spec, dict) else {}})["spec"]


def same_spec(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Katib's test of "the spec changed": equality.Semantic.DeepEqual of the defaulted typed specs."""
    return _semantic(with_defaults(a), with_defaults(b), ())


def changed_fields(live_spec: dict[str, Any], new_spec: dict[str, Any]) -> list[str]:
    """The top-level spec fields that differ, semantically, once Katib's defaults are on both sides."""
    old, new = with_defaults(live_spec), with_defaults(new_spec)
    return sorted(k for k in set(old) | set(new) if not _semantic(old.get(k), new.get(k), (k,)))


def refusals(live: LiveExperiment, new_spec: dict[str, Any], immutable: bool = True) -> list[Refusal]:
    """Why Katib's webhook would refuse updating live to new_spec (empty: accepted, or nothing changes).

    new_spec is what Argo CD or Flux applies: the Experiment as its deployed overlay builds it.
    immutable=False skips the immutable-fields rule (the counts rules alone).
    """
    changed = changed_fields(live.spec, new_spec)
    if not changed:
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
    if isinstance(new_max, int) and not isinstance(new_max, bool) and new_max <= trials:
        out.append(Refusal(("spec", "maxTrialCount"),
                           f"must be greater than status.trials of the live Experiment {live.namespace}/{live.name} "
                           f"({trials}): Katib refuses {new_max}", "katib-update-max-trials"))
    immutable_changes = [k for k in changed if k not in MUTABLE_FIELDS]
    if immutable and immutable_changes:
        out.append(Refusal(("spec", immutable_changes[0]),
                           f"only spec.parallelTrialCount, spec.maxTrialCount and spec.maxFailedTrialCount can "
                           f"change on the live Experiment {live.namespace}/{live.name}; this changes "
                           f"spec.{', spec.'.join(immutable_changes)}", "katib-update-immutable"))
    return out


def _zero(v: Any) -> bool:
    """Go's zero value of a typed field (omitempty: an absent field reads back as it). Numbers are not:
    Katib's counts and goal are pointers, so 0 and absent differ."""
    return v is None or v is False or (isinstance(v, (str, list, dict)) and not v)


def _semantic(a: Any, b: Any, path: tuple[str, ...]) -> bool:
    """equality.Semantic.DeepEqual over ExperimentSpec as JSON: in the typed fields an absent field equals its
    zero value (and a nil slice or map an empty one); inside the unstructured trialSpec maps are compared key
    for key (a key set to {} is not an absent key), numbers by value (JSON has one number type)."""
    if path == UNSTRUCTURED:
        return _unstructured(a, b)
    if _zero(a) and _zero(b):
        return True
    if isinstance(a, dict) or isinstance(b, dict):
        if not all(isinstance(x, dict) or _zero(x) for x in (a, b)):
            return False
        a, b = a or {}, b or {}
        return all(_semantic(a.get(k), b.get(k), (*path, k)) for k in set(a) | set(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_semantic(x, y, (*path, "[]")) for x, y in zip(a, b))
    return _scalar(a, b)


def _unstructured(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_unstructured(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_unstructured(x, y) for x, y in zip(a, b))
    return _scalar(a, b)


def _scalar(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def completed_warning(resume_policy: str) -> str:
    """What plan says of an in-place change when it has no live state."""
    if resume_policy in RESTARTABLE_POLICIES:
        return (f"Katib refuses this change if the Experiment has completed other than by reaching maxTrialCount "
                f"(goal reached, search space exhausted, or failed); resumePolicy is {resume_policy}, so after "
                f"reaching maxTrialCount it resumes when maxTrialCount grows past the trials it has")
    return (f"Katib refuses this change if the Experiment has already completed: resumePolicy is {resume_policy} "
            f"(only LongRunning or FromVolume resume); pass --live to check")
