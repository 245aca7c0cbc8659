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

import sys
from dataclasses import dataclass, field
from typing import Any

from ..io.findings import Finding, UserError

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


def _is_experiment(item: Any, in_typed_list: bool = False) -> bool:
    if not isinstance(item, dict):
        return False
    if in_typed_list and "kind" not in item and "apiVersion" not in item:
        return True  # the API server's ExperimentList leaves kind and apiVersion out of its items
    return item.get("kind") == "Experiment" and str(item.get("apiVersion", "")).startswith("kubeflow.org/")


KATIB_COMPANIONS = ("Trial", "Suggestion")  # what `kubectl get experiments,trials,suggestions` adds


def _katib_companion(item: Any) -> bool:
    return isinstance(item, dict) and item.get("kind") in KATIB_COMPANIONS \
        and str(item.get("apiVersion", "")).startswith("kubeflow.org/")


def _items(doc: Any, source: str) -> list[tuple[tuple[Any, ...], Any]]:
    """(path, item) for each Experiment a document holds; anything else is an error, never skipped silently.

    What `kubectl get experiments -A -o yaml` prints is one ``v1 List`` whose items are all Experiments (an
    empty one when the cluster has none); the API server's own ``ExperimentList`` and single Experiment
    documents (`kubectl get experiment NAME -o yaml`) are read too. Katib's own Trials and Suggestions, which
    `kubectl get experiments,trials,suggestions -A -o yaml` lists beside them, are known and left out. A
    ConfigMap, a List of Pods, a stray scalar: not "a cluster without Experiments" but the wrong input, said
    so at its line.
    """
    data = doc.data

    def wrong(message: str, path: tuple[Any, ...] = ()) -> UserError:
        return _error(message, source, doc.position(path)[0])

    if not isinstance(data, dict):
        raise wrong(f"expected the output of `kubectl get experiments -A -o yaml` (a List of Experiments), "
                    f"not {'a list' if isinstance(data, list) else 'a ' + type(data).__name__}")
    kind, api = data.get("kind"), str(data.get("apiVersion", ""))
    typed = kind == "ExperimentList" and api.startswith("kubeflow.org/")
    if (kind == "List" and api == "v1") or typed:
        items = data.get("items")
        if not isinstance(items, list):
            raise wrong("a List without items (kubectl prints `items: []` for a cluster without Experiments)",
                        ("items",))
        found = []
        for i, item in enumerate(items):
            if _katib_companion(item):
                continue
            found.append((("items", i), item))
            if not _is_experiment(item, typed):
                what = item.get("kind") if isinstance(item, dict) and isinstance(item.get("kind"), str) else \
                    type(item).__name__
                raise wrong(f"items[{i}] is not a kubeflow.org Experiment ({what}): not the output of "
                            "`kubectl get experiments -A -o yaml`", ("items", i))
        return found
    if _is_experiment(data):
        return [((), data)]
    what = kind if isinstance(kind, str) else "document without a kind"
    raise wrong(f"a {what}, not an Experiment or a List of them: expected the output of "
                "`kubectl get experiments -A -o yaml`", ("kind",) if "kind" in data else ())


def parse_live(text: str, source: str) -> LiveState:
    """The Experiments in text: a List (kubectl's -o yaml), an ExperimentList, Experiment documents.
    Anything else, or an Experiment listed twice, is an error (exit status 2), never silently skipped."""
    from ..io.yamlio import load_documents

    state = LiveState(source)
    docs = load_documents(text, source)
    if not docs:
        raise _error("empty: expected the output of `kubectl get experiments -A -o yaml` (it prints an empty "
                     "List for a cluster without Experiments)", source, 1)
    for doc in docs:
        for path, item in _items(doc, source):
            meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
            name = meta.get("name")
            if not isinstance(name, str) or not name:
                raise _error("an Experiment without metadata.name", source, doc.position(path)[0])
            namespace = str(meta.get("namespace") or "default")
            if (namespace, name) in state.experiments:
                raise _error(f"the Experiment {namespace}/{name} is listed twice: which one is on the cluster?",
                             source, doc.position((*path, "metadata", "name"))[0])
            spec = item.get("spec") if isinstance(item.get("spec"), dict) else {}
            status = item.get("status") if isinstance(item.get("status"), dict) else {}
            labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
            annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
            state.experiments[(namespace, name)] = LiveExperiment(name, namespace, spec, status,
                                                                  dict(labels), dict(annotations))
    return state


def load_live(source: str) -> LiveState:
    """FILE, `-` (stdin) or `kubectl` (runs `kubectl get experiments -A -o yaml` in the current context)."""
    from ..io.yamlio import MAX_BYTES, decode

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
    """kubectl's output, read as a file is (the same size limit). kubectl and whatever it starts (an exec
    credential plugin) run in a process group of their own, killed when it does not answer in time, prints
    too much, or katib-gitops is stopped (``procs``); its stderr is reported as one line (``safetext``)."""
    from ..io import procs
    from ..io.yamlio import MAX_BYTES

    source = "--live kubectl"

    def run(*args: str) -> procs.Result:
        try:
            return procs.run(args, timeout=KUBECTL_TIMEOUT_S, limit=MAX_BYTES)
        except FileNotFoundError:
            raise _error("kubectl is not on PATH", source) from None
        except procs.TimedOut:
            raise _error(f"`{' '.join(args)}` did not answer within {KUBECTL_TIMEOUT_S} s (stopped, with what "
                         "it started)", source) from None
        except procs.TooLarge:
            raise _error(f"`{' '.join(args)}` printed more than {MAX_BYTES // (1024 * 1024)} MiB, the most "
                         "katib-gitops reads (stopped)", source) from None
        except procs.Stopped:
            raise KeyboardInterrupt from None

    if run("kubectl", "config", "current-context").returncode != 0:
        raise _error("no kubectl context is configured: pass the output of `kubectl get experiments -A -o yaml` "
                     "as --live FILE instead", source)
    proc = run(*KUBECTL_COMMAND)
    if proc.returncode != 0:
        stderr = " ".join(proc.stderr.decode("utf-8", "replace").split())[:2000]
        raise _error(f"`{' '.join(KUBECTL_COMMAND)}` failed: {stderr or f'exit status {proc.returncode}'}", source)
    from ..io.yamlio import decode

    return decode(proc.stdout, "kubectl get experiments")
