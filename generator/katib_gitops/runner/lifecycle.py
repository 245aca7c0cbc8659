"""Katib's experiment and trial lifecycle, and median-stop early stopping.

The experiment's condition is decided after every trial update, in the order
Katib's controller checks it (status_util.go UpdateExperimentStatusCondition):
goal reached, then too many failed trials, then max trials. Katib's
"suggestion end reached" branch is never taken (UpdateExperimentStatus always
passes false): an algorithm that runs out of points leaves the Experiment
Running with its suggestion failing. Locally the run stops there, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .experiment_view import Algorithm, Plan

# Trial conditions, named as Katib names them.
SUCCEEDED = "Succeeded"
FAILED = "Failed"
METRICS_UNAVAILABLE = "MetricsUnavailable"
EARLY_STOPPED = "EarlyStopped"
KILLED = "Killed"
TRIAL_STATUSES = (SUCCEEDED, FAILED, METRICS_UNAVAILABLE, EARLY_STOPPED, KILLED)

# Experiment condition types and reasons.
EXPERIMENT_SUCCEEDED = "Succeeded"
EXPERIMENT_FAILED = "Failed"
EXPERIMENT_RUNNING = "Running"
MAX_TRIALS_REACHED = "ExperimentMaxTrialsReached"


@dataclass(frozen=True)
class Condition:
    type: str
    reason: str
    message: str


@dataclass
class Counts:
    succeeded: int = 0
    failed: int = 0
    metrics_unavailable: int = 0
    early_stopped: int = 0
    killed: int = 0
    running: int = 0

    def add(self, status: str) -> None:
        attr = {
            SUCCEEDED: "succeeded", FAILED: "failed", METRICS_UNAVAILABLE: "metrics_unavailable",
            EARLY_STOPPED: "early_stopped", KILLED: "killed",
        }[status]
        setattr(self, attr, getattr(self, attr) + 1)

    @property
    def completed(self) -> int:
        return self.succeeded + self.failed + self.metrics_unavailable + self.early_stopped + self.killed

    @property
    def completed_for_creation(self) -> int:
        """experiment_controller.go ReconcileTrials: MetricsUnavailable trials are left out
        when deciding how many trials to create, so each one makes room for another."""
        return self.completed - self.metrics_unavailable

    @property
    def failed_total(self) -> int:
        # Katib counts "metrics unavailable" trials as failures for maxFailedTrialCount.
        return self.failed + self.metrics_unavailable


def experiment_condition(
    plan: Plan, counts: Counts, best: float | None, exhausted: bool, space_size: int | None = None,
    goal_reached: bool | None = None,
) -> Condition | None:
    """The experiment's terminal condition, or None while it keeps running. goal_reached: as Katib's
    controller decides it (results.katib_best); without it, best is compared with the goal."""
    obj = plan.objective
    if goal_reached if goal_reached is not None else (best is not None and obj.reached(best)):
        shown = f" ({best:g})" if best is not None else ""
        return Condition(EXPERIMENT_SUCCEEDED, "ExperimentGoalReached",
                         f"objective goal {obj.metric} {'>=' if obj.maximize else '<='} "
                         f"{obj.goal:g} reached{shown}")
    limit = plan.max_failed_trial_count
    if limit is not None and counts.failed_total > 0 and counts.failed_total >= limit:
        return Condition(EXPERIMENT_FAILED, "ExperimentFailed",
                         f"{counts.failed_total} trials failed (maxFailedTrialCount {limit})")
    if plan.max_trial_count is not None and counts.completed >= plan.max_trial_count:
        return Condition(EXPERIMENT_SUCCEEDED, MAX_TRIALS_REACHED,
                         f"{counts.completed} trials completed (maxTrialCount {plan.max_trial_count})")
    if exhausted and counts.running == 0:
        return Condition(EXPERIMENT_RUNNING, SUGGESTION_END,
                         f"the cluster would keep this Experiment Running: {exhausted_reason(plan, space_size)}")
    return None


# Not a Katib reason: Katib never reports the end of suggestions (see above).
SUGGESTION_END = "SuggestionsExhaustedLocally"


def exhausted_reason(plan: Plan, size: int | None) -> str:
    limit = "no maxTrialCount" if plan.max_trial_count is None else f"maxTrialCount is {plan.max_trial_count}"
    what = f"grid has {size} points" if size is not None else \
        f"the {plan.algorithm.name} algorithm has no more suggestions"
    return f"{what}, {limit}; its suggestion would fail for want of new points"


@dataclass(frozen=True)
class StopRule:
    """An early-stopping rule as the metrics collector applies it.

    cmd/metricscollector/v1beta1/file-metricscollector/main.go updateStopRules:
    the value compared is the trial's best so far (max when maximizing), and it
    is compared once, at the trial's ``start_step``-th report of the metric.
    medianstop's comparison is "less" when maximizing, "greater" when minimizing.
    """

    metric: str
    value: float
    maximize: bool
    start_step: int

    def should_stop(self, values: Sequence[float]) -> bool:
        if self.start_step and len(values) != self.start_step:
            return False
        best = max(values) if self.maximize else min(values)
        return best < self.value if self.maximize else best > self.value


@dataclass
class MedianStop:
    """Katib's medianstop (pkg/earlystopping/v1beta1/medianstop/service.py).

    Once ``min_trials_required`` trials succeeded, each new trial gets a rule
    whose value is the *mean* of the succeeded trials' averages over their
    first ``start_step`` reports (get_median_value sums the averages and
    divides by their count, despite its name).
    """

    metric: str
    maximize: bool
    min_trials_required: int = 3
    start_step: int = 4
    history: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_plan(cls, plan: Plan) -> "MedianStop | None":
        es = plan.early_stopping
        if es is None:
            return None
        if es.name != "medianstop":
            raise plan.error(f"early stopping algorithm {es.name!r} is not available locally "
                             "(only medianstop)", (*es.path, "algorithmName"))
        rule = cls(plan.objective.metric, plan.objective.maximize)
        rule.configure(plan, es)
        return rule

    def configure(self, plan: Plan, es: Algorithm) -> None:
        for s in es.settings:
            if s.name not in ("min_trials_required", "start_step"):
                raise plan.error(f"unknown setting {s.name!r} for medianstop "
                                 "(min_trials_required, start_step)", (*s.path, "name"))
            try:
                number = int(s.value)
            except ValueError:
                raise plan.error(f"{s.value!r} is not an integer", (*s.path, "value")) from None
            minimum = 1
            if number < minimum:
                raise plan.error(f"{s.name} must be at least {minimum}", (*s.path, "value"))
            setattr(self, s.name, number)

    def add_succeeded(self, trial: str, values: Iterable[float]) -> None:
        first = list(values)[: self.start_step]
        if first:
            self.history[trial] = sum(first) / len(first)

    def current_rule(self) -> StopRule | None:
        if len(self.history) < self.min_trials_required:
            return None
        averages = [self.history[k] for k in sorted(self.history)]
        return StopRule(self.metric, sum(averages) / len(averages), self.maximize, self.start_step)
