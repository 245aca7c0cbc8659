"""`katib-gitops run` as a hostile user (or a crash) would drive it: issue 10's runner classes.

Every case asserts the exit status, one line on stderr (no traceback), and
that nothing outside the run directory was created, changed or removed (a
snapshot of the whole test directory, mtimes and modes included, with the run
directory left out only where the run is meant to write into it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from katib_gitops.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
from runner_helpers import experiment  # noqa: E402


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip is not None and (here == skip or skip in here.parents):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = here / name
            if p == skip:
                continue
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else ""
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


def write_spec(tmp_path: Path, exp: dict) -> Path:
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(exp))
    return spec


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_main(["run", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


QUICK = experiment(["sh", "-c", "echo accuracy=${trialParameters.x}"], max_trials=1, parallel=1)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A directory with a spec and one finished run in out/ (copied by each test that resumes it)."""
    base = tmp_path_factory.mktemp("finished")
    spec = write_spec(base, QUICK)
    assert cli_main(["run", str(spec), "--workdir", str(base), "--out", str(base / "out"), "--no-plot"]) == 0
    return base


@pytest.fixture
def resumable(finished_run: Path, tmp_path: Path) -> Path:
    work = tmp_path / "w"
    shutil.copytree(finished_run, work)
    return work


# --------------------------------------------------------------------------- 1. nothing escapes the run directory

@pytest.mark.parametrize("path", [
    "/../../x/m.txt",
    "/../../../../../../../../escaped.log",
    "/var/log/../../../../../../tmp-escape/m.log",
    "/a/../../b/../../c/m.log",
    "//..//..//double.log",
    "/./../x/./../../y.log",
])
def test_a_file_collector_path_never_writes_outside_the_run_directory(tmp_path, capsys, path):
    work = tmp_path / "work"
    work.mkdir()
    exp = experiment(["sh", "-c", f"echo accuracy=0.5 > {path} # ${{trialParameters.x}}"], max_trials=1,
                     parallel=1, collector={"collector": {"kind": "File"}, "source": {"fileSystemPath": {
                         "path": path, "kind": "File", "format": "TEXT"}}})
    spec = write_spec(tmp_path, exp)
    out = tmp_path / "runs" / "deep" / "out"
    before = snapshot(tmp_path)
    parent_before = snapshot(tmp_path.parent, skip=tmp_path)
    code, stdout, _ = run(capsys, str(spec), "--workdir", str(work), "--out", str(out), "--no-plot")
    assert code == 0, stdout
    after = snapshot(tmp_path, skip=out)
    assert {k: v for k, v in after.items() if k not in ("runs", "runs/deep")} == before  # --out made its parents
    assert snapshot(tmp_path.parent, skip=tmp_path) == parent_before
    (record,) = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert record["status"] == "Succeeded" and record["objective"] == 0.5
    written = [p for p in (out / "trials").rglob("*") if p.is_file() and p.read_text() == "accuracy=0.5\n"]
    assert len(written) == 1 and (out / "trials" / record["name"]) in written[0].parents


# --------------------------------------------------------------------------- 2. one line, exit 2, nothing written

@pytest.mark.parametrize("extra, needle", [
    (["--seed", "-1"], "--seed must be in 0..4294967295, got -1"),
    (["--seed", str(2**32)], "--seed must be in 0..4294967295"),
    (["--seed", str(2**64 + 5)], "--seed must be in 0..4294967295"),
    (["--seed", str(-(2**63))], "--seed must be in 0..4294967295"),
    (["--seed", "99999999999999999999999999"], "--seed must be in 0..4294967295"),
    (["--max-trials", "0"], "--max-trials must be at least 1"),
    (["--max-trials", "-3"], "--max-trials must be at least 1"),
    (["--parallel", "0"], "--parallel must be at least 1"),
    (["--parallel", "-1"], "--parallel must be at least 1"),
    (["--gpus", "-1"], "--gpus must be 0 or more"),
    (["--workdir", "exp.yaml"], "is not a directory"),
    (["--workdir", "missing-dir"], "does not exist"),
    (["--out", "exp.yaml"], "is not a directory"),
    (["--out", "/dev/null"], "is not a directory"),
    (["--out", "/proc/katib-gitops-run"], "cannot write the run directory"),
    (["--out", "/proc/self/status/x"], "cannot write the run directory"),
])
def test_usage_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, monkeypatch, extra, needle):
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, QUICK)
    before = snapshot(tmp_path)
    code, _, err = run(capsys, "exp.yaml", "--workdir", ".", "--out", "out", *extra)
    line = one_line_error(err)
    assert code == 2 and needle in line and line.split(": ")[0] in ("exp.yaml", extra[-1])  # no :0:0
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path, QUICK)
    (tmp_path / "ro").mkdir(mode=0o555)
    code, _, err = run(capsys, "exp.yaml", "--workdir", ".", "--out", "ro/out")
    assert code == 2 and "cannot write the run directory" in one_line_error(err)


def _corrupt_json(name: str, content: bytes):
    def apply(out: Path) -> None:
        (out / name).write_bytes(content)
    return apply


def _corrupt_record(**changes):
    def apply(out: Path) -> None:
        record = json.loads((out / "trials.jsonl").read_text())
        record.update(changes)
        (out / "trials.jsonl").write_text(json.dumps(record) + "\n")
    return apply


def _sqlite_without_optuna(out: Path) -> None:
    (out / "study.db").unlink()
    with sqlite3.connect(out / "study.db") as db:
        db.execute("create table t (x int)")


CORRUPT = {
    "run.json not json": (_corrupt_json("run.json", b"{not json"), "run.json", "not JSON"),
    "run.json a list": (_corrupt_json("run.json", b"[1, 2]"), "run.json", "not a run description"),
    "run.json seed a string": (_corrupt_json("run.json", b'{"seed": "7"}'), "run.json", "not a run description"),
    "run.json seed too big": (_corrupt_json("run.json", b'{"seed": 4294967296}'), "run.json", "0..2^32-1"),
    "run.json bytes": (_corrupt_json("run.json", b"\xff\xfe\x00garbage"), "run.json", "not JSON"),
    "trials.jsonl not json": (_corrupt_json("trials.jsonl", b"{\n"), "trials.jsonl", "not a trial record"),
    "trials.jsonl bytes": (_corrupt_json("trials.jsonl", b"\xff\xfe\x00\x01"), "trials.jsonl", "cannot read"),
    "trials.jsonl name escapes": (_corrupt_record(name="../../../etc"), "trials.jsonl", "not a Kubernetes"),
    "trials.jsonl huge token": (_corrupt_record(suggestion={"number": 10**12}), "trials.jsonl", "suggestion"),
    "trials.jsonl bad status": (_corrupt_record(status="Weird"), "trials.jsonl", "not a trial status"),
    "trials.jsonl index a string": (_corrupt_record(index="1; rm"), "trials.jsonl", "not a positive integer"),
    "study.db random bytes": (_corrupt_json("study.db", os.urandom(4096)), "study.db", "not an Optuna study"),
    "study.db text": (_corrupt_json("study.db", b"SQLite format 3\x00 but not really"), "study.db", "Optuna study"),
    "study.db other sqlite": (_sqlite_without_optuna, "study.db", "not an Optuna study"),
    "runner.json not json": (_corrupt_json("runner.json", b"{"), "runner.json", "not a runner state file"),
    "runner.json bad token": (_corrupt_json("runner.json", b'{"pid": 1, "token": "../x", "trials": {}}'),
                              "runner.json", "not a runner state file"),
    "runner.json path name": (_corrupt_json("runner.json", json.dumps(
        {"pid": 1, "token": "ab" * 8, "trials": {"../../x": 1}}).encode()), "runner.json", "not a runner state"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_state_on_resume_is_one_line_exit_2_and_changes_nothing(resumable, capsys, case):
    corrupt, file, needle = CORRUPT[case]
    out = resumable / "out"
    corrupt(out)
    before = snapshot(resumable)
    code, _, err = run(capsys, str(resumable / "exp.yaml"), "--workdir", str(resumable), "--out", str(out),
                       "--resume", "--max-trials", "2", "--no-plot")
    line = one_line_error(err)
    assert code == 2 and needle in line and file in line, line
    assert snapshot(resumable) == before


@pytest.mark.parametrize("name", ["trials", "trials.jsonl", "run.json", "status.yaml", "study.db",
                                  "runner.json.tmp"])
def test_a_symbolic_link_planted_in_the_run_directory_is_not_followed(resumable, tmp_path, capsys, name):
    out = resumable / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "target"
    if (out / name).is_dir():
        shutil.rmtree(out / name)
        target.mkdir()
    else:
        (out / name).unlink(missing_ok=True)
        target.write_text("")
    (out / name).symlink_to(target)
    before, outside = snapshot(resumable), snapshot(elsewhere)
    code, _, err = run(capsys, str(resumable / "exp.yaml"), "--workdir", str(resumable), "--out", str(out),
                       "--resume", "--max-trials", "2", "--no-plot")
    line = one_line_error(err)
    assert code == 2 and f"refusing to follow the symbolic link {name}" in line
    assert snapshot(resumable) == before and snapshot(elsewhere) == outside


# --------------------------------------------------------------------------- 3. no orphan: setsid and daemons die with the trial

ESCAPES = {
    "setsid": "setsid sleep 30 & echo $! > {pids}/a",
    "double fork": "( sleep 30 & echo $! > {pids}/a ) ",
    "nohup": "nohup sleep 30 >/dev/null 2>&1 & echo $! > {pids}/a",
    "python daemon": ("python3 -c 'import os,time,sys\nif os.fork(): sys.exit(0)\nos.setsid()\n"
                      "if os.fork(): sys.exit(0)\nopen(\"{pids}/a\",\"w\").write(str(os.getpid()))\n"
                      "time.sleep(30)'"),
    "ignores sigterm": "sh -c 'trap \"\" TERM; echo $$$$ > {pids}/a; exec sleep 30' & true",
    "setsid python": "setsid python3 -c 'import os,time; open(\"{pids}/a\",\"w\").write(str(os.getpid())); time.sleep(30)' & true",
}


def wait_pid(path: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip().isdigit():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_a_trials_escaped_children_do_not_outlive_it(tmp_path, capsys, case):
    pids = tmp_path / "pids"
    pids.mkdir()
    script = ESCAPES[case].format(pids=pids)
    # The trial waits until its escapee has written its pid, then ends (Succeeded).
    exp = experiment(["sh", "-c", f"{{ {script}; while [ ! -s {pids}/a ]; do sleep 0.02; done; "
                                  f"echo accuracy=0.5; }} # ${{trialParameters.x}}"],
                     max_trials=1, parallel=1, collector={"collector": {"kind": "None"}})
    spec = write_spec(tmp_path, exp)
    code, stdout, err = run(capsys, str(spec), "--workdir", str(tmp_path), "--out", str(tmp_path / "out"),
                            "--no-plot")
    assert code == 0, stdout + err
    escaped = wait_pid(pids / "a")
    assert gone(escaped), f"{case}: pid {escaped} outlived its trial"


# --------------------------------------------------------------------------- 4. a runner killed with SIGKILL

SLOW = experiment(["sh", "-c", "{ echo $$$$ > pid-${trialParameters.x}; setsid sleep 30 & echo $! > kid-${trialParameters.x}; "
                         "sleep 30; echo accuracy=0.${trialParameters.x}; }"],
                  parameters=[{"name": "x", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "4", "step": "1"}}],
                  algorithm="grid", max_trials=4, parallel=2, collector={"collector": {"kind": "None"}})


def start_runner(work: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "katib_gitops", "run", "exp.yaml", "--workdir", ".", "--out", "out", "--seed", "1",
         "--no-plot", *extra], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_files(work: Path, pattern: str, n: int) -> list[int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        texts = [p.read_text() for p in work.glob(pattern)]
        if len(texts) >= n and all(t.strip().isdigit() for t in texts):
            return [int(t) for t in texts]
        time.sleep(0.05)
    raise AssertionError(f"{n} {pattern} files did not appear")


def kill_guardian(runner: subprocess.Popen) -> None:
    """SIGKILL the runner's guardian (as if both died at once: power loss): what --resume must then handle."""
    import psutil

    guardians = [c for c in psutil.Process(runner.pid).children()
                 if "katib_gitops.runner.guardian" in " ".join(c.cmdline())]
    assert len(guardians) == 1
    guardians[0].kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a zombie until the runner, its parent, goes
        try:
            if guardians[0].status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.01)
    raise AssertionError("the guardian did not die")


@pytest.fixture
def killed_runner(tmp_path: Path):
    """A runner SIGKILLed, its guardian too, while two trials (each with a setsid child) run: (work dir,
    their pids)."""
    write_spec(tmp_path, SLOW)
    proc = start_runner(tmp_path)
    pids = wait_files(tmp_path, "pid-*", 2) + wait_files(tmp_path, "kid-*", 2)
    kill_guardian(proc)
    proc.kill()
    proc.communicate(timeout=10)
    assert all(alive(p) for p in pids)  # orphans, still writing into the run directory
    yield tmp_path, pids
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_after_a_sigkilled_runner_a_new_run_is_refused_and_touches_nothing(killed_runner, capsys):
    work, pids = killed_runner
    before = snapshot(work / "out")
    code, _, err = run(capsys, str(work / "exp.yaml"), "--workdir", str(work), "--out", str(work / "out"))
    line = one_line_error(err)
    assert code == 2 and "the previous run in this directory died" in line and "--resume" in line
    assert all(alive(p) for p in pids)  # refused: nothing was killed
    assert snapshot(work / "out") == before


def test_resume_after_a_sigkilled_runner_stops_its_trials_and_never_reuses_their_names(killed_runner):
    work, pids = killed_runner
    (work / "exp.yaml").write_text(yaml.safe_dump(
        {**SLOW, "spec": {**SLOW["spec"], "trialTemplate": {**SLOW["spec"]["trialTemplate"], "trialSpec": {
            **SLOW["spec"]["trialTemplate"]["trialSpec"], "spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "main", "image": "x", "command": [
                    "sh", "-c", "echo accuracy=0.${trialParameters.x}"]}]}}}}}}}))
    old_logs = {p: p.stat().st_mtime_ns for p in (work / "out" / "trials").rglob("*") if p.is_file()}
    done = subprocess.run([sys.executable, "-m", "katib_gitops", "run", "exp.yaml", "--workdir", ".", "--out",
                           "out", "--resume", "--no-plot"], cwd=work, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "the previous runner (pid" in done.stderr and "died" in done.stderr
    assert all(gone(p) for p in pids)  # the trials and their setsid children
    records = [json.loads(line) for line in (work / "out" / "trials.jsonl").read_text().splitlines()]
    killed = [r for r in records if r["status"] == "Killed"]
    names = [r["name"] for r in records]
    assert len(killed) == 2 and len(names) == len(set(names))  # no name twice
    reruns = {r["rerunOf"] for r in records if r.get("rerunOf")}
    assert reruns == {r["name"] for r in killed}  # the interrupted points ran again, under new names
    assert sorted(r["parameters"]["x"] for r in records if r["status"] == "Succeeded") == ["1", "2", "3", "4"]
    for path, mtime in old_logs.items():  # nobody writes into the old trials' files any more
        assert path.stat().st_mtime_ns == mtime
    assert not (work / "out" / "runner.json").exists()


def test_a_recorded_pid_that_is_not_a_trial_of_that_run_is_never_killed(tmp_path, capsys):
    write_spec(tmp_path, QUICK)
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        out = tmp_path / "out"
        out.mkdir()
        (out / "runner.json").write_text(json.dumps(
            {"pid": 999999, "token": "0123456789abcdef", "trials": {"t-001": bystander.pid}}))
        code, _, err = run(capsys, str(tmp_path / "exp.yaml"), "--workdir", str(tmp_path), "--out", str(out),
                           "--resume", "--no-plot")
        assert code == 0, err
        assert bystander.poll() is None  # its environment has no token of ours: left alone
        assert not (out / "trials" / "t-001" / "trial.json").read_text() == ""  # t-001 is a new trial here
    finally:
        bystander.kill()
        bystander.wait()


def test_a_second_runner_in_the_same_directory_is_refused(tmp_path):
    write_spec(tmp_path, SLOW)
    first = start_runner(tmp_path)
    try:
        wait_files(tmp_path, "pid-*", 2)
        second = subprocess.run([sys.executable, "-m", "katib_gitops", "run", "exp.yaml", "--workdir", ".",
                                 "--out", "out", "--resume"], cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
        line = one_line_error(second.stderr)
        assert second.returncode == 2 and f"another katib-gitops run (pid {first.pid})" in line
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=20)
    assert first.returncode == 130
