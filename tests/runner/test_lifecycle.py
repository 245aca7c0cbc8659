"""Katib's experiment conditions, checked in Katib's order, and median stopping."""

from __future__ import annotations

import dataclasses

import pytest

from katib_gitops.io.findings import UserError
from katib_gitops.runner.lifecycle import Counts, MedianStop, experiment_condition
from katib_gitops.runner.experiment_view import plan_from_experiment

from runner_helpers import experiment


def plan(**kw):
    return plan_from_experiment(experiment(["true"], **kw))


def test_goal_reached_wins_over_everything_else():
    p = plan(goal=0.9, max_trials=2, max_failed=1)
    c = Counts(succeeded=1, failed=1)
    cond = experiment_condition(p, c, 0.95, exhausted=True)
    assert (cond.type, cond.reason) == ("Succeeded", "ExperimentGoalReached")


def test_goal_direction_follows_the_objective():
    p = plan(goal=0.1, type_="minimize")
    assert experiment_condition(p, Counts(succeeded=1, running=1), 0.2, False) is None
    assert experiment_condition(p, Counts(succeeded=1, running=1), 0.1, False).reason == "ExperimentGoalReached"


def test_failed_trials_including_metrics_unavailable_fail_the_experiment():
    p = plan(max_failed=3, max_trials=10)
    assert experiment_condition(p, Counts(failed=2, running=1), None, False) is None
    cond = experiment_condition(p, Counts(failed=2, metrics_unavailable=1, running=1), None, False)
    assert (cond.type, cond.reason) == ("Failed", "ExperimentFailed")  # status_util.go ExperimentFailedReason


def test_max_failed_zero_fails_on_the_first_failure_only():
    p = plan(max_failed=0, max_trials=10)
    assert experiment_condition(p, Counts(succeeded=3, running=1), None, False) is None
    assert experiment_condition(p, Counts(failed=1, running=1), None, False).type == "Failed"


def test_no_max_failed_means_failures_never_fail_the_experiment():
    p = dataclasses.replace(plan(max_trials=10), max_failed_trial_count=None)
    assert experiment_condition(p, Counts(failed=9, running=1), None, False) is None


def test_failure_limit_is_checked_before_max_trials():
    p = plan(max_failed=2, max_trials=4)
    assert experiment_condition(p, Counts(succeeded=2, failed=2), 0.5, False).type == "Failed"


def test_max_trials_counts_every_completed_trial():
    p = plan(max_failed=5, max_trials=5)
    c = Counts(succeeded=1, failed=1, metrics_unavailable=1, early_stopped=1, killed=1)
    assert c.completed == 5
    assert experiment_condition(p, c, 0.5, False).reason == "ExperimentMaxTrialsReached"


def test_exhausted_suggestions_leave_the_experiment_running_as_katib_does():
    # status_util.go always passes getSuggestionDone=false: Katib never reports the end of a grid.
    p = plan(max_trials=30)
    assert experiment_condition(p, Counts(succeeded=26, running=1), 0.5, True, 27) is None
    cond = experiment_condition(p, Counts(succeeded=27), 0.5, True, 27)
    assert cond.type == "Running" and cond.reason != "ExperimentSuggestionEndReached"
    assert cond.message == ("the cluster would keep this Experiment Running: grid has 27 points, "
                            "maxTrialCount is 30; its suggestion would fail for want of new points")


def test_median_stop_needs_min_trials_then_compares_from_start_step():
    p = plan(early_stopping={"algorithmName": "medianstop", "algorithmSettings": [
        {"name": "min_trials_required", "value": "2"}, {"name": "start_step", "value": "2"}]})
    ms = MedianStop.from_plan(p)
    assert (ms.min_trials_required, ms.start_step) == (2, 2)
    ms.add_succeeded("a", [0.8, 0.9, 0.1])  # only the first start_step reports count: 0.85
    assert ms.current_rule() is None
    ms.add_succeeded("b", [0.6, 0.6])  # 0.6
    ms.add_succeeded("c", [0.7, 0.7])  # 0.7
    ms.add_succeeded("d", [0.1, 0.1])  # 0.1
    rule = ms.current_rule()
    # medianstop service.py get_median_value: the mean of the averages (0.5625), not their median (0.65).
    assert rule.value == pytest.approx((0.85 + 0.6 + 0.7 + 0.1) / 4)
    assert not rule.should_stop([0.1])  # before start_step
    # main.go updateStopRules: the best so far is compared, once, at the start_step-th report.
    assert rule.should_stop([0.5, 0.4])
    assert not rule.should_stop([0.1, 0.6])  # best so far 0.6 beats 0.5625 although the latest does not
    assert not rule.should_stop([0.1, 0.1, 0.1])  # after start_step: the rule is not looked at again


def test_median_stop_for_minimize_stops_higher_values():
    p = plan(type_="minimize", early_stopping={"algorithmName": "medianstop", "algorithmSettings": [
        {"name": "min_trials_required", "value": "1"}, {"name": "start_step", "value": "1"}]})
    ms = MedianStop.from_plan(p)
    ms.add_succeeded("a", [1.0])
    assert ms.current_rule().should_stop([1.5])
    assert not ms.current_rule().should_stop([0.5])


@pytest.mark.parametrize("settings, needle, where", [
    ([{"name": "patience", "value": "3"}], "unknown setting 'patience' for medianstop",
     "spec.earlyStopping.algorithmSettings[0].name"),
    ([{"name": "start_step", "value": "x"}], "'x' is not an integer", "spec.earlyStopping.algorithmSettings[0].value"),
    ([{"name": "min_trials_required", "value": "0"}], "min_trials_required must be at least 1",
     "spec.earlyStopping.algorithmSettings[0].value"),
])
def test_bad_median_stop_settings_are_user_errors(settings, needle, where):
    p = plan(early_stopping={"algorithmName": "medianstop", "algorithmSettings": settings})
    with pytest.raises(UserError) as exc:
        MedianStop.from_plan(p)
    assert needle in exc.value.finding.message
    assert exc.value.finding.dotted == where


def test_other_early_stopping_algorithms_are_not_available_locally():
    with pytest.raises(UserError, match="not available locally"):
        MedianStop.from_plan(plan(early_stopping={"algorithmName": "asha"}))
