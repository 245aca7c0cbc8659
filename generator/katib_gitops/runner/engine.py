"""The run loop: suggest, launch, watch, collect, decide — as Katib's controllers do.

One loop iteration: reap finished trials (collect their metrics, tell the
suggester), stop trials the early-stopping rule condemns, evaluate the
experiment's condition, then start trials while fewer than the parallel limit
run and completed + running stays under maxTrialCount (MetricsUnavailable
trials not counted as completed there, as experiment_controller.go
ReconcileTrials counts). The loop sleeps on the children's pidfds, so a
finished trial is seen at once and an idle runner costs nothing.

When the Experiment reaches its condition, Katib does not kill the trials
still running (experiment_controller.go Reconcile keeps reconciling an
Experiment that has running trials): they run to completion and their
results count in the status; the condition itself stays as first decided.
The runner does the same unless ``stop_on_finish``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, TextIO

from . import executor as ex
from .lifecycle import (
    EARLY_STOPPED,
    EXPERIMENT_RUNNING,
    EXPERIMENT_SUCCEEDED,
    FAILED,
    KILLED,
    MAX_TRIALS_REACHED,
    METRICS_UNAVAILABLE,
    SUCCEEDED,
    Condition,
    Counts,
    MedianStop,
    StopRule,
    experiment_condition,
)
from .metrics import MetricsError, Report, Tail, make_parser, metrics_json, objective_values, parse_text, summarize
from .experiment_view import Plan, plan_from_experiment
from .progress import Progress
from .run_records import (
    INTERRUPTED,
    RUNNER_DIED,
    ResultsFile,
    TrialRecord,
    katib_best,
    objective_text,
    is_interrupted,
    outstanding_kills,
    read_run_info,
    status_document,
    summary_text,
    write_run_info,
    STATUS_FILE,
)
from .rundir import STATE_FILE, RunDirectory, usage_error
from ..io.findings import UserError
from .guardian import start as start_guardian
from ..io.safefs import special_kind
from .storage import STUDY_FILE, StudyStore, storage_url
from .suggest import Past, Suggester, Suggestion, make_suggester, resolve_seed

TAIL_LINES = 5  # of a failed trial's output, printed with the path of its log
STARTED_FILE = "trial.json"  # a trial's parameters and suggestion, written as it starts

CLUSTER_ONLY_COLLECTORS = ("TensorFlowEvent", "PrometheusMetric", "Custom", "Push")


@dataclass
class RunOptions:
    workdir: Path = Path("trainer")
    out: Path | None = None  # default: runs/<experiment name>
    max_trials: int | None = None
    parallel: int | None = None
    seed: int | None = None
    resume: bool = False
    gpus: int | None = None  # GPUs on this machine; default: nvidia-smi -L
    gpus_per_trial: int | None = None  # default: the primary container's nvidia.com/gpu
    env: Mapping[str, str] = field(default_factory=dict)  # the profile's env vars
    profile: str | None = None
    html: bool = False
    plot: bool = True
    source: str = "-"  # file name used in error messages
    stream: TextIO | None = None  # progress and notes; default stderr
    tty: bool | None = None  # live bar; default: whether stream is a terminal
    grace_seconds: float = 5.0
    stop_on_finish: bool = False  # kill trials still running when the Experiment completes


@dataclass
class RunResult:
    name: str
    condition: Condition
    counts: Counts
    trials: list[TrialRecord]
    best: TrialRecord | None
    out: Path
    trials_file: Path
    plot_file: Path | None
    html_file: Path | None
    summary: str
    seed: int
    interrupted: bool = False
    terminated: bool = False  # stopped by SIGTERM (exit status 143), not Ctrl-C (130)
    study_file: Path | None = None

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 143 if self.terminated else 130
        return 0 if self.condition.type == EXPERIMENT_SUCCEEDED else 1


@dataclass
class _Active:
    suggestion: Suggestion
    cmd: ex.TrialCommand
    process: ex.TrialProcess
    index: int
    start_wall: str
    start: float
    tail: Tail | None = None
    reported: list[float] = field(default_factory=list)
    rule: StopRule | None = None
    rerun_of: str | None = None
    collector_error: str = ""  # the early-stopping watcher's crash (the trial then Fails)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rel(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _apply_overrides(plan: Plan, options: RunOptions) -> Plan:
    changes: dict[str, Any] = {}
    if options.max_trials is not None:
        if options.max_trials < 1:
            raise usage_error("--max-trials must be at least 1", plan.source)
        changes["max_trial_count"] = options.max_trials
    if options.parallel is not None:
        if options.parallel < 1:
            raise usage_error("--parallel must be at least 1", plan.source)
        changes["parallel_trial_count"] = options.parallel
    if options.seed is not None and not 0 <= options.seed < 2**32:
        raise usage_error(f"--seed must be in 0..{2**32 - 1}, got {options.seed}", plan.source)
    return dataclasses.replace(plan, **changes) if changes else plan


class Runner:
    def __init__(self, plan: Plan, options: RunOptions):
        self.plan = plan
        self.options = options
        self.notes: list[str] = []
        self.out = Path(options.out) if options.out else Path("runs") / plan.name
        self.results = ResultsFile(self.out)
        self.records: list[TrialRecord] = []
        self.counts = Counts()
        self.best: TrialRecord | None = None
        self.goal_reached = False
        self.nan_noted = False
        self.objective_texts: dict[str, str] = {}  # objective_text of each finished record, by name
        self.progress: Progress | None = None
        self.running: dict[str, _Active] = {}
        self.next_index = 1
        self.reruns: list[TrialRecord] = []
        self.finish_note = ""

        self._preflight()
        self.rundir = RunDirectory(self.out)
        self.rundir.acquire()
        try:
            self._open_run_directory()
        except BaseException:
            self.rundir.discard()
            raise

    def _open_run_directory(self) -> None:
        plan, options = self.plan, self.options
        leftovers = self.rundir.leftovers()
        if leftovers is not None and leftovers.alive and not options.resume:
            raise usage_error(
                f"the previous run in this directory died (runner pid {leftovers.runner_pid}) and "
                f"left trial processes running (pid {', '.join(map(str, leftovers.alive))}): pass "
                "--resume to stop them and continue, or --out for a new run", self.out)
        info = read_run_info(self.out) if options.resume else {}
        previous = self.results.load() if options.resume else []
        self.store = StudyStore(plan, self.out)
        stored = self.store.names_in_storage() if options.resume else set()
        if options.resume:
            self._check_same_experiment(info)
            self._check_restartable(info, previous)
        elif self._holds_a_run():
            raise usage_error(f"{self.out} already holds a run: pass --resume to continue it, "
                              "or --out for a new run", plan.source)
        if leftovers is not None:
            previous = previous + self._stop_leftovers(leftovers, previous)
        self.seed = resolve_seed(plan, options.seed, info.get("seed"))
        self.suggester: Suggester = make_suggester(plan, self.seed, self.notes, finished=len(previous))
        self.medianstop = MedianStop.from_plan(plan)
        per_trial = options.gpus_per_trial if options.gpus_per_trial is not None else plan.template.gpus
        self.gpus, gpu_note = ex.gpu_pool(per_trial, options.gpus, options.profile, plan.source)
        if gpu_note:
            self.notes.append(gpu_note)
        self.capacity = min(plan.parallel_trial_count, self.gpus.slots) if self.gpus else plan.parallel_trial_count
        if self.capacity < plan.parallel_trial_count:
            self.notes.append(f"parallelTrialCount {plan.parallel_trial_count} lowered to "
                              f"{self.capacity} by the GPUs available")
        self._replay(previous)
        self.next_index = max([self.next_index, *self._used_indexes()])
        for record in previous:  # what a killed runner recorded in trials.jsonl but not in study.db yet
            if record.name not in stored:
                self.store.add(record)

    def _holds_a_run(self) -> bool:
        if self.results.path.exists() and self.results.path.stat().st_size:
            return True
        trials = self.out / "trials"
        return (self.out / STUDY_FILE).exists() or (self.out / STATE_FILE).exists() or (
            trials.is_dir() and any(trials.iterdir()))

    def _used_indexes(self) -> list[int]:
        """1 + every index a trial directory already uses: a name (and its log) is never reused."""
        prefix = f"{self.plan.name}-"
        used = []
        trials = self.out / "trials"
        if trials.is_dir():
            for entry in trials.iterdir():
                tail = entry.name[len(prefix):] if entry.name.startswith(prefix) else ""
                if tail.isdigit():
                    used.append(int(tail) + 1)
        return used

    def _stop_leftovers(self, leftovers, previous: list[TrialRecord]) -> list[TrialRecord]:
        """Stop what a dead runner left (its token proves the processes are its trials) and
        record each trial it was running as killed, to be run again under a new name."""
        still = RunDirectory.stop(leftovers)
        if still:
            raise usage_error(f"the previous run's trial processes did not stop (pid "
                              f"{', '.join(map(str, still))})", self.out)
        done = {r.name for r in previous}
        killed = []
        for name in leftovers.trials:
            started = None if name in done else self._started_with(name)
            if started is None:
                continue  # finished, or started but never described: nothing to run again
            record = dataclasses.replace(started, end=_now(), log=f"trials/{name}/{ex.LOG_NAME}",
                                         message=RUNNER_DIED)
            self.results.append(record)
            killed.append(record)
        what = f"{len(leftovers.alive)} process(es) of trial(s) {', '.join(leftovers.trials) or '-'}"
        self.notes.append(f"the previous runner (pid {leftovers.runner_pid}) died; stopped {what} "
                          "it left running; they run again under new names")
        return killed

    def _started_with(self, name: str) -> TrialRecord | None:
        """What a trial was started with (its trial.json, written at its start), if it can be trusted."""
        import json

        path = self.out / "trials" / name / STARTED_FILE
        if special_kind(path) is not None:
            return None  # a FIFO would block: never opened
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            record = TrialRecord.from_json(dict(data, name=name, status=KILLED))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if set(record.parameters) != {p.name for p in self.plan.parameters}:
            return None
        return record

    # -- setup ------------------------------------------------------------
    def _preflight(self) -> None:
        plan, options = self.plan, self.options
        if plan.collector.kind in CLUSTER_ONLY_COLLECTORS:
            raise plan.error(f"the {plan.collector.kind} metrics collector is not available locally "
                             "(StdOut, File and None are)",
                             ("spec", "metricsCollectorSpec", "collector", "kind"))
        workdir = Path(options.workdir)
        if not workdir.is_dir():
            what = "is not a directory" if workdir.exists() else "does not exist"
            raise usage_error(f"working directory {workdir} {what} (--workdir)", plan.source)
        # Resolve trial metadata references and the command once, before
        # anything is written, so a broken template fails fast and cleanly.
        ex.build_command(plan, f"{plan.name}-preflight", {p.name: (p.values or (p.min,))[0]
                                                          for p in plan.parameters},
                         workdir=workdir, trial_dir=self.out, base_env={})
        container = plan.template.container
        image = container.get("image")
        what = f"image {image} is not pulled" if image else "no image is pulled"
        self.notes.append(f"{what}: trials run the {plan.template.primary_container_name!r} "
                          f"container's command locally in {workdir}")
        _, from_refs = ex.container_env(container)
        unresolved = [n for n in from_refs if n not in options.env]
        if unresolved:
            one = len(unresolved) == 1
            self.notes.append(f"env {', '.join(unresolved)} {'is' if one else 'are'} set from a Secret or "
                              f"ConfigMap on the cluster, not locally; export {'it' if one else 'them'} "
                              f"in your shell if the trial needs {'it' if one else 'them'}")
        if plan.max_trial_count is None:
            self.notes.append("no maxTrialCount: trials run until the goal is reached, the algorithm "
                              "runs out of suggestions, or Ctrl-C (see --max-trials)")
        if plan.template.kind and plan.template.kind != "Job":
            self.notes.append(f"trial kind {plan.template.kind}: only the primary container runs, "
                              "as one local process")

    def _check_same_experiment(self, info: Mapping[str, Any]) -> None:
        for key, ours in (("experiment", self.plan.name), ("algorithm", self.plan.algorithm.name)):
            theirs = info.get(key)
            if theirs is not None and theirs != ours:
                raise usage_error(f"cannot resume: {self.out} holds a run of {key} {theirs!r}, "
                                  f"not {ours!r}", self.plan.source)

    def _check_restartable(self, info: Mapping[str, Any], previous: list[TrialRecord]) -> None:
        """Katib's restart rules for a run that completed (its condition is in run.json).

        Only an Experiment that Succeeded by reaching maxTrialCount with resumePolicy LongRunning or FromVolume
        can be restarted (experiment/util/status_util.go IsCompletedExperimentRestartable), by a maxTrialCount
        above the trials it has (validator.go ValidateExperiment; experiment_controller.go Reconcile). An
        interrupted run is not a completed Experiment: --resume always continues it.
        """
        condition = info.get("condition")
        if not isinstance(condition, dict) or condition.get("type") not in (EXPERIMENT_SUCCEEDED, "Failed"):
            return
        reason = condition.get("reason")
        policy = self.plan.resume_policy
        if condition["type"] != EXPERIMENT_SUCCEEDED or reason != MAX_TRIALS_REACHED:
            raise usage_error(f"cannot resume: the Experiment completed ({condition['type']}, {reason}), and Katib "
                              "restarts only an Experiment that Succeeded by reaching maxTrialCount "
                              "(status_util.go IsCompletedExperimentRestartable); start a new run with --out",
                              self.plan.source)
        if policy not in ("LongRunning", "FromVolume"):
            raise usage_error(f"cannot resume: the Experiment completed, and with resumePolicy {policy} Katib "
                              "cannot restart it (status_util.go IsCompletedExperimentRestartable): set resumePolicy "
                              "LongRunning or FromVolume, or start a new run with --out", self.plan.source)
        trials = sum(1 for r in previous if not is_interrupted(r))
        if self.plan.max_trial_count is not None and self.plan.max_trial_count <= trials:
            raise usage_error(f"cannot resume: the Experiment completed with {trials} trials; Katib restarts it when "
                              f"maxTrialCount is raised above {trials} (validator.go: maxTrialCount must be greater "
                              "than status.trials): pass --max-trials", self.plan.source)
        limit = "" if self.plan.max_trial_count is None else f" up to maxTrialCount {self.plan.max_trial_count}"
        self.notes.append(f"restarting the completed Experiment (resumePolicy {policy}): new trials{limit}, "
                          "with new suggestions")

    def _replay(self, previous: list[TrialRecord]) -> None:
        if not previous:
            return
        self.records = list(previous)
        pending = outstanding_kills(previous)
        self.counts = Counts()
        for r in previous:
            if not is_interrupted(r):
                self.counts.add(r.status)
        self._rank()
        self.next_index = max(r.index for r in previous) + 1
        history = []
        for r in previous:
            state = {SUCCEEDED: "complete", EARLY_STOPPED: "pruned"}.get(r.status, "fail")
            history.append(Past(r.parameters, r.suggestion, state, r.objective))
            if self.medianstop is not None and r.status == SUCCEEDED:
                self.medianstop.add_succeeded(r.name, objective_values(self._reports_of(r), self.plan.objective.metric))
        try:
            self.suggester.replay(history)
        except (ValueError, KeyError, TypeError) as exc:
            raise usage_error(f"cannot resume: the trials in {self.results.path} do not fit this "
                              f"experiment's parameters ({exc})", self.plan.source) from None
        for r in pending:
            self.suggester.requeue(r.parameters, r.suggestion)
        self.reruns = list(pending)
        self.notes.append(f"resuming: {len(previous) - len(pending)} finished trial(s) kept"
                          + (f", {len(pending)} interrupted trial(s) to run again" if pending else ""))

    def _reports_of(self, record: TrialRecord) -> list[Report]:
        trial_dir = self.out / "trials" / record.name
        source = self._metrics_source(trial_dir / ex.LOG_NAME, trial_dir)
        try:
            # A previous run's files are untrusted: never follow a link out of the trial's directory.
            if not source.resolve().is_relative_to(trial_dir.resolve()) or special_kind(source) is not None:
                return []
            return parse_text(self._parser(), source.read_text(encoding="utf-8", errors="replace"))
        except (OSError, MetricsError):
            return []

    # -- metrics ----------------------------------------------------------
    def _parser(self):
        c = self.plan.collector
        return make_parser(c.kind, c.format, self.plan.objective.metric_names, c.filters)

    def _metrics_source(self, log_path: Path, trial_dir: Path) -> Path:
        c = self.plan.collector
        if c.kind == "File" and c.path:
            return ex.mapped_metrics_path(trial_dir, c.path)
        return log_path

    # -- the loop ---------------------------------------------------------
    def run(self) -> RunResult:
        guardian = None
        try:
            # Trials die with this runner, however it dies (``guardian``): started before any trial.
            guardian = start_guardian(self.rundir.token)
            if guardian is None:
                self.notes.append("no guardian process could start: if this runner is killed, its trials "
                                  "keep running until `--resume` stops them")
            return self._run()
        except OSError as exc:  # the run directory's disk is full (or it went read-only): say so
            raise _write_error(exc, self.out) from None
        finally:
            self.store.close()
            self.rundir.release()
            if guardian is not None:
                os.close(guardian)  # the guardian finds no trial of ours left, and ends

    def _run(self) -> RunResult:
        plan = self.plan
        if self.results.repair():
            self.notes.append(f"{self.results.path}: the last record was cut short by a crash (a kill, a full "
                              "disk); dropped, as if that trial had not finished")
        (self.out / "trials").mkdir(exist_ok=True)
        write_run_info(self.out, {"experiment": plan.name, "algorithm": plan.algorithm.name,
                                  "seed": self.seed, "objective": plan.objective.metric,
                                  "source": plan.source})
        self.rundir.record([])
        progress = Progress(self.options.stream, plan.max_trial_count, self.options.tty,
                            plan.objective.metric)
        self.progress = progress
        for note in dict.fromkeys(self.notes):
            progress.note(note)
        progress.note(f"algorithm {plan.algorithm.name}, seed {self.seed}; up to {self.capacity} "
                      f"trial(s) at once; results in {self.out}")
        waiter = ex.Waiter()
        condition: Condition | None = None
        interrupted = False
        write_error: OSError | None = None
        stop = _StopRequest(waiter)
        try:
            while not stop.requested:
                self._reap(waiter)
                if condition is None:
                    condition = experiment_condition(plan, self.counts, self._best_value(),
                                                     self.suggester.exhausted, self._space_size(),
                                                     self.goal_reached)
                    if condition is not None:
                        self._on_condition(condition)
                if condition is not None:
                    if self.options.stop_on_finish or not self.running:
                        break
                else:
                    self._launch_more(waiter, stop)
                    self.counts.running = len(self.running)
                    # The Optuna storage writer (some 0.6 s of CPU, most of it SQLAlchemy's and Alembic's
                    # imports) starts once the first trials run: started before, it would hold the
                    # interpreter while the runner picks and launches them, and delay them all.
                    self.store.start()
                    if stop.requested:
                        break
                    if not self.running:
                        condition = experiment_condition(plan, self.counts, self._best_value(), True,
                                                         self._space_size(), self.goal_reached)
                        break
                progress.update(self.counts, self._best_pair())
                watching = progress.tty or any(a.rule for a in self.running.values())
                waiter.wait([a.process for a in self.running.values()], 0.25 if watching else 2.0)
        except KeyboardInterrupt:
            interrupted = True
        except OSError as exc:  # a full --out disk: stop the trials, keep what is recorded, then say so
            write_error = exc
        finally:
            interrupted = interrupted or stop.requested
            reason = INTERRUPTED if interrupted or condition is None else \
                f"experiment finished: {condition.reason}"
            # A second Ctrl-C must not orphan trials half-way through stopping them. Every trial is
            # signalled at once (SIGTERM, then SIGKILL to its group and escaped processes after the grace
            # period), so stopping N trials takes one grace period, not N.
            with _signals_ignored():
                running = list(self.running.values())
                for active in running:
                    waiter.remove(active.process)
                ex.terminate_all([a.process for a in running], self.options.grace_seconds)
                for active in running:
                    try:
                        self._finish(active, killed=reason)
                    except OSError as exc:
                        write_error = write_error or exc
                waiter.close()
                progress.close()
            stop.close()
        if write_error is not None:
            raise write_error
        self.store.start()  # when no trial was launched
        if interrupted or condition is None:
            condition = Condition(EXPERIMENT_RUNNING, "Interrupted",
                                  "stopped by the user; finished trials are kept, --resume continues")
        result = self._report(condition, interrupted)
        result.terminated = stop.signum == signal.SIGTERM
        return result

    def _reap(self, waiter: ex.Waiter) -> None:
        for active in list(self.running.values()):
            if active.process.exited():
                waiter.remove(active.process)
                self._finish(active)
            elif active.rule is not None and self._watch(active):
                waiter.remove(active.process)
                active.process.terminate(self.options.grace_seconds)
                self._finish(active, early_stopped=True)
        self.counts.running = len(self.running)

    def _on_condition(self, condition: Condition) -> None:
        running = len(self.running)
        if not running:
            return
        if self.options.stop_on_finish:
            self.finish_note = (f"{running} trial(s) still running when the Experiment completed were "
                                "killed (--stop-on-finish; Katib lets them finish)")
        else:
            self.finish_note = (f"{running} trial(s) still running when the Experiment completed were "
                                "allowed to finish, as on Katib; their results count (--stop-on-finish "
                                "kills them)")
        self.progress.note(f"experiment {condition.type} ({condition.reason}); "
                           + ("killing" if self.options.stop_on_finish else "waiting for")
                           + f" the {running} running trial(s)")

    def _space_size(self) -> int | None:
        return getattr(self.suggester, "grid_size", None)

    def _rank(self) -> None:
        """currentOptimalTrial and the goal, as Katib's controller decides them (results.katib_best)."""
        for r in self.records:
            if r.name not in self.objective_texts:
                self.objective_texts[r.name] = objective_text(self.plan, r)
        ranked = katib_best(self.plan, self.records, self.objective_texts)
        self.best, self.goal_reached = ranked.trial, ranked.goal_reached
        if ranked.trial is not None and math.isnan(ranked.value) and not self.nan_noted:
            self.nan_noted = True
            note = (f"{ranked.trial.name} reported {self.plan.objective.metric} NaN first: Katib's controller "
                    "compares every later value with it, and no comparison with NaN holds, so that trial stays "
                    "the best and the goal is never reached (status_util.go updateTrialsSummary)")
            self.notes.append(note)
            if self.progress is not None:
                self.progress.note(note)

    def _best_value(self) -> float | None:
        return self.best.objective if self.best else None

    def _best_pair(self):
        return (self.best.name, self.best.objective) if self.best and self.best.objective is not None else None

    def _new_trial_dir(self) -> tuple[str, int, Path]:
        """The next unused name: a directory that already exists is never written into again."""
        while True:
            index = self.next_index
            self.next_index += 1
            name = f"{self.plan.name}-{index:03d}"
            # Absolute: the trial runs in the working directory, and a File
            # collector's mapped path appears in its command line.
            trial_dir = (self.out / "trials" / name).absolute()
            try:
                trial_dir.mkdir()
            except FileExistsError:
                continue
            return name, index, trial_dir

    def _launch_more(self, waiter: ex.Waiter, stop: "_StopRequest") -> None:
        import json

        plan = self.plan
        while not stop.requested and len(self.running) < self.capacity and (
            plan.max_trial_count is None
            or self.counts.completed_for_creation + len(self.running) < plan.max_trial_count
        ):
            suggestion = self.suggester.ask()
            if suggestion is None:
                return
            name, index, trial_dir = self._new_trial_dir()
            devices = self.gpus.acquire() if self.gpus else None
            cmd = ex.build_command(plan, name, suggestion.assignments, workdir=Path(self.options.workdir),
                                   trial_dir=trial_dir, extra_env=self.options.env, devices=devices,
                                   marker=f"{self.rundir.token}/{name}")
            rerun_of = None
            if self.reruns and dict(self.reruns[0].parameters) == dict(suggestion.assignments):
                rerun_of = self.reruns.pop(0).name
            (trial_dir / STARTED_FILE).write_text(json.dumps(
                {"index": index, "parameters": dict(suggestion.assignments),
                 "suggestion": dict(suggestion.token)}, sort_keys=True) + "\n", encoding="utf-8")
            # Recorded before the process exists: a runner killed in between leaves a
            # name whose processes (none, or some carrying the token) --resume handles.
            self.rundir.record([*((n, a.process.pid) for n, a in self.running.items()), (name, None)])
            start_wall = _now()
            process = ex.TrialProcess(cmd)
            active = _Active(suggestion, cmd, process, index, start_wall, time.monotonic(),
                             rerun_of=rerun_of)
            if self.medianstop is not None:
                active.rule = self.medianstop.current_rule()  # fixed when the trial starts, as in Katib
                active.tail = Tail(self._metrics_source(cmd.log_path, trial_dir))
            self.running[name] = active
            self.rundir.record((n, a.process.pid) for n, a in self.running.items())
            self.counts.running = len(self.running)
            waiter.add(process)
            self.progress.trial_started(name, suggestion.assignments, cmd.devices)

    def _watch(self, active: _Active) -> bool:
        """Feed new lines to the trial's stop rule; whether the rule says stop.

        A line the watcher cannot read stops the collector (main.go
        watchMetricsFile's klog.Fatalf): the trial will Fail, and is no longer watched.
        """
        if active.collector_error:
            return False
        parser = self._parser()
        metric = self.plan.objective.metric
        try:
            for line in active.tail.read_lines():
                for value in parser.watch_line(line, metric):
                    active.reported.append(value)
                    if active.rule.should_stop(active.reported):
                        return True
        except MetricsError as exc:
            active.collector_error = str(exc)
        return False

    def _finish(self, active: _Active, early_stopped: bool = False, killed: str | None = None) -> None:
        plan = self.plan
        rc = active.process.reap()
        end_wall = _now()
        duration = time.monotonic() - active.start
        del self.running[active.cmd.name]
        self.rundir.record((n, a.process.pid) for n, a in self.running.items())
        if self.gpus and active.cmd.devices:
            self.gpus.release(active.cmd.devices)
        if active.rule is not None and killed is None and not early_stopped:
            self._watch(active)  # lines written after the last look: the watcher sees every line

        metrics: dict = {}
        objective = None
        message = ""
        reports: list[Report] = []
        if killed is not None:
            status, message = KILLED, killed
        elif not early_stopped and (active.process.error or rc != 0):
            status = FAILED
            message = active.process.error or _exit_message(rc)
        elif active.collector_error:
            status, message = FAILED, active.collector_error
        else:
            status = EARLY_STOPPED if early_stopped else SUCCEEDED
            if early_stopped:
                best = max(active.reported) if plan.objective.maximize else min(active.reported)
                message = (f"best {plan.objective.metric} {best!r} by report {len(active.reported)} is "
                           f"worse than the mean {active.rule.value!r} of the succeeded trials")
        if status in (SUCCEEDED, EARLY_STOPPED, KILLED) and plan.collector.kind != "None":
            source = self._metrics_source(active.cmd.log_path, active.cmd.trial_dir)
            parser = self._parser()
            try:
                if special_kind(source) is not None:  # a trial may leave a FIFO there: never opened
                    raise MetricsError(f"the metrics file {source.name} is {special_kind(source)}, not a file")
                reports = parse_text(parser, source.read_text(encoding="utf-8", errors="replace"))
            except (FileNotFoundError, IsADirectoryError):
                # main.go reportMetrics: CollectObservationLog cannot open the file and the
                # collector exits with an error, so the trial Fails.
                if status == SUCCEEDED:
                    status, message = FAILED, (f"the metrics collector stopped: metrics file "
                                               f"{plan.collector.path or 'for the StdOut collector'} "
                                               "was not written")
            except MetricsError as exc:
                if status == SUCCEEDED:
                    status, message = FAILED, str(exc)
            for warning in getattr(parser, "warnings", []):
                message = (message + "; " if message else "") + warning
                if warning not in self.notes:  # say it once, not once per trial
                    self.notes.append(warning)
                    self.progress.note(warning)
            summary = summarize(reports, plan.objective.metric_names)
            metrics = metrics_json(summary)
            if plan.objective.metric in summary:
                strategy = plan.objective.strategies.get(plan.objective.metric,
                                                         "max" if plan.objective.maximize else "min")
                objective = summary[plan.objective.metric].pick(strategy)
                if objective is None and status == SUCCEEDED:
                    text = summary[plan.objective.metric].pick_text(strategy)
                    message = (f"{plan.objective.metric} was reported as {text!r}, not a number: Katib "
                               "records the value and the trial Succeeds"
                               + (f"; {message}" if message else ""))
            elif status == SUCCEEDED:
                where = "the trial's output" if plan.collector.kind == "StdOut" else plan.collector.path
                status = METRICS_UNAVAILABLE
                message = (f"objective metric {plan.objective.metric} was not reported in {where}"
                           + (f"; {message}" if message else ""))
        if status == KILLED:
            objective = None  # a killed trial has no observation Katib would use

        container_log = active.cmd.container_log
        if container_log is not None:
            try:
                if container_log.stat().st_size == 0:
                    container_log.unlink()  # nothing but the trial's own output: keep one log
            except OSError:
                pass
        record = TrialRecord(
            name=active.cmd.name, index=active.index, parameters=dict(active.suggestion.assignments),
            status=status, start=active.start_wall, end=end_wall, duration=duration,
            exit_code=None if status == KILLED else rc, metrics=metrics, objective=objective,
            log=_rel(active.cmd.log_path, self.out.absolute()), message=message,
            suggestion=dict(active.suggestion.token), rerun_of=active.rerun_of,
            devices=list(active.cmd.devices),
        )
        self.results.append(record)
        self.store.add(record)
        self.records.append(record)
        if killed != INTERRUPTED:
            self.counts.add(status)
        self.counts.running = len(self.running)
        state = {SUCCEEDED: "complete", EARLY_STOPPED: "pruned"}.get(status, "fail")
        self.suggester.tell(active.suggestion, state, objective)
        if status == SUCCEEDED and self.medianstop is not None:
            self.medianstop.add_succeeded(record.name, objective_values(reports, plan.objective.metric))
        self._rank()
        self.progress.trial_finished(record.name, status, objective, duration, message)
        if status == FAILED:
            self.progress.trial_output(self._output_tail(active.cmd), self._log_paths(active.cmd))
        self.progress.update(self.counts, self._best_pair())

    def _log_paths(self, cmd: ex.TrialCommand) -> list[Path]:
        paths = [cmd.log_path]
        if cmd.container_log is not None and cmd.container_log.exists():
            paths.append(cmd.container_log)
        return [p for p in paths if p.exists()]

    def _output_tail(self, cmd: ex.TrialCommand) -> list[str]:
        """The last lines the trial printed: its own output, then what the shell said."""
        lines: list[str] = []
        for path in self._log_paths(cmd):
            if special_kind(path) is not None:
                continue  # the trial replaced its log with a FIFO: never opened
            try:
                with open(path, "rb") as f:
                    f.seek(max(0, path.stat().st_size - 4096))
                    text = f.read().decode("utf-8", errors="replace")
            except OSError:
                continue
            lines.extend(text.splitlines()[-TAIL_LINES:])
        return lines[-TAIL_LINES:]

    def _report(self, condition: Condition, interrupted: bool) -> RunResult:
        from ..io.yamlio import dump

        from .plot import HTML_FILE, PLOT_FILE, html_report, parallel_coordinates

        plan = self.plan
        counts = Counts()
        for r in self.records:
            if not is_interrupted(r):
                counts.add(r.status)
        files: list[tuple[str, Path | str]] = [("Results", self.results.path)]
        (self.out / STATUS_FILE).write_text(
            dump(status_document(plan, condition, counts, self.best, self.records, _now())), encoding="utf-8")
        files.append(("Status", self.out / STATUS_FILE))
        plot_file = html_file = None
        if self.options.plot and self.records:
            plot_file = parallel_coordinates(plan, self.records, self.out / PLOT_FILE, self.best)
            files.append(("Plot", plot_file))
        # After Ctrl-C the user waits: give the storage a few seconds, not a minute. What it
        # has not written yet is added from trials.jsonl by the next --resume.
        self.store.close(timeout=5.0 if interrupted else 60.0)
        for error in self.store.errors:
            self.progress.note(error)
        study_file = self.store.path if self.store.path.exists() else None
        if study_file is not None:
            files.append(("Study", f"{study_file} (open it: optuna-dashboard {storage_url(study_file)})"))
        finish_note = self.finish_note or ("No trial was still running when the Experiment completed."
                                           if condition.type != EXPERIMENT_RUNNING else "")
        if self.options.html and plot_file is not None:
            files.append(("Report", self.out / HTML_FILE))
        if not interrupted:
            # What --resume checks Katib's restart rules against (an interrupted run has no condition yet).
            write_run_info(self.out, {**read_run_info(self.out),
                                      "condition": {"type": condition.type, "reason": condition.reason}})
        summary = summary_text(plan, condition, counts, self.best, files,
                               interrupted=len(outstanding_kills(self.records)), finish_note=finish_note)
        if self.options.html and plot_file is not None:
            html_file = html_report(plan, self.records, plot_file, self.out / HTML_FILE, summary, self.best)
        return RunResult(
            name=plan.name, condition=condition, counts=counts, trials=list(self.records),
            best=self.best, out=self.out, trials_file=self.results.path, plot_file=plot_file,
            html_file=html_file, summary=summary, seed=self.seed, interrupted=interrupted,
            study_file=study_file,
        )


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class _StopRequest:
    """Ctrl-C and SIGTERM as a flag the loop checks, not an exception.

    A KeyboardInterrupt raised between starting a trial and recording it would
    orphan that trial; a flag is only looked at between whole steps. The
    handler also wakes the loop through a pipe the waiter watches, so the stop
    is immediate. Outside the main thread (no signal handlers there) Ctrl-C
    stays a KeyboardInterrupt.
    """

    def __init__(self, waiter: ex.Waiter):
        self.requested = False
        self.signum: int | None = None
        self.saved: dict = {}
        self.pipe: tuple[int, int] | None = None
        if not _main_thread():
            return
        self.pipe = os.pipe()
        os.set_blocking(self.pipe[1], False)
        waiter.add_fd(self.pipe[0])
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.saved[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        self.signum = signum
        try:
            os.write(self.pipe[1], b"!")
        except OSError:
            pass

    def close(self) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        self.saved = {}
        if self.pipe:
            for fd in self.pipe:
                os.close(fd)
            self.pipe = None


@contextlib.contextmanager
def _signals_ignored():
    if not _main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def _write_error(exc: OSError, out: Path) -> UserError:
    """A failed write into the run directory (ENOSPC, EDQUOT, EROFS, EFBIG): one line naming the file."""
    from ..io.findings import Finding

    where = exc.filename if exc.filename is not None else out
    return UserError(Finding(f"cannot write the run directory: {exc.strerror or exc}; the running trials were "
                             "stopped and every finished one is kept: once there is room, --resume continues",
                             file=str(where)), exit_code=2)


def _exit_message(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    # What sh reports for a command it cannot find or run (and what a container runtime does).
    meaning = {127: " (command not found)", 126: " (not executable)"}
    return f"exit code {rc}{meaning.get(rc, '')}"


def run_experiment(experiment: Mapping[str, Any], options: RunOptions | None = None) -> RunResult:
    """Run a Katib Experiment (a plain kubeflow.org/v1beta1 dict) on this machine."""
    options = options or RunOptions()
    plan = _apply_overrides(plan_from_experiment(experiment, options.source), options)
    return Runner(plan, options).run()
