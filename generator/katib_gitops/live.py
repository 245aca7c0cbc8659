"""Live state: the Experiments a cluster has, as `kubectl get experiments -A -o yaml` prints them.

One loader for every command that looks at a cluster (``validate --live``, ``plan --live``, ``status``,
``results``). The input is untrusted: any YAML shape is read without a traceback, and only what Katib's
status types define is used (pkg/apis/controller/experiments/v1beta1/experiment_types.go: ExperimentStatus,
OptimalTrial, ExperimentCondition; common_types.go: ParameterAssignment, Observation, Metric).

Conditions and reasons are those Katib sets (experiment_types.go ExperimentConditionType;
controller experiment/util/status_util.go and experiment_controller.go):

- Created / ExperimentCreated, Running / ExperimentRunning, Restarting / ExperimentRestarting;
- Succeeded with ExperimentGoalReached, ExperimentMaxTrialsReached or ExperimentSuggestionEndReached;
- Failed / ExperimentFailed (max failed trials reached, or the suggestion failed).

When an Experiment completes, Katib sets Running to False (keeping its reason) and appends the completion
condition; a restart removes Succeeded and Failed and appends Restarting (util.go setCondition and the
Mark* functions).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from .findings import Finding, UserError

STDIN = "-"
KUBECTL = "kubectl"
KUBECTL_COMMAND = ("kubectl", "get", "experiments.kubeflow.org", "--all-namespaces", "--output", "yaml")
KUBECTL_TIMEOUT_S = 60

CREATED, RUNNING, RESTARTING, SUCCEEDED, FAILED = "Created", "Running", "Restarting", "Succeeded", "Failed"
CONDITION_TYPES = (CREATED, RUNNING, RESTARTING, SUCCEEDED, FAILED)
GOAL_REACHED = "ExperimentGoalReached"
MAX_TRIALS_REACHED = "ExperimentMaxTrialsReached"
SUGGESTION_END_REACHED = "ExperimentSuggestionEndReached"
# Katib's default when spec.resumePolicy is empty (experiment_defaults.go setDefaultResumePolicy).
DEFAULT_RESUME_POLICY = "Never"
RESTARTABLE_POLICIES = ("LongRunning", "FromVolume")
# status counters, in the order `status` prints them (experiment_types.go ExperimentStatus)
TRIAL_COUNTERS = ("trials", "trialsSucceeded", "trialsFailed", "trialsRunning", "trialsPending", "trialsKilled",
                  "trialsEarlyStopped", "trialMetricsUnavailable")


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""

    @property
    def true(self) -> bool:
        return self.status == "True"


# common/v1beta1 MetricStrategyType; consts.UnavailableMetricValue
STRATEGIES = ("min", "max", "latest")
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class BestTrial:
    name: str
    parameters: dict[str, str]
    # metric name -> {"min", "max", "latest"} as Katib reports them (strings)
    metrics: dict[str, dict[str, str]]
    objective: str = ""  # the objective metric's name
    strategies: dict[str, str] = field(default_factory=dict)  # metric name -> min, max or latest

    def value(self, metric: str) -> str | None:
        """The value Katib ranks by (experiment/util/status_util.go getObjectiveMetricValue): the metric's
        metricStrategy picks min, max or latest, and an unavailable min or max falls back to latest."""
        m = self.metrics.get(metric)
        if m is None:
            return None
        strategy = self.strategies.get(metric, "latest")
        value = m.get(strategy) if strategy in ("min", "max") else None
        return m.get("latest") if value in (None, UNAVAILABLE) else value

    @property
    def objective_value(self) -> str | None:
        return self.value(self.objective)


@dataclass
class LiveExperiment:
    name: str
    namespace: str
    spec: dict[str, Any]
    status: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def conditions(self) -> list[Condition]:
        out = []
        for c in _list(self.status.get("conditions")):
            if isinstance(c, dict) and isinstance(c.get("type"), str):
                out.append(Condition(c["type"], str(c.get("status", "")), str(c.get("reason") or ""),
                                     str(c.get("message") or ""), str(c.get("lastTransitionTime") or "")))
        return out

    def condition(self, kind: str) -> Condition | None:
        for c in self.conditions:
            if c.type == kind:
                return c
        return None

    def has(self, kind: str) -> bool:
        """Katib's hasCondition: the condition exists with status True."""
        c = self.condition(kind)
        return c is not None and c.true

    @property
    def succeeded(self) -> bool:
        return self.has(SUCCEEDED)

    @property
    def failed(self) -> bool:
        return self.has(FAILED)

    @property
    def completed(self) -> bool:
        """Katib's IsCompleted: Succeeded or Failed."""
        return self.succeeded or self.failed

    @property
    def state(self) -> Condition | None:
        """The condition to show: the last True one (Katib appends each new condition at the end)."""
        true = [c for c in self.conditions if c.true]
        return true[-1] if true else None

    @property
    def resume_policy(self) -> str:
        return str(self.spec.get("resumePolicy") or DEFAULT_RESUME_POLICY)

    @property
    def restartable(self) -> bool:
        """Katib's IsCompletedExperimentRestartable (experiment/util/status_util.go)."""
        c = self.condition(SUCCEEDED)
        return (c is not None and c.true and c.reason == MAX_TRIALS_REACHED
                and self.resume_policy in RESTARTABLE_POLICIES)

    def count(self, counter: str) -> int:
        value = self.status.get(counter)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @property
    def best_trial(self) -> BestTrial | None:
        best = self.status.get("currentOptimalTrial")
        if not isinstance(best, dict) or not best.get("bestTrialName"):
            return None
        params = {str(p.get("name")): str(p.get("value", "")) for p in _list(best.get("parameterAssignments"))
                  if isinstance(p, dict) and p.get("name") is not None}
        observation = best.get("observation") if isinstance(best.get("observation"), dict) else {}
        metrics = {}
        for m in _list(observation.get("metrics")):
            if isinstance(m, dict) and m.get("name") is not None:
                metrics[str(m["name"])] = {k: str(m[k]) for k in ("min", "max", "latest") if m.get(k) is not None}
        return BestTrial(str(best["bestTrialName"]), params, metrics, *self.metric_strategies())

    def metric_strategies(self) -> tuple[str, dict[str, str]]:
        """(objective metric, metric -> strategy) as Katib's mutating webhook leaves the spec: each metric's
        metricStrategies entry, else max for maximize, min for minimize, latest otherwise
        (experiments/v1beta1/experiment_defaults.go setDefaultObjective)."""
        objective = self.spec.get("objective") if isinstance(self.spec.get("objective"), dict) else {}
        name = str(objective.get("objectiveMetricName") or "")
        default = {"maximize": "max", "minimize": "min"}.get(str(objective.get("type")), "latest")
        names = [name, *[str(m) for m in _list(objective.get("additionalMetricNames"))]]
        strategies = {m: default for m in names if m}
        for item in _list(objective.get("metricStrategies")):
            if isinstance(item, dict) and item.get("name") is not None and item.get("value") in STRATEGIES:
                strategies[str(item["name"])] = str(item["value"])
        return name, strategies

    @property
    def completion_time(self) -> str | None:
        # Katib sets completionTime to the zero time at creation; only a completed Experiment has a real one.
        value = self.status.get("completionTime")
        return str(value) if self.completed and value else None


@dataclass
class LiveState:
    source: str
    experiments: dict[tuple[str, str], LiveExperiment] = field(default_factory=dict)

    def get(self, name: str, namespace: str | None = None) -> LiveExperiment | None:
        if namespace is not None:
            return self.experiments.get((namespace, name))
        found = [e for (ns, n), e in sorted(self.experiments.items()) if n == name]
        return found[0] if found else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _error(message: str, source: str, line: int = 0) -> UserError:
    return UserError(Finding(message, file=source, line=line, column=0, rule="live"), exit_code=2)


def parse_live(text: str, source: str) -> LiveState:
    """Every kubeflow.org Experiment in text: a List (kubectl's -o yaml), single objects, or several documents."""
    from .yamlio import load_documents

    state = LiveState(source)
    for doc in load_documents(text, source):
        data = doc.data
        items = data.get("items") if isinstance(data, dict) and isinstance(data.get("items"), list) else [data]
        for item in items:
            if not isinstance(item, dict) or item.get("kind") != "Experiment" \
                    or not str(item.get("apiVersion", "")).startswith("kubeflow.org/"):
                continue
            meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
            name = meta.get("name")
            if not isinstance(name, str) or not name:
                raise _error("an Experiment without metadata.name", source, doc.position(())[0])
            namespace = str(meta.get("namespace") or "default")
            spec = item.get("spec") if isinstance(item.get("spec"), dict) else {}
            status = item.get("status") if isinstance(item.get("status"), dict) else {}
            labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
            annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
            state.experiments[(namespace, name)] = LiveExperiment(name, namespace, spec, status,
                                                                  dict(labels), dict(annotations))
    return state


def load_live(source: str) -> LiveState:
    """FILE, `-` (stdin) or `kubectl` (runs `kubectl get experiments -A -o yaml` in the current context)."""
    from .yamlio import MAX_BYTES, decode

    if source == KUBECTL:
        text, name = _kubectl(), "kubectl get experiments"
    elif source == STDIN:
        text, name = decode(sys.stdin.buffer.read(MAX_BYTES + 1), "<stdin>"), "<stdin>"
    else:
        try:
            with open(source, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except OSError as exc:
            raise _error(f"cannot read: {exc.strerror}", source) from None
        text, name = decode(raw, source), source
    try:
        return parse_live(text, name)
    except UserError as exc:  # unreadable live state is a usage error, not a finding about the repository
        raise UserError(exc.finding, exit_code=2) from None


def _kubectl() -> str:
    def run(*args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=KUBECTL_TIMEOUT_S, check=False,
                                  stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise _error("kubectl is not on PATH", "--live kubectl") from None
        except subprocess.TimeoutExpired:
            raise _error(f"`{' '.join(args)}` did not answer within {KUBECTL_TIMEOUT_S} s", "--live kubectl") from None

    if run("kubectl", "config", "current-context").returncode != 0:
        raise _error("no kubectl context is configured: pass the output of `kubectl get experiments -A -o yaml` "
                     "as --live FILE instead", "--live kubectl")
    proc = run(*KUBECTL_COMMAND)
    if proc.returncode != 0:
        raise _error(f"`{' '.join(KUBECTL_COMMAND)}` failed: {' '.join(proc.stderr.split())}", "--live kubectl")
    return proc.stdout
