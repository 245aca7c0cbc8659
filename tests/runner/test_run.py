"""Whole local runs: Katib's lifecycle end to end, with quick shell trials (and one real iris run)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from katib_gitops.cli import main as cli_main
from katib_gitops.io.findings import UserError
from katib_gitops.runner import run_experiment
from katib_gitops.runner.run_records import ResultsFile

from runner_helpers import (TRAINER, experiment, max_overlap, options, parse_time, tutorial_experiment,
                            with_command)

ECHO_ALL = "echo accuracy=0.5 ${trialParameters.penalty} ${trialParameters.tol} ${trialParameters.C} " \
           "${trialParameters.max_iter}"


def test_iris_tutorial_runs_locally_with_the_real_trainer(tmp_path):
    exp = tutorial_experiment()
    result = run_experiment(exp, options(tmp_path, workdir=TRAINER, seed=1, html=True))
    records = result.trials
    assert result.exit_code == 0 and result.condition.type == "Succeeded"
    assert 1 <= len(records) <= 12
    assert 2 <= max_overlap(records) <= 3  # parallelTrialCount 3, and trials did run side by side
    values = [r.objective for r in records if r.objective is not None]
    assert values and all(0.0 <= v <= 1.0 for v in values)
    assert result.best.objective == max(values)
    assert result.best.name in result.summary and f"accuracy: min {result.best.objective!r}" in result.summary
    assert result.condition.reason in ("ExperimentGoalReached", "ExperimentMaxTrialsReached")
    if result.condition.reason == "ExperimentGoalReached":
        assert result.best.objective >= 0.99
    lines = (tmp_path / "out" / "trials.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == [r.name for r in records]
    first = json.loads(lines[0])
    assert set(first["parameters"]) == {"penalty", "tol", "C", "max_iter"}
    assert (tmp_path / "out" / first["log"]).read_text().startswith("accuracy=")
    png = (tmp_path / "out" / "parallel-coordinates.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    status = yaml.safe_load((tmp_path / "out" / "status.yaml").read_text())["status"]
    assert status["currentOptimalTrial"]["bestTrialName"] == result.best.name
    assert result.best.name in (tmp_path / "out" / "report.html").read_text()


def test_grid_exhausted_before_max_trials_runs_the_27_combinations_and_says_katib_keeps_running(tmp_path):
    exp = with_command(tutorial_experiment(), ["sh", "-c", ECHO_ALL])
    exp["spec"]["algorithm"] = {"algorithmName": "grid"}
    exp["spec"]["maxTrialCount"] = 27
    # maxTrialCount 30 > 27 points is what Katib's grid service refuses up front; --max-trials
    # raises it locally, and then the grid runs out as it would on a cluster that accepted it.
    result = run_experiment(exp, options(tmp_path, max_trials=30))
    # status_util.go never reports SuggestionEndReached: the Experiment stays Running.
    assert result.condition.type == "Running" and result.exit_code == 1
    assert ("the cluster would keep this Experiment Running: grid has 27 points, maxTrialCount is 30"
            in result.summary)
    assert len(result.trials) == 27
    assert len({tuple(sorted(r.parameters.items())) for r in result.trials}) == 27
    assert all(r.status == "Succeeded" and r.objective == 0.5 for r in result.trials)
    assert max_overlap(result.trials) <= 3


def test_a_goal_the_first_trials_reach_stops_early_with_succeeded(tmp_path):
    exp = experiment(["sh", "-c", "echo accuracy=0.995 x=${trialParameters.x}"], goal=0.99, max_trials=10,
                     parallel=2)
    result = run_experiment(exp, options(tmp_path))
    assert (result.condition.type, result.condition.reason) == ("Succeeded", "ExperimentGoalReached")
    assert result.exit_code == 0
    assert len(result.trials) <= 2 < 10
    assert result.best.objective == 0.995


def test_an_always_failing_command_fails_the_experiment_after_max_failed(tmp_path):
    exp = experiment(["sh", "-c", ": ${trialParameters.x}; { echo boom >&2; exit 3; }"], max_trials=10,
                     parallel=2, max_failed=3)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(exp))
    out = tmp_path / "out"
    code = cli_main(["run", str(path), "--workdir", str(tmp_path), "--out", str(out)])
    assert code == 1
    records = ResultsFile(out).load()
    failed = [r for r in records if r.status == "Failed"]
    assert all(r.exit_code == 3 and r.message == "exit code 3" for r in failed)
    # Stopped at the third failure; trials that failed alongside it still count,
    # as Katib counts every failure it sees in one reconcile.
    assert 3 <= len(failed) <= 4 and len(records) <= 4
    third = sorted(parse_time(r.end) for r in failed)[2]
    assert all(parse_time(r.start) <= third for r in records)  # nothing started after it
    assert (out / failed[0].log).read_text() == "boom\n"
    status = yaml.safe_load((out / "status.yaml").read_text())["status"]
    assert status["conditions"][0]["type"] == "Failed"
    assert status["conditions"][0]["reason"] == "ExperimentFailed"  # status_util.go ExperimentFailedReason


def test_missing_objective_is_metrics_unavailable_and_counts_as_failed(tmp_path):
    exp = experiment(["sh", "-c", "echo loss=0.1 ${trialParameters.x}"], max_trials=5, parallel=1, max_failed=2)
    result = run_experiment(exp, options(tmp_path))
    assert result.condition.type == "Failed" and result.exit_code == 1
    assert [r.status for r in result.trials] == ["MetricsUnavailable", "MetricsUnavailable"]
    assert "objective metric accuracy was not reported" in result.trials[0].message


def test_stdout_collector_reads_stderr_too_and_applies_strategies(tmp_path):
    script = ": ${trialParameters.x}; { echo accuracy=0.2; echo accuracy=0.9 >&2; echo accuracy=0.4 loss=2; echo loss=1; }"
    exp = experiment(["sh", "-c", script], max_trials=1, parallel=1, additional=["loss"],
                     strategies=[{"name": "accuracy", "value": "latest"}])
    result = run_experiment(exp, options(tmp_path))
    (r,) = result.trials
    assert r.objective == 0.4  # latest, not max
    assert r.metrics == {"accuracy": {"min": 0.2, "max": 0.9, "latest": 0.4},
                         "loss": {"min": 1.0, "max": 2.0, "latest": 1.0}}


def test_custom_stdout_filter(tmp_path):
    exp = experiment(["sh", "-c", "{ echo 'acc: 0.75 (x=${trialParameters.x})'; echo accuracy=0.1; }"],
                     max_trials=1, parallel=1,
                     collector={"collector": {"kind": "StdOut"},
                                "source": {"filter": {"metricsFormat": [r"(accuracy|acc): (\d+\.\d+)"]}}})
    exp["spec"]["objective"]["objectiveMetricName"] = "acc"
    result = run_experiment(exp, options(tmp_path))
    assert result.trials[0].objective == 0.75


@pytest.mark.parametrize("fmt, lines, status, objective", [
    ("TEXT", ["accuracy=0.3", "accuracy=0.6"], "Succeeded", 0.6),
    ("JSON", ['{"accuracy": "0.3"}', '{"accuracy": "0.7", "timestamp": 1.5}'], "Succeeded", 0.7),
    ("JSON", ['{"accuracy": 0.7}'], "MetricsUnavailable", None),
])
def test_file_collector_reads_the_mapped_path(tmp_path, monkeypatch, fmt, lines, status, objective):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "metrics.src").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)  # relative --workdir and --out, as typed on a command line
    script = "cp metrics.src /var/log/katib/metrics.log # ${trialParameters.x}"
    exp = experiment(["sh", "-c", script], max_trials=1, parallel=1, collector={
        "collector": {"kind": "File"},
        "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.log", "kind": "File", "format": fmt}}})
    result = run_experiment(exp, options(tmp_path, workdir=Path("work"), out=Path("out")))
    (r,) = result.trials
    assert (r.status, r.objective) == (status, objective), r.message
    assert (tmp_path / "out" / "trials" / r.name / "var/log/katib/metrics.log").exists()
    assert r.log == f"trials/{r.name}/output.log"
    if objective is None:
        assert "Katib's JSON collector ignores it" in r.message


def test_median_stop_stops_a_trial_worse_than_the_median(tmp_path):
    # Good trials report 20 times at once; the bad one would take 2s for its 20 reports.
    loop = "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo accuracy=${trialParameters.q}; " \
           "case ${trialParameters.q} in 0.1) sleep 0.1;; esac; done"
    params = [{"name": "q", "parameterType": "discrete", "feasibleSpace": {"list": ["0.9", "0.8", "0.1"]}}]
    exp = experiment(["sh", "-c", loop], parameters=params, algorithm="grid", max_trials=3, parallel=1,
                     early_stopping={"algorithmName": "medianstop", "algorithmSettings": [
                         {"name": "min_trials_required", "value": "2"}, {"name": "start_step", "value": "2"}]})
    # Grid order is shuffled by the seed; pick one that leaves the bad value for last.
    for seed in range(20):
        from katib_gitops.runner.experiment_view import plan_from_experiment
        from katib_gitops.runner.suggest import make_suggester

        s = make_suggester(plan_from_experiment(exp), seed, [])
        if [s.ask().assignments["q"] for _ in range(3)][-1] == "0.1":
            break
    exp["spec"]["maxTrialCount"] = 3
    result = run_experiment(exp, options(tmp_path, seed=seed))
    statuses = [(r.parameters["q"], r.status) for r in result.trials]
    assert statuses[-1] == ("0.1", "EarlyStopped"), statuses
    assert all(s == "Succeeded" for _, s in statuses[:-1])
    stopped = result.trials[-1]
    assert stopped.duration < 1.5  # 20 reports would take 2s
    assert stopped.objective == 0.1 and "is worse than the mean" in stopped.message
    assert result.condition.reason == "ExperimentMaxTrialsReached"


def test_gpu_slots_limit_parallelism_and_give_each_trial_its_devices(tmp_path):
    exp = experiment(["sh", "-c", ": ${trialParameters.x}; { echo accuracy=0.5 dev=$CUDA_VISIBLE_DEVICES; sleep 0.2; }"],
                     max_trials=6, parallel=3,
                     container_extra={"resources": {"limits": {"nvidia.com/gpu": 2}}})
    result = run_experiment(exp, options(tmp_path, gpus=4))
    assert len(result.trials) == 6
    assert max_overlap(result.trials) == 2  # floor(4 GPUs / 2 per trial), below parallelTrialCount 3
    for r in result.trials:
        assert len(r.devices) == 2
        assert (tmp_path / "out" / r.log).read_text().startswith(f"accuracy=0.5 dev={','.join(r.devices)}")
    for a in result.trials:
        for b in result.trials:
            if a is not b and parse_time(a.start) < parse_time(b.end) and parse_time(b.start) < parse_time(a.end):
                assert set(a.devices).isdisjoint(b.devices)


def test_unavailable_algorithm_fails_before_anything_is_written(tmp_path):
    exp = experiment(["true"], algorithm="hyperband")
    with pytest.raises(UserError, match="not available locally"):
        run_experiment(exp, options(tmp_path))
    assert not (tmp_path / "out").exists()


def test_a_command_that_does_not_exist_fails_the_trial(tmp_path):
    exp = experiment(["no-such-trainer-xyz", "${trialParameters.x}"], max_trials=1, parallel=1, max_failed=1)
    result = run_experiment(exp, options(tmp_path))
    (r,) = result.trials
    assert (r.status, r.exit_code) == ("Failed", 127)  # sh's "not found", as in the container
    assert r.message == "exit code 127 (command not found)"
    assert "no-such-trainer-xyz: not found" in (tmp_path / "out" / r.log).read_text()


def test_existing_results_need_resume(tmp_path):
    exp = experiment(["sh", "-c", "echo accuracy=0.5 ${trialParameters.x}"], max_trials=2)
    exp["spec"]["resumePolicy"] = "LongRunning"  # a completed Experiment restarts only then
    run_experiment(exp, options(tmp_path))
    with pytest.raises(UserError, match="pass --resume"):
        run_experiment(exp, options(tmp_path))
    more = run_experiment(exp, options(tmp_path, resume=True, max_trials=3))
    assert [r.name for r in more.trials] == ["t-001", "t-002", "t-003"]
    assert len(ResultsFile(tmp_path / "out").load()) == 3


def test_progress_is_a_live_view_on_a_terminal_and_lines_elsewhere(tmp_path):
    exp = experiment(["sh", "-c", "echo accuracy=0.5 ${trialParameters.x}"], max_trials=2, parallel=1)
    tty, plain = io.StringIO(), io.StringIO()
    run_experiment(exp, options(tmp_path, out=tmp_path / "a", stream=tty, tty=True))
    run_experiment(exp, options(tmp_path, out=tmp_path / "b", stream=plain, tty=False))
    assert "\x1b[" in tty.getvalue() and "2/2" in tty.getvalue() and "best accuracy=0.5" in tty.getvalue()
    assert "trial t-002 Succeeded accuracy=0.5" in tty.getvalue()
    assert "\r" not in plain.getvalue() and "\x1b" not in plain.getvalue()
    assert "trial t-001 started: x=" in plain.getvalue()
    assert "trial t-002 Succeeded accuracy=0.5" in plain.getvalue()
    assert plain.getvalue().count("is not pulled") == 1


def wait_for_pids(directory: Path, n: int) -> list[int]:
    """PIDs the trials wrote to pid-* files, once n of them are complete lines."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        texts = [p.read_text() for p in directory.glob("pid-*")]
        if len(texts) >= n and all(t.endswith("\n") for t in texts):
            return [int(t) for t in texts]
        time.sleep(0.05)
    raise AssertionError(f"{n} trial(s) did not start")


def test_ctrl_c_stops_running_trials_cleanly_and_resume_finishes(tmp_path):
    exp = experiment(["sh", "-c", "echo $$$$ > pid-${trialParameters.x}; sleep 30; echo accuracy=1"],
                     parameters=[{"name": "x", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "3", "step": "1"}}],
                     algorithm="grid", max_trials=3, parallel=2)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    proc = subprocess.Popen(
        [sys.executable, "-m", "katib_gitops", "run", "exp.yaml", "--workdir", ".", "--out", "out", "--seed", "1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = wait_for_pids(tmp_path, 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)  # a safety net, not a speed goal
    assert proc.returncode == 130, err
    assert "Running (Interrupted" in out and "2 interrupted (run again by --resume)" in out
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    records = ResultsFile(tmp_path / "out").load()
    assert [r.status for r in records] == ["Killed", "Killed"]

    # Resume with a trial command that finishes: the interrupted points run first, then the last one.
    exp = with_command(exp, ["sh", "-c", "echo accuracy=0.${trialParameters.x}"])
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    done = subprocess.run(
        [sys.executable, "-m", "katib_gitops", "run", "exp.yaml", "--workdir", ".", "--out", "out", "--resume"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    records = ResultsFile(tmp_path / "out").load()
    finished = [r for r in records if r.status == "Succeeded"]
    assert sorted(r.parameters["x"] for r in finished) == ["1", "2", "3"]
    assert {r.rerun_of for r in finished if r.rerun_of} == {r.name for r in records if r.status == "Killed"}
    assert "Best trial" in done.stdout and "x = 3" in done.stdout


def test_cli_refuses_a_profile_for_an_experiment_manifest(tmp_path, capsys):
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(experiment(["true"])))
    assert cli_main(["run", str(path), "--profile", "gpu"]) == 2
    assert "--profile applies to experiment specs" in capsys.readouterr().err


def test_sigterm_stops_the_runner_like_ctrl_c(tmp_path):
    exp = experiment(["sh", "-c", "echo $$$$ > pid-${trialParameters.x}; sleep 30"], max_trials=5, parallel=1)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    proc = subprocess.Popen(
        [sys.executable, "-m", "katib_gitops", "run", "exp.yaml", "--workdir", ".", "--out", "out"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (pid,) = wait_for_pids(tmp_path, 1)
    proc.terminate()
    out, err = proc.communicate(timeout=60)  # a safety net, not a speed goal
    assert proc.returncode == 143, err  # stopped as Ctrl-C stops it; the status says it was SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert [r.status for r in ResultsFile(tmp_path / "out").load()] == ["Killed"]


@pytest.mark.skipif(not (TRAINER.parent / "experiments" / "iris.yaml").exists(), reason="no iris spec yet")
def test_cli_runs_the_repositorys_iris_spec_through_its_profile(tmp_path, capsys):
    spec = TRAINER.parent / "experiments" / "iris.yaml"
    code = cli_main(["run", str(spec), "--profile", "cpu", "--out", str(tmp_path / "out"),
                     "--max-trials", "1", "--parallel", "1", "--seed", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    (record,) = ResultsFile(tmp_path / "out").load()
    assert record.status == "Succeeded" and 0.0 <= record.objective <= 1.0
    assert f"Best trial: {record.name}" in out
