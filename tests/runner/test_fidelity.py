"""A local run predicts what the same Experiment does on Katib: one test per behaviour of issue 12.

Each runs a real (small, quick) trial command through ``katib-gitops run``;
the Katib source each behaviour comes from is named in the runner's modules.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from katib_gitops.cli import main as cli_main
from katib_gitops.runner.experiment_view import plan_from_experiment
from katib_gitops.runner.run_records import ResultsFile
from katib_gitops.runner.suggest import make_suggester

from runner_helpers import experiment

FILE_JSON = {"collector": {"kind": "File"}, "source": {"fileSystemPath": {
    "path": "/var/log/katib/metrics.json", "kind": "File", "format": "JSON"}}}
FILE_TEXT = {"collector": {"kind": "File"}, "source": {"fileSystemPath": {
    "path": "/var/log/katib/metrics.log", "kind": "File", "format": "TEXT"}}}


def run_cli(tmp_path: Path, exp: dict, *extra: str, capsys=None) -> tuple[int, list, str]:
    """``katib-gitops run`` on EXP (trials run in tmp_path); (exit status, records, stdout+stderr)."""
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(exp))
    out = tmp_path / "out"
    code = cli_main(["run", str(spec), "--workdir", str(tmp_path), "--out", str(out), "--no-plot", *extra])
    text = ""
    if capsys is not None:
        captured = capsys.readouterr()
        text = captured.out + captured.err
    return code, ResultsFile(out).load(), text


def grid_seed(exp: dict, wanted) -> int:
    """A seed whose grid order satisfies ``wanted(list of first values)``."""
    name = exp["spec"]["parameters"][0]["name"]
    for seed in range(200):
        s = make_suggester(plan_from_experiment(exp), seed, [])
        order = []
        while (suggestion := s.ask()) is not None:
            order.append(suggestion.assignments[name])
        if wanted(order):
            return seed
    raise AssertionError("no seed gives that order")


def discrete(*values: str) -> list[dict]:
    return [{"name": "q", "parameterType": "discrete", "feasibleSpace": {"list": list(values)}}]


# 1. How the command runs (pod/utils.go wrapWorkerContainer)

def test_python_dash_c_fails_as_on_the_cluster_because_the_command_is_joined_into_sh_c(tmp_path, capsys):
    exp = experiment(["python3", "-c", "print('accuracy=0.5')  # ${trialParameters.x}"],
                     max_trials=1, parallel=1, max_failed=1)
    code, (r,), text = run_cli(tmp_path, exp, capsys=capsys)
    assert code == 1 and r.status == "Failed" and r.exit_code == 2  # sh: syntax error near "("
    assert "Syntax error" in text or "syntax error" in text  # the last lines of its output, printed
    assert f"log: {tmp_path / 'out' / 'trials' / r.name / 'container.log'}" in text  # sh said it there


def test_a_two_command_sh_c_only_collects_metrics_from_the_last_command(tmp_path):
    exp = experiment(["sh", "-c", "echo accuracy=0.9; echo accuracy=0.${trialParameters.q} name=$KATIB_TRIAL_NAME"],
                     parameters=discrete("1"), algorithm="grid", max_trials=1, parallel=1)
    code, (r,), _ = run_cli(tmp_path, exp)
    assert code == 0 and r.objective == 0.1  # 0.9 went to the container's log, not the metrics file
    trial = tmp_path / "out" / "trials" / r.name
    assert (trial / "container.log").read_text() == "accuracy=0.9\n"
    assert (trial / "output.log").read_text() == f"accuracy=0.1 name={r.name}\n"  # KATIB_TRIAL_NAME is set


def test_no_collector_runs_the_command_as_written(tmp_path):
    exp = experiment(["python3", "-c", "print('accuracy=0.5', '${trialParameters.x}')"], max_trials=1,
                     parallel=1, collector={"collector": {"kind": "None"}})
    code, (r,), _ = run_cli(tmp_path, exp)
    assert code == 0 and r.status == "Succeeded" and r.metrics == {}


# 2. Running trials when the Experiment finishes (experiment_controller.go)

FAST_AND_SLOW = "case ${trialParameters.q} in 9) echo accuracy=0.99;; *) sleep 0.6; echo accuracy=0.5;; esac"


def _goal_while_one_runs(tmp_path: Path) -> dict:
    exp = experiment(["sh", "-c", FAST_AND_SLOW], parameters=discrete("9", "1"), algorithm="grid",
                     goal=0.9, max_trials=2, parallel=2)
    return exp


def test_trials_running_when_the_experiment_completes_finish_and_count(tmp_path, capsys):
    code, records, text = run_cli(tmp_path, _goal_while_one_runs(tmp_path), capsys=capsys)
    assert code == 0 and sorted(r.status for r in records) == ["Succeeded", "Succeeded"]
    assert "ExperimentGoalReached" in text
    assert "1 trial(s) still running when the Experiment completed were allowed to finish" in text
    status = yaml.safe_load((tmp_path / "out" / "status.yaml").read_text())["status"]
    assert status["trialsSucceeded"] == 2 and status["conditions"][0]["reason"] == "ExperimentGoalReached"


def test_stop_on_finish_kills_them_and_says_so(tmp_path, capsys):
    code, records, text = run_cli(tmp_path, _goal_while_one_runs(tmp_path), "--stop-on-finish", capsys=capsys)
    assert code == 0 and sorted(r.status for r in records) == ["Killed", "Succeeded"]
    assert "were killed (--stop-on-finish; Katib lets them finish)" in text


# 3. Metrics that are not numbers

def test_accuracy_nan_records_an_empty_value_and_the_trial_succeeds(tmp_path):
    exp = experiment(["sh", "-c", "echo accuracy=nan x=${trialParameters.x}"], max_trials=1, parallel=1)
    code, (r,), _ = run_cli(tmp_path, exp)
    assert (r.status, r.objective) == ("Succeeded", None)
    assert r.metrics == {"accuracy": {"min": "unavailable", "max": "unavailable", "latest": ""}}
    assert code == 0  # ExperimentMaxTrialsReached: one completed trial


# 4. latest: the newest timestamp wins, and non-numeric values count

def test_latest_takes_the_newest_timestamp_not_the_last_line(tmp_path):
    lines = ['{"accuracy": "0.2", "timestamp": "2024-05-01T10:00:02Z"}',
             '{"accuracy": "0.9", "timestamp": "2024-05-01T10:00:01Z"}']
    (tmp_path / "m.json").write_text("\n".join(lines) + "\n")
    exp = experiment(["sh", "-c", "cp m.json /var/log/katib/metrics.json # ${trialParameters.x}"],
                     max_trials=1, parallel=1, collector=FILE_JSON,
                     strategies=[{"name": "accuracy", "value": "latest"}])
    code, (r,), _ = run_cli(tmp_path, exp)
    assert (r.status, r.objective) == ("Succeeded", 0.2)
    assert r.metrics["accuracy"] == {"min": 0.2, "max": 0.9, "latest": 0.2}


def test_latest_counts_a_value_that_is_not_a_number(tmp_path):
    exp = experiment(["sh", "-c", ": ${trialParameters.x}; { echo accuracy=0.7; echo accuracy=done; }"],
                     max_trials=1, parallel=1, strategies=[{"name": "accuracy", "value": "latest"}],
                     collector={"collector": {"kind": "StdOut"},
                                "source": {"filter": {"metricsFormat": [r"(accuracy)=(\S+)"]}}})
    code, (r,), _ = run_cli(tmp_path, exp)
    assert r.status == "Succeeded" and r.objective is None  # latest is "done"
    assert r.metrics["accuracy"] == {"min": 0.7, "max": 0.7, "latest": "done"}


# 5. Early stopping: best so far, once, at start_step; the threshold is a mean

# q is the value every report of a trial gives, "a-b" reports a, then b for the rest.
EARLY = ('v=${trialParameters.q}; a=${v%-*}; b=${v#*-}; { echo accuracy=$a; '
         'for i in 2 3 4 5 6 7 8; do sleep 0.05; echo accuracy=$b; done; }')


def test_median_stop_uses_the_best_so_far_once_against_the_mean(tmp_path):
    # Succeeded trials average 0.9, 0.8 and 0.1 over their first 2 reports: mean 0.6 (median 0.8).
    exp = experiment(["sh", "-c", EARLY], parameters=discrete("0.9-0.9", "0.8-0.8", "0.1-0.1", "0.7-0.3",
                                                                "0.5-0.55"),
                     algorithm="grid", max_trials=5, parallel=1,
                     early_stopping={"algorithmName": "medianstop", "algorithmSettings": [
                         {"name": "min_trials_required", "value": "3"}, {"name": "start_step", "value": "2"}]})
    exp["spec"]["maxFailedTrialCount"] = 5
    seed = grid_seed(exp, lambda order: set(order[:3]) == {"0.9-0.9", "0.8-0.8", "0.1-0.1"})
    code, records, _ = run_cli(tmp_path, exp, "--seed", str(seed))
    status = {r.parameters["q"]: r.status for r in records}
    # 0.7 then 0.3: best so far at report 2 is 0.7 >= 0.6, and the rule is not looked at again.
    assert status["0.7-0.3"] == "Succeeded"
    # Its average over 2 reports (0.5) joins the history: the mean is now 0.575 (median 0.65).
    # 0.5 then 0.55: best so far 0.55 < 0.575 at report 2: stopped there.
    assert status["0.5-0.55"] == "EarlyStopped"
    stopped = next(r for r in records if r.status == "EarlyStopped")
    assert "mean 0.575" in stopped.message


# 6. MetricsUnavailable trials do not count when the controller creates trials

def test_a_metrics_unavailable_trial_makes_room_for_an_extra_trial(tmp_path):
    script = "case ${trialParameters.q} in mu) echo nothing;; *) sleep 0.4; echo accuracy=0.5;; esac"
    exp = experiment(["sh", "-c", script], parameters=discrete("mu", "a", "b", "c"), algorithm="grid",
                     max_trials=3, parallel=3)
    seed = grid_seed(exp, lambda order: "mu" in order[:3])
    code, records, _ = run_cli(tmp_path, exp, "--seed", str(seed))
    assert len(records) == 4  # the controller's completedCount leaves MetricsUnavailable out
    assert sorted(r.status for r in records) == ["MetricsUnavailable", "Succeeded", "Succeeded", "Succeeded"]
    status = yaml.safe_load((tmp_path / "out" / "status.yaml").read_text())["status"]
    assert status["conditions"][0]["reason"] == "ExperimentMaxTrialsReached" and code == 0


# 7. File collector failures crash the collector: the trial Fails

@pytest.mark.parametrize("collector, script, needle", [
    (FILE_TEXT, "echo accuracy=0.5 # ${trialParameters.x}", "was not written"),
    (FILE_JSON, "printf 'accuracy=0.5\\n' > /var/log/katib/metrics.json # ${trialParameters.x}", "is not JSON"),
])
def test_a_missing_file_or_a_line_that_is_not_json_fails_the_trial(tmp_path, collector, script, needle):
    exp = experiment(["sh", "-c", script], max_trials=1, parallel=1, max_failed=1, collector=collector)
    code, (r,), _ = run_cli(tmp_path, exp)
    assert (r.status, code) == ("Failed", 1) and needle in r.message


def test_early_stopping_and_a_value_that_is_not_a_number_on_the_objective_line_fail_the_trial(tmp_path):
    script = "case ${trialParameters.q} in good) echo accuracy=0.5;; *) echo accuracy=nan; sleep 0.3;; esac"
    exp = experiment(["sh", "-c", script], parameters=discrete("good", "bad"), algorithm="grid",
                     max_trials=2, parallel=1, max_failed=2,
                     early_stopping={"algorithmName": "medianstop", "algorithmSettings": [
                         {"name": "min_trials_required", "value": "1"}, {"name": "start_step", "value": "1"}]})
    seed = grid_seed(exp, lambda order: order[0] == "good")
    code, records, _ = run_cli(tmp_path, exp, "--seed", str(seed))
    assert [(r.parameters["q"], r.status) for r in records] == [("good", "Succeeded"), ("bad", "Failed")]
    assert "unable to parse value ''" in records[1].message
    # Without a rule watching (no early stopping) the same output Succeeds: item 3.


# 8. End of suggestions: Katib keeps the Experiment Running

def test_an_exhausted_grid_exits_non_zero_and_says_the_cluster_would_keep_running(tmp_path, capsys):
    exp = experiment(["sh", "-c", "echo accuracy=0.${trialParameters.q}"], parameters=discrete("1", "2"),
                     algorithm="grid", max_trials=2, parallel=2)
    code, records, text = run_cli(tmp_path, exp, "--max-trials", "3", capsys=capsys)
    assert code == 1 and len(records) == 2
    assert "Running" in text and "grid has 2 points, maxTrialCount is 3" in text
    assert "Succeeded (" not in text


# 10. Failure reason

def test_max_failed_trials_gives_katibs_reason_experiment_failed(tmp_path):
    exp = experiment(["sh", "-c", "exit 1 # ${trialParameters.x}"], max_trials=3, parallel=1, max_failed=1)
    code, _, _ = run_cli(tmp_path, exp)
    status = yaml.safe_load((tmp_path / "out" / "status.yaml").read_text())["status"]
    assert code == 1 and status["conditions"][0]["reason"] == "ExperimentFailed"


# What a user running it needs

def test_results_are_an_optuna_study_that_resume_continues(tmp_path, capsys):
    import optuna

    exp = experiment(["sh", "-c", "echo accuracy=${trialParameters.x}"], max_trials=2, parallel=2)
    exp["spec"]["resumePolicy"] = "LongRunning"
    code, records, text = run_cli(tmp_path, exp, "--seed", "4", capsys=capsys)
    db = tmp_path / "out" / "study.db"
    assert code == 0 and f"optuna-dashboard sqlite:///{db}" in text
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{db}")
    assert sorted(t.user_attrs["trial"] for t in study.trials) == ["t-001", "t-002"]
    assert {t.value for t in study.trials} == {r.objective for r in records}
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    code, records, _ = run_cli(tmp_path, exp, "--resume", "--max-trials", "3")
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{db}")
    assert code == 0 and [t.user_attrs["trial"] for t in study.trials] == ["t-001", "t-002", "t-003"]


def test_messages_without_a_position_have_no_zero_zero_prefix(tmp_path, capsys):
    exp = experiment(["true"])
    code, _, text = run_cli(tmp_path, exp, "--parallel", "0", capsys=capsys)
    assert code == 2 and text == f"{tmp_path / 'exp.yaml'}: --parallel must be at least 1\n"


def test_parallel_coordinates_keep_categorical_values_in_the_specs_order_top_down():
    from katib_gitops.runner.plot import _axis

    plan = plan_from_experiment(experiment(["true"], parameters=[
        {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "adam", "rmsprop"]}}]))
    pos, ticks, labels = _axis(plan.parameters[0])
    assert labels == ["sgd", "adam", "rmsprop"] and pos("sgd") > pos("adam") > pos("rmsprop")


def test_numeric_axes_get_readable_ticks():
    from katib_gitops.runner.plot import _axis

    plan = plan_from_experiment(experiment(["true"]))  # x: double in [0.1, 0.9]; ticks from the range, not trials
    pos, ticks, labels = _axis(plan.parameters[0])
    assert 3 <= len(labels) <= 7 and all(len(label) <= 5 for label in labels)
    assert all(0.0 <= p <= 1.0 for p in ticks) and json.dumps(labels)


# 9. Algorithm settings: what the service refuses fails the run up front, with validate's message

@pytest.mark.parametrize("algorithm, refused", [
    ({"algorithmName": "tpee"}, True),  # not an algorithm of the default katib-config
    ({"algorithmName": "tpe", "algorithmSettings": [{"name": "n_startup_trials", "value": "5"}]}, True),  # hyperopt
    ({"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "-1"}]}, True),
    ({"algorithmName": "bayesianoptimization", "algorithmSettings": [{"name": "acq_func", "value": "UCB"}]}, True),
    ({"algorithmName": "multivariate-tpe", "algorithmSettings": [{"name": "n_startup_trials", "value": "2"}]}, False),
    ({"algorithmName": "cmaes", "algorithmSettings": [{"name": "restart_strategy", "value": "bipop"}]}, False),
])
def test_run_refuses_up_front_what_the_suggestion_service_refuses(tmp_path, capsys, algorithm, refused):
    exp = experiment(["sh", "-c", "echo accuracy=0.5 ${trialParameters.x} ${trialParameters.y}"],
                     max_trials=1, parallel=1, max_failed=1, parameters=[
                         {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.9"}},
                         {"name": "y", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "5"}}])
    exp["spec"]["algorithm"] = algorithm
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(exp))
    cli_main(["validate", str(spec)])
    by_validate = [re.sub(r" \[[\w-]+\]$", "", line) for line in capsys.readouterr().out.splitlines()
                   if ": spec.algorithm" in line]  # FILE:LINE:COL: PATH: message [rule]
    code, records, text = run_cli(tmp_path, exp, capsys=capsys)
    if refused:
        assert code in (1, 2) and records == [] and not (tmp_path / "out").exists(), text
        assert "spec.algorithm" in text and "Traceback" not in text
        if by_validate:  # validate models this service's check: run says exactly what it says
            assert by_validate[0] in text
    else:
        assert code == 0 and len(records) == 1 and not by_validate


def test_run_refuses_what_the_early_stopping_service_refuses_with_validates_message(tmp_path, capsys):
    exp = experiment(["sh", "-c", "echo accuracy=0.5 ${trialParameters.x}"], max_trials=1, parallel=1,
                     early_stopping={"algorithmName": "medianstop", "algorithmSettings": [
                         {"name": "start_step", "value": "0"}]})
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(exp))
    cli_main(["validate", str(spec)])
    (by_validate,) = [re.sub(r" \[[\w-]+\]$", "", line) for line in capsys.readouterr().out.splitlines()
                      if ": spec.earlyStopping" in line]
    code, records, text = run_cli(tmp_path, exp, capsys=capsys)
    assert code == 1 and records == [] and text == by_validate + "\n"


# Katib's restart rules for `run --resume` after the Experiment completed
# (experiment/util/status_util.go IsCompletedExperimentRestartable; validator.go: maxTrialCount > status.trials)

ECHO_X = ["sh", "-c", "echo accuracy=${trialParameters.x}"]


def test_a_completed_experiment_with_resume_policy_never_cannot_be_restarted(tmp_path, capsys):
    exp = experiment(ECHO_X, max_trials=2, parallel=2)
    assert run_cli(tmp_path, exp, "--seed", "1")[0] == 0
    before = (tmp_path / "out" / "trials.jsonl").read_text()
    code, records, text = run_cli(tmp_path, exp, "--resume", "--max-trials", "4", capsys=capsys)
    assert code == 2 and "with resumePolicy Never Katib cannot restart it" in text
    assert (tmp_path / "out" / "trials.jsonl").read_text() == before and len(records) == 2


def test_only_an_experiment_that_reached_max_trials_restarts(tmp_path, capsys):
    exp = experiment(ECHO_X, max_trials=3, parallel=1, goal=0.0)  # the first trial reaches the goal
    exp["spec"]["resumePolicy"] = "LongRunning"
    assert run_cli(tmp_path, exp)[0] == 0
    code, _, text = run_cli(tmp_path, exp, "--resume", "--max-trials", "5", capsys=capsys)
    assert code == 2 and "(Succeeded, ExperimentGoalReached)" in text and "reaching maxTrialCount" in text


def test_a_restart_needs_max_trials_above_the_trials_so_far(tmp_path, capsys):
    exp = experiment(ECHO_X, max_trials=2, parallel=2)
    exp["spec"]["resumePolicy"] = "FromVolume"
    assert run_cli(tmp_path, exp)[0] == 0
    code, _, text = run_cli(tmp_path, exp, "--resume", capsys=capsys)
    assert code == 2 and "raised above 2" in text and "--max-trials" in text


@pytest.mark.parametrize("algorithm", ["random", "grid"])
def test_a_long_running_restart_continues_with_new_suggestions(tmp_path, algorithm):
    """LongRunning keeps the suggestion service, and its state, running: the restart draws new points."""
    params = [{"name": "x", "parameterType": "double",
               "feasibleSpace": {"min": "0.1", "max": "0.9", **({"step": "0.1"} if algorithm == "grid" else {})}}]
    exp = experiment(ECHO_X, max_trials=4, parallel=2, parameters=params, algorithm=algorithm)
    exp["spec"]["resumePolicy"] = "LongRunning"
    code, first, _ = run_cli(tmp_path, exp, "--seed", "3")
    assert code == 0 and len(first) == 4
    code, records, _ = run_cli(tmp_path, exp, "--resume", "--max-trials", "8")
    assert code == 0 and len(records) == 8
    old, new = [r.parameters["x"] for r in records[:4]], [r.parameters["x"] for r in records[4:]]
    assert not set(old) & set(new) and len(set(new)) == 4


def test_a_nan_objective_first_keeps_the_goal_from_ever_being_reached(tmp_path, capsys):
    """status_util.go updateTrialsSummary: a NaN best is never beaten (no comparison with NaN holds) and never
    meets the goal, so the Experiment runs to maxTrialCount although later trials pass the goal."""
    script = "printf '{\"accuracy\": \"%s\"}\\n' ${trialParameters.q} > /var/log/katib/metrics.json"
    exp = experiment(["sh", "-c", script], parameters=discrete("NaN", "0.95", "0.97"), algorithm="grid",
                     max_trials=3, parallel=1, goal=0.9, collector=FILE_JSON)
    seed = grid_seed(exp, lambda order: order[0] == "NaN")
    code, records, text = run_cli(tmp_path, exp, "--seed", str(seed), capsys=capsys)
    status = yaml.safe_load((tmp_path / "out" / "status.yaml").read_text())["status"]
    assert code == 0 and len(records) == 3
    assert status["conditions"][0]["reason"] == "ExperimentMaxTrialsReached"
    assert status["currentOptimalTrial"]["bestTrialName"] == "t-001"
    assert records[0].metrics["accuracy"] == {"min": "NaN", "max": "NaN", "latest": "NaN"}
    assert "the goal is never reached" in text


def test_json_timestamps_are_read_as_katib_splits_them(tmp_path):
    """parseTimestamp reads the digits after the point as nanoseconds: 10.123456 is 10 s + 123456 ns and 10.9 is
    10 s + 9 ns, so the first line is the later one (the DB keeps microseconds), and `null` is skipped."""
    script = ("printf '{\"accuracy\": \"0.2\", \"timestamp\": 10.123456}\\n{\"accuracy\": \"0.7\", "
              "\"timestamp\": 10.9}\\nnull\\n' > /var/log/katib/metrics.json # ${trialParameters.x}")
    exp = experiment(["sh", "-c", script], max_trials=1, parallel=1, collector=FILE_JSON,
                     strategies=[{"name": "accuracy", "value": "latest"}])
    code, (r,), _ = run_cli(tmp_path, exp)
    assert (r.status, r.objective) == ("Succeeded", 0.2)


def test_run_refuses_an_experiment_that_never_starts_with_validates_message(tmp_path, capsys):
    """runner/admission.py: what never starts on Katib (skopt's log-uniform prior over a range holding 0) does not
    run locally either."""
    exp = experiment(ECHO_X, algorithm="bayesianoptimization",
                     parameters=[{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}])
    code, records, text = run_cli(tmp_path, exp, capsys=capsys)
    assert code == 1 and records == [] and "spec.parameters[0].feasibleSpace.min" in text and "log-uniform" in text
