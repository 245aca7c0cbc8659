"""What a run leaves behind: ``trials.jsonl``, ``run.json``, ``status.yaml``, the summary.

``trials.jsonl`` gets one JSON line per trial as it finishes (append-only, so
an interrupted run keeps every finished trial); ``--resume`` reads it back.
``status.yaml`` is the experiment's status in the shape ``kubectl get
experiment -o yaml`` shows it (conditions, trial counts, currentOptimalTrial).
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..io.findings import Finding, UserError
from ..io.safetext import clean
from .lifecycle import (
    EARLY_STOPPED,
    EXPERIMENT_FAILED,
    EXPERIMENT_SUCCEEDED,
    KILLED,
    SUCCEEDED,
    TRIAL_STATUSES,
    Condition,
    Counts,
)
from .metrics import MetricSummary, katib_number
from .experiment_view import Plan

TRIALS_FILE = "trials.jsonl"
UNAVAILABLE = "unavailable"  # consts.UnavailableMetricValue
# A trial name read back from trials.jsonl becomes a directory name under
# trials/: nothing in it may name another path.
TRIAL_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,250}[a-z0-9])?")
RUN_FILE = "run.json"
STATUS_FILE = "status.yaml"


@dataclass
class TrialRecord:
    name: str
    index: int
    parameters: dict[str, str]
    status: str
    start: str
    end: str
    duration: float
    exit_code: int | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    objective: float | None = None
    log: str = ""
    message: str = ""
    suggestion: dict[str, Any] = field(default_factory=dict)
    rerun_of: str | None = None
    devices: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        data = {
            "name": self.name,
            "index": self.index,
            "parameters": self.parameters,
            "status": self.status,
            "exitCode": self.exit_code,
            "metrics": self.metrics,
            "objective": self.objective,
            "start": self.start,
            "end": self.end,
            "durationSeconds": round(self.duration, 3),
            "log": self.log,
            "message": self.message,
            "suggestion": self.suggestion,
        }
        if self.rerun_of:
            data["rerunOf"] = self.rerun_of
        if self.devices:
            data["cudaVisibleDevices"] = ",".join(self.devices)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TrialRecord":
        devices = data.get("cudaVisibleDevices")
        name = data["name"]
        if not isinstance(name, str) or not TRIAL_NAME.fullmatch(name) or ".." in name:
            raise ValueError(f"trial name {name!r} is not a Kubernetes object name")
        index = data["index"]
        if isinstance(index, bool) or not isinstance(index, int) or index < 1:
            raise ValueError(f"index {index!r} is not a positive integer")
        if data["status"] not in TRIAL_STATUSES:
            raise ValueError(f"status {data['status']!r} is not a trial status")
        return cls(
            name=name,
            index=index,
            parameters={str(k): str(v) for k, v in data["parameters"].items()},
            status=data["status"],
            start=data.get("start", ""),
            end=data.get("end", ""),
            duration=float(data.get("durationSeconds", 0.0)),
            exit_code=data.get("exitCode"),
            metrics=data.get("metrics") or {},
            objective=data.get("objective"),
            log=data.get("log", ""),
            message=data.get("message", ""),
            suggestion=_token(data.get("suggestion") or {}),
            rerun_of=data.get("rerunOf"),
            devices=devices.split(",") if devices else [],
        )


def _token(value: Any) -> dict[str, int]:
    """A suggestion token read back: the runner's own small integers, nothing else."""
    if not isinstance(value, dict) or not set(value) <= {"number", "gridId", "id"} or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < MAX_TOKEN for v in value.values()):
        raise ValueError(f"suggestion {value!r} is not one the runner writes")
    return dict(value)


MAX_TOKEN = 10_000_000  # far above any run's trial count; replaying a bigger one would never end


def _torn(raw: bytes) -> tuple[int, bool]:
    """(where the complete records end, whether the last line is a whole record that only lost its line
    break). A runner killed, or stopped by a full disk, while appending a record leaves the beginning of
    one as the last line: ``{"`` and the start of a JSON object, no line break. Anything else is kept as
    it is, and read as what it is."""
    if not raw or raw.endswith(b"\n"):
        return len(raw), False
    start = raw.rfind(b"\n") + 1
    tail = raw[start:]
    try:
        TrialRecord.from_json(json.loads(tail))
        return len(raw), True
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    if tail.startswith(b'{"') and _utf8_prefix(tail):
        return start, False
    return len(raw), False


def _utf8_prefix(data: bytes) -> bool:
    """Whether data is UTF-8, but for a character cut off at its end."""
    for cut in range(4):
        try:
            data[: len(data) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


class ResultsFile:
    def __init__(self, out: Path):
        self.path = out / TRIALS_FILE

    def load(self) -> list[TrialRecord]:
        """The records, in order; exit status 2 on anything katib-gitops did not write, except a torn last
        record (``_torn``), which is left out (``repair`` cuts it off before the run writes again)."""
        if not self.path.exists():
            return []
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise UserError(Finding(f"cannot read the trial records: {exc}", file=str(self.path)),
                            exit_code=2) from None
        cut, _ = _torn(raw)
        try:
            text = raw[:cut].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(Finding(f"cannot read the trial records: {exc}", file=str(self.path)),
                            exit_code=2) from None
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(TrialRecord.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise UserError(Finding(f"not a trial record: {exc}", file=str(self.path), line=n),
                                exit_code=2) from None
        return records

    def repair(self) -> bool:
        """Cut off a torn last record (or give a whole one its lost line break); whether anything changed."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return False
        cut, complete = _torn(raw)
        if cut == len(raw) and (not raw or raw.endswith(b"\n")):
            return False
        with open(self.path, "r+b") as fh:
            if complete:
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")
            else:
                fh.truncate(cut)
        return True

    def append(self, record: TrialRecord) -> None:
        # One complete line per write, flushed to the OS at once: an interrupted
        # or killed runner leaves every finished trial readable for --resume.
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record.to_json(), sort_keys=True) + "\n")
        except OSError as exc:  # a full disk shows at close, with no file name: name it
            raise type(exc)(exc.errno, exc.strerror, str(self.path)) from None


def read_run_info(out: Path) -> dict:
    """run.json, checked: exit status 2 when it is not what katib-gitops writes."""
    path = out / RUN_FILE
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise UserError(Finding(f"not JSON: {exc}", file=str(path)), exit_code=2) from None
    seed = info.get("seed") if isinstance(info, dict) else None
    if not isinstance(info, dict) or (seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32)) or any(
            not isinstance(info.get(k), (str, type(None))) for k in ("experiment", "algorithm")):
        raise UserError(Finding("not a run description (expected experiment, algorithm and a seed "
                                "in 0..2^32-1)", file=str(path)), exit_code=2)
    return info


def write_run_info(out: Path, info: Mapping[str, Any]) -> None:
    tmp = out / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out / RUN_FILE)


def is_interrupted(record: TrialRecord) -> bool:
    """Killed because the runner stopped, not by the experiment: not a Katib trial outcome."""
    return record.status == KILLED and record.message in (INTERRUPTED, RUNNER_DIED)


def outstanding_kills(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Trials killed by an interrupt (or a dead runner) that no later trial has re-run yet."""
    rerun = {r.rerun_of for r in records if r.rerun_of}
    return [r for r in records if is_interrupted(r) and r.name not in rerun]


INTERRUPTED = "stopped by the user (interrupted)"
RUNNER_DIED = "the runner died while this trial ran; --resume stopped what was left of it"


@dataclass(frozen=True)
class Best:
    """status_util.go updateTrialsSummary's outcome: currentOptimalTrial, the value it compares with, and
    whether the objective's goal counts as reached."""

    trial: TrialRecord | None = None
    value: float = 0.0
    goal_reached: bool = False


def objective_text(plan: Plan, record: TrialRecord) -> str:
    """status_util.go getObjectiveMetricValue over a stored trial: the objective strategy's value as Katib holds
    it, "unavailable" without one (and for trials the runner itself interrupted)."""
    obj = plan.objective
    m = record.metrics.get(obj.metric)
    if is_interrupted(record) or not isinstance(m, dict):
        return UNAVAILABLE
    strategy = obj.strategies.get(obj.metric, "max" if obj.maximize else "min")
    return MetricSummary(*(_text(m.get(k)) for k in ("min", "max", "latest"))).pick_text(strategy)


def katib_best(plan: Plan, records: Iterable[TrialRecord],
               texts: Mapping[str, str] | None = None) -> Best:
    """experiment/util/status_util.go updateTrialsSummary over the trials, in the order the API lists them (by
    name): each trial's objective text (getObjectiveMetricValue) read by strconv.ParseFloat; the first number
    sets the best, a strictly better one replaces it, and the goal is reached once the best meets it. A text
    that is not a number makes its trial the best without changing the value (which then starts at 0); a NaN
    first is never beaten and never meets the goal. texts: objective_text of each record by name, when the
    caller keeps them."""
    obj = plan.objective
    best, value, reached = None, 0.0, False
    index = -1
    for r in sorted(records, key=lambda r: r.name):
        text = texts[r.name] if texts is not None and r.name in texts else objective_text(plan, r)
        if text == UNAVAILABLE:
            continue
        number = _katib_number(text)
        if number is None:
            best, index = r, 0
            continue
        if index == -1:
            best, value, index = r, number, 0
        if (number > value) if obj.maximize else (number < value):
            best, value = r, number
        if obj.goal is not None and ((value >= obj.goal) if obj.maximize else (value <= obj.goal)):
            reached = True
    return Best(best, value, reached)


_katib_number = lru_cache(maxsize=8192)(katib_number)  # each finished trial ranks them all again


def _text(value: Any) -> str:
    """A stored metric back as the text Katib holds: numbers in Python's shortest form, text as reported."""
    if isinstance(value, bool) or value is None:
        return UNAVAILABLE
    return repr(float(value)) if isinstance(value, (int, float)) else str(value)


def best_trial(plan: Plan, records: Iterable[TrialRecord]) -> TrialRecord | None:
    """Katib's currentOptimalTrial (``katib_best``)."""
    return katib_best(plan, records).trial


def counts_of(records: Iterable[TrialRecord], ignore: set[str] = frozenset()) -> Counts:
    counts = Counts()
    for r in records:
        if r.name not in ignore:
            counts.add(r.status)
    return counts


def _fmt(value: float | str) -> str:
    """A metric as Katib's status shows it: numbers as text, other values as reported."""
    return value if isinstance(value, str) else repr(float(value))


def status_document(plan: Plan, condition: Condition, counts: Counts,
                    best: TrialRecord | None, records: Sequence[TrialRecord], now: str = "") -> dict:
    """The experiment's status as Katib reports it (field names as in the API), with the spec's objective and
    counts as run (what ``katib-gitops results`` ranks the best trial by, as for a live Experiment).

    startTime is the first trial's start; completionTime, set only once the Experiment Succeeded or Failed
    (experiment/util/status_util.go UpdateExperimentStatusCondition), is now, the time of this report.
    """
    starts = sorted(r.start for r in records if r.start)
    status: dict[str, Any] = {
        "startTime": starts[0] if starts else now,
        "conditions": [{"type": condition.type, "status": "True", "reason": condition.reason,
                        "message": condition.message, "lastUpdateTime": now, "lastTransitionTime": now}],
        "trials": counts.completed + counts.running,
        "trialsSucceeded": counts.succeeded,
        "trialsFailed": counts.failed,
        "trialMetricsUnavailable": counts.metrics_unavailable,
        "trialsEarlyStopped": counts.early_stopped,
        "trialsKilled": counts.killed,
    }
    for key, status_name in (("succeededTrialList", SUCCEEDED), ("failedTrialList", "Failed"),
                             ("metricsUnavailableTrialList", "MetricsUnavailable"),
                             ("earlyStoppedTrialList", EARLY_STOPPED), ("killedTrialList", KILLED)):
        names = [r.name for r in records if r.status == status_name]
        if names:
            status[key] = names
    if best is not None:
        status["currentOptimalTrial"] = {
            "bestTrialName": best.name,
            "parameterAssignments": [{"name": p.name, "value": best.parameters[p.name]}
                                     for p in plan.parameters],
            "observation": {"metrics": [
                {"name": m, "min": _fmt(v["min"]), "max": _fmt(v["max"]), "latest": _fmt(v["latest"])}
                for m in plan.objective.metric_names if (v := best.metrics.get(m))
            ]},
        }
    if condition.type in (EXPERIMENT_SUCCEEDED, EXPERIMENT_FAILED):
        status["completionTime"] = now
    status["lastReconcileTime"] = now
    obj = plan.objective
    objective: dict[str, Any] = {"type": obj.type, "objectiveMetricName": obj.metric}
    if obj.goal is not None:
        objective["goal"] = obj.goal
    if obj.additional:
        objective["additionalMetricNames"] = list(obj.additional)
    objective["metricStrategies"] = [{"name": m, "value": obj.strategies.get(m, "max" if obj.maximize else "min")}
                                     for m in obj.metric_names]
    spec: dict[str, Any] = {"objective": objective, "parallelTrialCount": plan.parallel_trial_count}
    for key, value in (("maxTrialCount", plan.max_trial_count), ("maxFailedTrialCount", plan.max_failed_trial_count)):
        if value is not None:
            spec[key] = value
    return {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
            "metadata": {"name": plan.name, "namespace": plan.namespace}, "spec": spec, "status": status}


def summary_text(plan: Plan, condition: Condition, counts: Counts, best: TrialRecord | None,
                 files: Sequence[tuple[str, Path | str]], interrupted: int = 0, finish_note: str = "") -> str:
    """The end of a run: condition, counts, what happened to running trials, files, then the best trial."""
    obj = plan.objective
    lines = [f"Experiment {plan.name}: {condition.type} ({condition.reason}: {condition.message})"]
    lines.append(
        f"Trials: {counts.succeeded} succeeded, {counts.failed} failed, "
        f"{counts.metrics_unavailable} metrics unavailable, {counts.early_stopped} early stopped, "
        f"{counts.killed} killed"
        + (f"; {interrupted} interrupted (run again by --resume)" if interrupted else "")
    )
    if finish_note:
        lines.append(finish_note)
    for label, path in files:
        lines.append(f"{label}: {path}")
    if best is None:
        lines.append(f"No trial reported {obj.metric}.")
    else:
        goal = f", goal {obj.goal:g}" if obj.goal is not None else ""
        lines.append(f"Best trial: {best.name} ({obj.type} {obj.metric}{goal})")
        lines.append("  parameterAssignments:")
        for p in plan.parameters:
            lines.append(f"    {p.name} = {best.parameters[p.name]}")
        lines.append("  observation:")
        for m in obj.metric_names:
            v = best.metrics.get(m)
            if v is None:
                lines.append(f"    {m}: unavailable")
            else:
                lines.append(f"    {m}: min {_fmt(v['min'])}, max {_fmt(v['max'])}, latest {_fmt(v['latest'])}"
                             + (f"  <- {obj.strategies.get(m, 'max' if obj.maximize else 'min')}"
                                if m == obj.metric else ""))
    return "\n".join(clean(line) for line in lines) + "\n"  # names, values, paths: one safe line each
