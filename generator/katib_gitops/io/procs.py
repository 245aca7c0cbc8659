"""The tools katib-gitops runs (kustomize, kubectl, git), as process groups it can always stop.

A tool is untrusted like any input: kustomize may hang on what a kustomization names, kubectl on an
exec credential plugin that never answers. So each tool runs in a process group of its own (a new
session: whatever it starts, a plugin or a shell, is in that group too), its output is read up to a
limit, and the whole group is killed (SIGKILL) when it runs past its timeout, prints more than the limit,
or katib-gitops itself stops: Ctrl-C or SIGTERM (``cli`` calls ``stop_all``), or an error elsewhere that
makes the tool's result moot (``Builds.cancel``). Once ``stop_all`` has run, no new tool starts.

A katib-gitops killed with SIGKILL cannot stop anything: a tool still running then ends by itself
(kustomize when its build is done, kubectl at its own request timeout).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

_lock = threading.RLock()  # RLock: stop_all may run from a signal handler in a thread that holds it
_running: set[subprocess.Popen] = set()
_stopping = False


class Stopped(Exception):
    """The tool was not started, or was killed, because katib-gitops is stopping (or cancelled it)."""


class TimedOut(Exception):
    """The tool ran past its timeout; its process group was killed."""


class TooLarge(Exception):
    """The tool printed more than the limit; its process group was killed."""


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL proc's process group (proc leads it: started with ``start_new_session``)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()  # the leader, in case it left its group
    except OSError:
        pass


def stop_all() -> None:
    """Kill every tool still running, and start no more (Ctrl-C, SIGTERM, the end of the program)."""
    global _stopping
    with _lock:
        _stopping = True
        procs = list(_running)
    for proc in procs:
        kill_group(proc)


def reset() -> None:
    """Allow tools again (each in-process ``cli.main`` call starts afresh)."""
    global _stopping
    with _lock:
        _stopping = False


def run(argv: Sequence[str], *, timeout: float, limit: int | None = None, env: Mapping[str, str] | None = None,
        cwd: str | None = None, started=None) -> Result:
    """Run argv with no stdin, in its own process group; its output, whatever its exit status.

    Raises FileNotFoundError when argv[0] is not on PATH, TimedOut, TooLarge (stdout beyond limit bytes;
    stderr is kept to its first 64 KiB) or Stopped. started: called with the process once it runs (a caller
    that may cancel it keeps it and calls ``kill_group``)."""
    deadline = time.monotonic() + timeout
    with _lock:
        if _stopping:
            raise Stopped()
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=None if env is None else dict(env), cwd=cwd,
                                start_new_session=True)
        _running.add(proc)
    try:
        if started is not None:
            started(proc)
        out, err = _read(proc, deadline, limit)
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise TimedOut() from None
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    finally:
        for stream in (proc.stdout, proc.stderr):
            stream.close()
        with _lock:
            _running.discard(proc)
    if proc.returncode == -signal.SIGKILL and _stopping:
        raise Stopped()
    return Result(proc.returncode, out, err)


ERR_LIMIT = 64 * 1024


def _read(proc: subprocess.Popen, deadline: float, limit: int | None) -> tuple[bytes, bytes]:
    """Both pipes until they close, before deadline and within limit (a group that keeps a pipe open past
    the leader's exit is waited for as long: a daemonised child holding stdout is still the tool's output)."""
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    sizes = dict.fromkeys(chunks, 0)
    out_fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as sel:
        for stream in (proc.stdout, proc.stderr):
            os.set_blocking(stream.fileno(), False)
            sel.register(stream.fileno(), selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut()
            for key, _ in sel.select(left):
                try:
                    data = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(key.fd)
                    continue
                sizes[key.fd] += len(data)
                if key.fd == out_fd:
                    if limit is not None and sizes[key.fd] > limit:
                        raise TooLarge()
                    chunks[key.fd].append(data)
                elif sizes[key.fd] <= ERR_LIMIT:
                    chunks[key.fd].append(data)
    return b"".join(chunks[out_fd]), b"".join(chunks[proc.stderr.fileno()])[:ERR_LIMIT]
