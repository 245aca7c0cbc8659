"""The runner's processes and state: trials die with their runner however it dies, a trial that ignores
SIGTERM is killed after its grace period, `--resume` works after a kill at any moment and after a full
disk, and nothing in the run directory can make the runner block.

Runner errors are one line, ``FILE: message`` (a path and no position), exit status 2.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from hostile_support import no_process_left
from test_runner_hardening import SLOW, alive, gone, kill_guardian, start_runner, wait_files, write_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
from runner_helpers import experiment  # noqa: E402

from katib_gitops.cli import main as cli_main  # noqa: E402

GRID = experiment(["sh", "-c", "sleep 0.2; echo accuracy=0.${trialParameters.x}"],
                  parameters=[{"name": "x", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "6", "step": "1"}}],
                  algorithm="grid", max_trials=6, parallel=2, collector={"collector": {"kind": "StdOut"}})
GRID["spec"]["resumePolicy"] = "LongRunning"  # a run stopped at --max-trials may continue (Katib's restart rule)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_main(["run", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]


def study_trials(out: Path) -> int:
    with sqlite3.connect(out / "study.db") as db:
        return db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]


def finished(work: Path, out: Path, study_ahead: int = 0) -> None:
    """The run in out completed: every grid point once, every name once, the study holds them all
    (study_ahead: trials the study recorded whose trials.jsonl line a test tore afterwards)."""
    done = records(out)
    ok = [r for r in done if r["status"] == "Succeeded"]
    assert sorted(r["parameters"]["x"] for r in ok) == ["1", "2", "3", "4", "5", "6"]
    assert len({r["name"] for r in done}) == len(done)
    assert study_trials(out) == len(done) + study_ahead
    assert not (out / "runner.json").exists()


# --------------------------------------------------------------------------- trials die with their runner


def test_a_sigkilled_runners_trials_and_their_children_die_with_it(tmp_path: Path):
    write_spec(tmp_path, SLOW)
    proc = start_runner(tmp_path)
    pids = wait_files(tmp_path, "pid-*", 2) + wait_files(tmp_path, "kid-*", 2)  # trials, their setsid children
    proc.kill()
    proc.communicate(timeout=10)
    assert all(gone(p) for p in pids), [p for p in pids if alive(p)]  # no --resume needed: the guardian
    no_process_left(pids)


IGNORES_TERM = experiment(["sh", "-c", "trap '' TERM; echo $$$$ > {d}/lead-${trialParameters.x}; "
                                 "sh -c 'trap \"\" TERM; echo $$$$ > {d}/kid-${trialParameters.x}; sleep 60' & "
                                 "setsid sh -c 'trap \"\" TERM; echo $$$$ > {d}/esc-${trialParameters.x}; sleep 60' & "
                                 "sleep 60; wait"],
                          parameters=[{"name": "x", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "2",
                                                                                               "step": "1"}}],
                          algorithm="grid", max_trials=2, parallel=2, collector={"collector": {"kind": "None"}})


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_trials_that_ignore_sigterm_are_killed_after_their_grace_period(tmp_path: Path, sig):
    from katib_gitops.runner import RunOptions, run_experiment

    exp = json.loads(json.dumps(IGNORES_TERM).replace("{d}", str(tmp_path)))
    pids_ready = threading.Event()

    def stop_when_running():
        deadline = time.monotonic() + 20
        while len(list(tmp_path.glob("esc-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        pids_ready.set()
        os.kill(os.getpid(), sig)  # the runner's own handler: stop, as Ctrl-C or `kill` does

    threading.Thread(target=stop_when_running, daemon=True).start()
    options = RunOptions(workdir=tmp_path, out=tmp_path / "out", grace_seconds=0.5, plot=False,
                         stream=open(os.devnull, "w"), source="exp.yaml")
    started = time.monotonic()
    result = run_experiment(exp, options)
    assert pids_ready.is_set() and result.exit_code == (143 if sig == signal.SIGTERM else 130)
    assert time.monotonic() - started < 15  # one grace period for both trials, not one each, plus the runs
    pids = [int(p.read_text()) for pattern in ("lead-*", "kid-*", "esc-*") for p in tmp_path.glob(pattern)]
    assert len(pids) == 6
    no_process_left(pids)
    assert {r["status"] for r in records(tmp_path / "out")} == {"Killed"}


# --------------------------------------------------------------------------- --resume after a kill at any moment


def test_resume_after_a_kill_at_any_moment(tmp_path: Path):
    """SIGKILL (runner and guardian: power loss) at several moments, from the first instant to study.db's
    creation; each time --resume finishes the run, every grid point exactly once."""
    moments = [0.0, 0.3, 0.8, "study.db", "trials.jsonl"]
    for i, moment in enumerate(moments):
        work = tmp_path / f"w{i}"
        work.mkdir()
        write_spec(work, GRID)
        proc = start_runner(work)
        if isinstance(moment, float):
            time.sleep(moment)
        else:
            deadline = time.monotonic() + 30
            while not (work / "out" / moment).exists() and time.monotonic() < deadline:
                time.sleep(0.001)
        try:
            kill_guardian(proc)
        except (AssertionError, psutil.Error):
            pass  # not started yet
        proc.kill()
        proc.communicate(timeout=10)
        if (work / "out" / "status.yaml").exists():  # it finished before the kill: nothing to resume
            finished(work, work / "out")
            continue
        done = subprocess.run([sys.executable, "-m", "katib_gitops", "run", "exp.yaml", "--workdir", ".", "--out",
                               "out", "--resume", "--no-plot"], cwd=work, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (moment, done.stderr)
        finished(work, work / "out")
    no_process_left()


@pytest.mark.parametrize("half_made", ["empty", "tables only", "some tables", "hot journal"])
def test_resume_after_a_kill_while_study_db_was_being_created(tmp_path: Path, half_made: str, capsys):
    spec = write_spec(tmp_path, GRID)
    out = tmp_path / "out"
    assert run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(out), "--no-plot",
               "--max-trials", "3")[0] == 0
    (out / "study.db").unlink()
    if half_made != "empty":
        with sqlite3.connect(out / "study.db") as db:
            db.execute("CREATE TABLE version_info (version_info_id INTEGER PRIMARY KEY)")
            if half_made != "some tables":
                db.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name TEXT)")
    else:
        (out / "study.db").write_bytes(b"")
    if half_made == "hot journal":
        (out / "study.db-journal").write_bytes(b"")
    code, _, err = run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(out), "--no-plot", "--resume")
    assert code == 0, err
    finished(tmp_path, out)


def test_resume_after_a_record_torn_by_a_crash(tmp_path: Path, capsys):
    spec = write_spec(tmp_path, GRID)
    out = tmp_path / "out"
    assert run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(out), "--no-plot",
               "--max-trials", "3")[0] == 0
    text = (out / "trials.jsonl").read_text()
    last = text.splitlines()[-1]
    (out / "trials.jsonl").write_text(text[: len(text) - len(last) - 1] + last[: len(last) // 2])  # torn
    code, _, err = run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(out), "--no-plot", "--resume")
    assert code == 0, err
    assert "the last record was cut short by a crash" in err
    finished(tmp_path, out, study_ahead=1)  # torn after the study had it: here, not in a real crash


# --------------------------------------------------------------------------- a full --out disk


def test_a_full_out_disk_is_reported_as_such_and_resume_continues_once_there_is_room(tmp_path: Path, monkeypatch,
                                                                                       capsys):
    from katib_gitops.runner import run_records as results_module

    spec = write_spec(tmp_path, GRID)
    out = tmp_path / "out"
    real_append = results_module.ResultsFile.append
    calls = []

    def disk_fills(self, record):
        calls.append(record.name)
        if len(calls) < 3:
            return real_append(self, record)
        with open(self.path, "ab") as fh:  # what a write cut short by ENOSPC leaves: half a line
            fh.write(json.dumps(record.to_json()).encode()[:40])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    monkeypatch.setattr(results_module.ResultsFile, "append", disk_fills)
    code, stdout, err = run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(out), "--no-plot")
    errors = [ln for ln in err.strip().splitlines() if not ln.startswith(("note: ", "trial "))]  # progress aside
    assert code == 2 and len(errors) == 1, err
    assert errors[0].startswith(f"{out / 'trials.jsonl'}: cannot write the run directory: No space left on device")
    assert "<stdout>" not in err and "--resume continues" in errors[0] and stdout == ""
    no_process_left()
    monkeypatch.setattr(results_module.ResultsFile, "append", real_append)  # room again
    code, _, err = run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(out), "--no-plot", "--resume")
    assert code == 0, err
    finished(tmp_path, out)


# --------------------------------------------------------------------------- nothing in the run directory blocks


@pytest.mark.parametrize("name", ["trials.jsonl", "run.json", "runner.json", "study.db", "status.yaml"])
def test_a_fifo_in_the_run_directory_never_blocks(tmp_path: Path, name: str, capsys):
    from test_untrusted_inputs import no_hang

    spec = write_spec(tmp_path, GRID)
    out = tmp_path / "out"
    assert run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(out), "--no-plot",
               "--max-trials", "2")[0] == 0
    (out / name).unlink(missing_ok=True)
    os.mkfifo(out / name)
    with no_hang():
        code, _, err = run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(out), "--no-plot",
                           "--resume")
    (line,) = err.strip().splitlines()
    assert code == 2 and f"{name} in the run directory is a FIFO, not a regular file" in line


def test_a_trial_that_leaves_a_fifo_as_its_metrics_file_fails_without_blocking(tmp_path: Path, capsys):
    from test_untrusted_inputs import no_hang

    exp = experiment(["sh", "-c", "mkfifo /metrics.txt # ${trialParameters.x}"], max_trials=1, parallel=1,
                     collector={"collector": {"kind": "File"}, "source": {"fileSystemPath": {
                         "path": "/metrics.txt", "kind": "File", "format": "TEXT"}}})
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(exp))
    with no_hang():
        code, _, err = run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(tmp_path / "out"),
                           "--no-plot")
    (record,) = records(tmp_path / "out")
    assert record["status"] == "Failed" and "is a FIFO, not a file" in record["message"]


def test_processes_are_found_through_psutil_by_their_marker(tmp_path: Path):
    from katib_gitops.runner.guardian import MARKER, marked_processes

    marked = subprocess.Popen(["sleep", "30"], env={**os.environ, MARKER: "abc123/t-001"})
    other = subprocess.Popen(["sleep", "30"], env={**os.environ, MARKER: "zzz/t-001"})
    plain = subprocess.Popen(["sleep", "30"])
    try:
        assert marked_processes("abc123/t-001") == [marked.pid]
        assert marked_processes("abc123/", prefix=True) == [marked.pid]
        assert plain.pid not in marked_processes("", prefix=True)
    finally:
        for p in (marked, other, plain):
            p.kill()
            p.wait()
