"""Trials as local processes: the primary container's command, substituted.

What Katib does to a trial's pod, done here to a subprocess:
- ``${trialParameters.NAME}`` becomes the value of the parameter (or trial
  metadata: ``${trialSpec.Name}``, ``Namespace``, ``Kind``, ``APIVersion``,
  ``Labels[key]``, ``Annotations[key]``) the trialParameter references;
- the container's ``command`` + ``args`` run (the image is not pulled: the
  command runs in the local working directory, ``trainer/`` by default), and
  with a pull collector (StdOut, File) they run the way Katib's pod webhook
  rewrites them (pod/utils.go wrapWorkerContainer): joined with spaces into
  one ``sh -c`` string (an existing ``sh -c``/``bash -c`` prefix is kept),
  StdOut's ``1>metrics 2>&1`` appended, so the redirect applies to the last
  shell command only; ``KATIB_TRIAL_NAME`` is set (pod/utils.go mutatePodEnv);
- the container's literal ``env`` values are set, and ``$(VAR)`` references in
  command, args and env are expanded the way the kubelet expands them;
- the StdOut redirect's target (Katib's ``/var/log/katib/metrics.log``) is the
  trial's ``output.log``; what the shell itself prints (errors, output of
  commands before the last) goes to ``container.log``, as ``kubectl logs``
  would show it;
- a File collector's absolute path is mapped into the trial's own directory
  (``<out>/trials/<trial>/<path>``, ``..`` resolved as the container would, so
  it never leaves that directory) and replaced wherever the command names it;
- each trial is a process group, and every process it starts carries a marker
  in its environment, so stopping it stops everything it started (children
  that called ``setsid`` or daemonised too), as deleting a pod does.
"""

from __future__ import annotations

import os
import posixpath
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..io.findings import UserError
from .guardian import MARKER, marked_processes, signal_processes  # noqa: F401 (MARKER: every trial process)
from .experiment_view import TRIAL_META, TRIAL_PARAMETER, Plan

K8S_VAR = re.compile(r"\$(\$|\(([A-Za-z_][A-Za-z0-9_.\-]*)\))")
LOG_NAME = "output.log"
CONTAINER_LOG = "container.log"
# pod/const.go NeedWrapWorkerMetricsCollectorList: the kinds whose trials run wrapped in `sh -c`.
WRAPPED_COLLECTORS = ("StdOut", "File", "TensorFlowEvent")
# metricscollector/v1beta1/common/const.go TrainingCompleted / TrainingEarlyStopped
TRAINING_COMPLETED = "completed"
TRAINING_EARLY_STOPPED = "early-stopped"


@dataclass(frozen=True)
class TrialCommand:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    trial_dir: Path
    log_path: Path
    metrics_path: Path | None = None
    devices: tuple[str, ...] = ()
    container_log: Path | None = None  # the shell's own output when the command is wrapped
    marker: str = ""


def trial_values(plan: Plan, trial_name: str, assignments: Mapping[str, str]) -> dict[str, str]:
    """trialParameter name -> the text that replaces ``${trialParameters.NAME}``."""
    t = plan.template
    out = {}
    for i, (name, ref) in enumerate(t.trial_parameters):
        if ref in assignments:
            out[name] = assignments[ref]
            continue
        m = TRIAL_META.match(ref)
        key = m.group(1) if m else ""
        path = ("spec", "trialTemplate", "trialParameters", i, "reference")
        if key == "Name":
            out[name] = trial_name
        elif key == "Namespace":
            out[name] = plan.namespace
        elif key == "Kind":
            out[name] = t.kind
        elif key == "APIVersion":
            out[name] = t.api_version
        elif key.startswith("Labels["):
            if m.group(2) not in t.labels:
                raise plan.error(f"the trial spec has no label {m.group(2)!r}", path)
            out[name] = str(t.labels[m.group(2)])
        elif key.startswith("Annotations["):
            if m.group(3) not in t.annotations:
                raise plan.error(f"the trial spec has no annotation {m.group(3)!r}", path)
            out[name] = str(t.annotations[m.group(3)])
        else:
            raise plan.error(f"reference {ref!r} has no value", path)
    return out


def _substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return TRIAL_PARAMETER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    return value


def expand_vars(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names expand, ``$$`` escapes, others stay."""
    def repl(m: re.Match) -> str:
        if m.group(1) == "$":
            return "$"
        name = m.group(2)
        return env[name] if name in env else m.group(0)
    return K8S_VAR.sub(repl, text)


def container_env(container: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Literal env values (expanded in order), and the names set from secrets/config maps."""
    values: dict[str, str] = {}
    unresolved = []
    for item in container.get("env") or []:
        if not isinstance(item, dict) or "name" not in item:
            continue
        if "value" in item:
            values[str(item["name"])] = expand_vars(str(item.get("value") or ""), values)
        elif "valueFrom" in item:
            unresolved.append(str(item["name"]))
    return values, unresolved


def runner_path(environ: Mapping[str, str]) -> str:
    # `python3` in a trial command means the image's Python; locally the
    # closest thing is the Python katib-gitops runs in (its environment has
    # the trainer's dependencies), so its directory goes first on PATH.
    here = str(Path(sys.executable).parent)
    rest = environ.get("PATH", os.defpath)
    return rest if rest.split(os.pathsep)[0] == here else here + os.pathsep + rest


def mapped_metrics_path(trial_dir: Path, path: str) -> Path:
    """A collector's absolute path inside the trial's directory.

    ``..`` is resolved the way the container resolves it (``/../../x`` is
    ``/x``), so no spelling of the path reaches outside ``trial_dir``.
    """
    inside = posixpath.normpath("/" + path).lstrip("/")
    return trial_dir / inside if inside else trial_dir / "metrics"


def wrap_command(argv: Sequence[str], kind: str, metrics_file: Path, early_stopping: bool) -> list[str]:
    """The command Katib's pod webhook gives a pull collector's primary container.

    pod/utils.go wrapWorkerContainer: ``sh -c`` (or the command's own
    ``sh -c``/``bash -c``) with the rest joined by spaces; StdOut appends
    ``1>FILE 2>&1``; early stopping appends getEarlyStoppingCommand's ``||``
    branch; then getMarkCompletedCommand's ``&& echo completed > DIR/$$.pid``.
    The local file names are quoted (a run directory may contain spaces).
    """
    command, args = ["sh", "-c"], list(argv)
    if len(args) >= 2 and args[0] in ("sh", "bash") and args[1] == "-c":
        command, args = args[:2], args[2:]
    if kind == "StdOut":
        args.append(f"1>{shlex.quote(str(metrics_file))} 2>&1")
    directory = metrics_file.parent
    pid_file = shlex.quote(str(directory)) + "/$$.pid"
    if early_stopping:
        args += ["||", f"if test -f {pid_file} && [ $(head -n 1 {pid_file}) = {TRAINING_EARLY_STOPPED} ]; "
                       "then echo Training Container was Early Stopped; "
                       "else echo Training Container was Failed; exit 1; fi"]
    args += ["&&", f"echo {TRAINING_COMPLETED} > {pid_file}"]
    return command + [" ".join(args)]


def build_command(
    plan: Plan,
    trial_name: str,
    assignments: Mapping[str, str],
    *,
    workdir: Path,
    trial_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    devices: Sequence[str] | None = None,
    base_env: Mapping[str, str] | None = None,
    marker: str = "",
) -> TrialCommand:
    container = _substitute(dict(plan.template.container), trial_values(plan, trial_name, assignments))
    command = list(container.get("command") or []) + list(container.get("args") or [])
    if not container.get("command"):
        raise plan.error("the primary container has no command: its image's entrypoint cannot run "
                         "locally; spell the command out in the trial template",
                         (*plan.template.container_path, "command"))

    env = dict(os.environ if base_env is None else base_env)
    env["PATH"] = runner_path(env)
    # Trial images usually set this (ours does); it makes reports reach the log
    # as they happen, which early stopping and progress rely on.
    env.setdefault("PYTHONUNBUFFERED", "1")
    literal, _ = container_env(container)
    env.update(literal)
    env.update(extra_env or {})
    # pod/utils.go mutatePodEnv appends KATIB_TRIAL_NAME (a fieldRef to the
    # trial-name label) after the container's own env, so it wins, and the
    # kubelet expands $(KATIB_TRIAL_NAME) in command and args.
    env["KATIB_TRIAL_NAME"] = trial_name
    expand = dict(literal, KATIB_TRIAL_NAME=trial_name)
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    if marker:
        env[MARKER] = marker

    kind = plan.collector.kind
    log_path = trial_dir / LOG_NAME
    metrics_path = None
    if kind == "File" and plan.collector.path:
        metrics_path = mapped_metrics_path(trial_dir, plan.collector.path)
    argv = []
    for part in command:
        part = expand_vars(str(part), expand)
        if metrics_path is not None:
            part = part.replace(plan.collector.path, str(metrics_path))
        argv.append(part)
    if metrics_path is not None:
        env = {k: v.replace(plan.collector.path, str(metrics_path)) for k, v in env.items()}
    container_log = None
    if kind in WRAPPED_COLLECTORS:
        target = log_path if kind == "StdOut" else (metrics_path or log_path)
        argv = wrap_command(argv, kind, target, plan.early_stopping is not None)
        if kind == "StdOut":
            container_log = trial_dir / CONTAINER_LOG
    return TrialCommand(
        name=trial_name,
        argv=tuple(argv),
        env=env,
        cwd=workdir,
        trial_dir=trial_dir,
        log_path=log_path,
        metrics_path=metrics_path,
        devices=tuple(devices or ()),
        container_log=container_log,
        marker=marker,
    )


# ---------------------------------------------------------------------------
# GPUs

def detect_gpus() -> list[str]:
    """Indices of the GPUs ``nvidia-smi -L`` lists; empty without a driver."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]


@dataclass
class GpuPool:
    """Whole GPUs handed to trials, ``per_trial`` at a time, as the device plugin would."""

    devices: list[str]
    per_trial: int
    busy: set[str] = field(default_factory=set)

    @property
    def slots(self) -> int:
        return len(self.devices) // self.per_trial

    def acquire(self) -> list[str]:
        free = [d for d in self.devices if d not in self.busy][: self.per_trial]
        if len(free) < self.per_trial:
            raise RuntimeError("no free GPU slot")  # the scheduler never asks beyond slots
        self.busy.update(free)
        return free

    def release(self, devices: Iterable[str]) -> None:
        self.busy.difference_update(devices)


def gpu_pool(per_trial: int, gpus_option: int | None, profile: str | None, source: str) -> tuple[GpuPool | None, str]:
    """The GPU pool for trials asking ``per_trial`` GPUs, and a line saying what was found."""
    from ..io.findings import Finding

    if per_trial <= 0:
        return None, ""
    where = f"profile {profile}" if profile else "the trial template"
    if gpus_option is not None:
        devices = [str(i) for i in range(gpus_option)]
        found = f"--gpus {gpus_option}"
    else:
        devices = detect_gpus()
        found = f"nvidia-smi lists {len(devices)} GPU(s)"
        if not devices:
            raise UserError(Finding(
                f"{where} asks nvidia.com/gpu: {per_trial} per trial, but no GPU was found "
                f"(nvidia-smi -L); pass --gpus G to run anyway, or use a cpu profile", file=source))
    pool = GpuPool(devices, per_trial)
    if pool.slots == 0:
        raise UserError(Finding(
            f"{where} asks nvidia.com/gpu: {per_trial} per trial, more than the {len(devices)} "
            f"GPU(s) here ({found})", file=source))
    return pool, (f"GPUs: {found}; {per_trial} per trial, so at most {pool.slots} trial(s) at once")


# ---------------------------------------------------------------------------
# processes

class TrialProcess:
    """One running trial: a process group whose leader is the primary command."""

    def __init__(self, cmd: TrialCommand):
        self.cmd = cmd
        self.returncode: int | None = None
        self.error: str = ""
        self.pidfd: int | None = None
        cmd.trial_dir.mkdir(parents=True, exist_ok=True)
        if cmd.metrics_path is not None:
            cmd.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        with open(cmd.container_log or cmd.log_path, "wb") as log:
            try:
                self.proc: subprocess.Popen | None = subprocess.Popen(
                    cmd.argv, cwd=cmd.cwd, env=dict(cmd.env), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            except OSError as exc:
                # What a container runtime reports as a failed start: exit 127/126.
                self.proc = None
                self.returncode = 127 if isinstance(exc, FileNotFoundError) else 126
                self.error = f"cannot run {cmd.argv[0]!r}: {exc.strerror or exc}"
                log.write((self.error + "\n").encode())
                return
        if hasattr(os, "pidfd_open"):
            try:
                self.pidfd = os.pidfd_open(self.proc.pid)
            except OSError:
                self.pidfd = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def exited(self) -> bool:
        """Whether the leader has exited (without reaping it, so its pid stays ours)."""
        if self.returncode is not None or self.proc is None:
            return True
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None and info.si_pid != 0

    def reap(self) -> int:
        """Collect the exit status and stop whatever the trial left behind.

        The group goes first (the leader is not reaped yet, so its pgid cannot
        have been reused); then any process still carrying this trial's marker
        (it left the group with setsid, or daemonised), as the container's
        end takes every process of the pod with it.
        """
        if self.proc is not None and self.returncode is None:
            self._signal_group(signal.SIGKILL)
            self.returncode = self.proc.wait()
        self._kill_escaped(signal.SIGKILL)
        self._close()
        return self.returncode if self.returncode is not None else -1

    def terminate(self, grace: float = 5.0) -> int:
        """SIGTERM the group, SIGKILL it after ``grace`` seconds, as pod deletion does."""
        if self.proc is not None and self.returncode is None:
            self._signal_group(signal.SIGTERM)
            self._kill_escaped(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while not self.exited() and time.monotonic() < deadline:
                time.sleep(0.02)
        return self.reap()

    def _kill_escaped(self, sig: int) -> None:
        if self.cmd.marker:
            signal_processes(marked_processes(self.cmd.marker), sig)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def terminate_all(trials: Sequence[TrialProcess], grace: float = 5.0) -> None:
    """Stop several trials as deleting their pods does, all at once: SIGTERM to each group (and each
    trial's escaped processes), then, after at most grace seconds, SIGKILL to whatever is left of them
    (``reap``), so a trial that ignores SIGTERM ends all the same, and N trials take one grace period."""
    live = [t for t in trials if t.proc is not None and t.returncode is None]
    for t in live:
        t._signal_group(signal.SIGTERM)
        t._kill_escaped(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(not t.exited() for t in live) and time.monotonic() < deadline:
        time.sleep(0.02)
    for t in trials:
        t.reap()


class Waiter:
    """Block until some trial exits or ``timeout`` passes, without busy polling."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.registered: dict[int, TrialProcess] = {}

    def add(self, trial: TrialProcess) -> None:
        if trial.pidfd is not None:
            self.selector.register(trial.pidfd, selectors.EVENT_READ, trial)
            self.registered[trial.pidfd] = trial

    def add_fd(self, fd: int) -> None:
        """Also wake up when ``fd`` becomes readable (the runner's stop pipe)."""
        self.selector.register(fd, selectors.EVENT_READ, None)

    def remove(self, trial: TrialProcess) -> None:
        for fd, t in list(self.registered.items()):
            if t is trial:
                self.selector.unregister(fd)
                del self.registered[fd]

    def wait(self, running: Sequence[TrialProcess], timeout: float) -> None:
        if not running or any(t.exited() for t in running):
            return
        if all(t.pidfd is not None for t in running):
            self.selector.select(timeout)
            return
        # No pidfds (not Linux): poll briefly.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.005)
            if any(t.exited() for t in running):
                return

    def close(self) -> None:
        self.selector.close()
