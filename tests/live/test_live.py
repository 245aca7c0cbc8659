"""The live-state loader and Katib's update rules, on the recorded kubectl output."""

from __future__ import annotations

import pytest

from katib_gitops.io.findings import UserError
from katib_gitops.live.state import (
    CONDITION_TYPES,
    GOAL_REACHED,
    MAX_TRIALS_REACHED,
    SUGGESTION_END_REACHED,
    load_live,
    parse_live,
)
from katib_gitops.live.updates import refusals

from live_support import FIXTURE, STATES, item

EXPECTED = {  # state -> (shown condition, reason, completed, restartable)
    "created": ("Created", "ExperimentCreated", False, False),
    "running": ("Running", "ExperimentRunning", False, False),
    "goal-reached": ("Succeeded", GOAL_REACHED, True, False),
    "max-trials": ("Succeeded", MAX_TRIALS_REACHED, True, True),
    "max-trials-never": ("Succeeded", MAX_TRIALS_REACHED, True, False),
    "suggestion-end": ("Succeeded", SUGGESTION_END_REACHED, True, False),
    "failed": ("Failed", "ExperimentFailed", True, False),
    "suggestion-failed": ("Failed", "ExperimentFailed", True, False),
    "restarting": ("Restarting", "ExperimentRestarting", False, False),
    "resumed": ("Running", "ExperimentRunning", False, False),
}


@pytest.fixture(scope="module")
def state():
    return load_live(str(FIXTURE))


def test_fixture_covers_every_condition_and_reason_katib_sets(state):
    seen = {(c.type, c.reason) for e in state.experiments.values() for c in e.conditions}
    assert {t for t, _ in seen} == set(CONDITION_TYPES)
    assert {r for _, r in seen} == {"ExperimentCreated", "ExperimentRunning", "ExperimentRestarting", GOAL_REACHED,
                                    MAX_TRIALS_REACHED, SUGGESTION_END_REACHED, "ExperimentFailed"}


@pytest.mark.parametrize("name", STATES)
def test_states(state, name):
    e = state.get(f"iris-{name}", "kubeflow")
    shown, reason, completed, restartable = EXPECTED[name]
    assert (e.state.type, e.state.reason, e.completed, e.restartable) == (shown, reason, completed, restartable)
    assert (e.completion_time is not None) == completed


def test_best_trial_and_counts(state):
    e = state.get("iris-max-trials")
    assert e.best_trial.name == "iris-max-trials-t-s0"
    assert e.best_trial.parameters == {"penalty": "l2", "tol": "0.0001", "C": "1.00", "max_iter": "10"}
    assert e.best_trial.metrics["accuracy"]["max"] == "0.9667"
    assert (e.count("trials"), e.count("trialsSucceeded"), e.count("trialsFailed")) == (12, 11, 1)
    assert state.get("iris-created").best_trial is None


def test_untrusted_shapes_are_skipped_or_one_line_errors(tmp_path):
    # Odd status fields are read as Katib's types allow (the rest ignored); the object itself must be one.
    s = parse_live("apiVersion: v1\nkind: List\nitems: [{kind: Experiment, apiVersion: kubeflow.org/v1beta1, "
                   "metadata: {name: a}, status: {conditions: [7, {type: Running, status: 'True'}], trials: x}}]\n", "f")
    a = s.get("a", "default")
    assert a.state.type == "Running" and a.count("trials") == 0 and a.best_trial is None
    with pytest.raises(UserError) as err:  # what is not an Experiment is not skipped
        parse_live("apiVersion: v1\nkind: List\nitems: [1]\n", "f")
    assert err.value.exit_code == 2 and "items[0] is not a kubeflow.org Experiment (int)" in err.value.finding.message
    with pytest.raises(UserError) as err:
        parse_live("kind: Experiment\napiVersion: kubeflow.org/v1beta1\nmetadata: {}\n", "f.yaml")
    assert err.value.exit_code == 2 and "metadata.name" in err.value.finding.one_line()
    with pytest.raises(UserError) as err:
        load_live(str(tmp_path / "missing.yaml"))
    assert err.value.exit_code == 2


def _new_spec(live_item: dict, **changes) -> dict:
    spec = dict(live_item["spec"])
    spec.update(changes)
    return spec


@pytest.mark.parametrize("name,refused", [("running", False), ("max-trials", False), ("max-trials-never", True),
                                          ("goal-reached", True), ("suggestion-end", True), ("failed", True),
                                          ("restarting", False)])
def test_completed_rule(state, name, refused):
    e = state.get(f"iris-{name}")
    rules = {r.rule for r in refusals(e, _new_spec(item(name), maxTrialCount=40))}
    assert ("katib-update-completed" in rules) == refused


def test_max_trials_must_exceed_status_trials(state):
    e = state.get("iris-max-trials")  # status.trials 12, maxTrialCount 12: a change that keeps it is refused
    assert [r.rule for r in refusals(e, _new_spec(item("max-trials"), parallelTrialCount=2))] == \
        ["katib-update-max-trials"]
    assert refusals(e, _new_spec(item("max-trials"), maxTrialCount=13)) == []


def test_unchanged_spec_is_never_refused_and_immutable_change_is(state):
    e = state.get("iris-failed")
    assert refusals(e, item("failed")["spec"]) == []
    r = refusals(state.get("iris-running"), _new_spec(item("running"), resumePolicy="Never"))
    assert [x.rule for x in r] == ["katib-update-immutable"] and "spec.resumePolicy" in r[0].message


def test_kubectl_without_a_context_says_what_to_do(monkeypatch, tmp_path):
    import shutil

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    with pytest.raises(UserError) as err:
        load_live("kubectl")
    assert err.value.exit_code == 2 and "no kubectl context" in err.value.finding.message
