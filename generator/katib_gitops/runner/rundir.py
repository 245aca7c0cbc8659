"""The run directory: one runner at a time, and what a runner that died left running.

``<out>/run.lock`` is held (``filelock``, as render's lock) while a runner works in the directory,
so a second runner is refused at once. ``<out>/runner.json`` names the live
runner, a random token, and the trials it is running; it is rewritten
(atomically) when a trial starts or ends and removed when the runner ends.
Every process of a trial has ``KATIB_GITOPS_TRIAL=<token>/<trial>`` in its
environment (executor.MARKER).

So when a runner finds the lock free but ``runner.json`` still there, the
previous runner died (SIGKILL, power loss) and the trials it lists may still
be running, writing into their logs. Only processes that carry the recorded
token are touched: a recorded PID that now belongs to something else is left
alone. ``--resume`` stops them and runs those trials again under new names;
without it the run is refused with that advice. The file is untrusted input:
a strict shape, trial names that cannot name a path, and a clear error
otherwise.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..io.findings import Finding, UserError
from .executor import marked_processes, signal_processes

LOCK_FILE = "run.lock"
STATE_FILE = "runner.json"
# Everything a run writes directly in its directory (and the temporary names beside them):
# a symbolic link planted under one of these names would carry a write elsewhere.
OWN_NAMES = ("trials", "trials.jsonl", "run.json", "run.json.tmp", STATE_FILE, STATE_FILE + ".tmp", LOCK_FILE,
             "study.db", "study.db-journal", "study.db-wal", "study.db-shm", "status.yaml",
             "parallel-coordinates.png", "report.html")
TRIAL_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,250}[a-z0-9])?")
TOKEN = re.compile(r"[0-9a-f]{16,64}")


@dataclass(frozen=True)
class Leftovers:
    """What a dead runner's ``runner.json`` says was running, and which of it still runs."""

    runner_pid: int
    token: str
    trials: tuple[str, ...]
    alive: tuple[int, ...]  # PIDs that carry the dead runner's token


def usage_error(message: str, path: Path | str) -> UserError:
    return UserError(Finding(message, file=str(path)), exit_code=2)


class RunDirectory:
    def __init__(self, out: Path):
        self.out = out
        self.token = secrets.token_hex(16)
        self.lock = None  # a filelock.FileLock, held
        self.created = False

    # -- lock --------------------------------------------------------------
    def acquire(self) -> None:
        """Create the directory if needed and take its lock; exit status 2 when neither works."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise usage_error("--out is not a directory", out)
        links = [name for name in OWN_NAMES if (out / name).is_symlink()]
        if links:
            raise usage_error(f"refusing to follow the symbolic link {links[0]} in the run directory "
                              "(a run writes only inside it)", out)
        from ..io.safefs import special_kind

        special = [(name, special_kind(out / name)) for name in OWN_NAMES if special_kind(out / name)]
        if special:  # a FIFO would block the run reading it (or writing it), for good
            raise usage_error(f"{special[0][0]} in the run directory is {special[0][1]}, not a regular file: "
                              "refusing to open it", out)
        from filelock import FileLock, Timeout

        try:
            if not out.exists():
                out.mkdir(parents=True)
                self.created = True
        except OSError as exc:
            raise usage_error(f"cannot write the run directory (--out): {exc.strerror or exc}", out) from None
        lock = FileLock(str(out / LOCK_FILE), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            other = self._recorded_pid()
            who = f" (pid {other})" if other else ""
            raise usage_error(f"another katib-gitops run{who} is running in this directory; "
                              "wait for it, or use another --out", out) from None
        except OSError as exc:
            self.discard()
            raise usage_error(f"cannot write the run directory (--out): {exc.strerror or exc}", out) from None
        self.lock = lock
        if not os.access(out, os.W_OK):
            self.release()
            raise usage_error("cannot write the run directory (--out): permission denied", out)

    def release(self, finished: bool = True) -> None:
        """Drop the lock; a runner that ends normally also removes runner.json."""
        if finished:
            try:
                (self.out / STATE_FILE).unlink()
            except FileNotFoundError:
                pass
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def discard(self) -> None:
        """Undo ``acquire`` after an error before the run started: leave no half-made directory."""
        self.release(finished=False)
        if self.created:
            try:
                (self.out / LOCK_FILE).unlink()
                self.out.rmdir()
            except OSError:
                pass

    def _recorded_pid(self) -> int | None:
        try:
            pid = json.loads((self.out / STATE_FILE).read_text(encoding="utf-8")).get("pid")
        except (OSError, ValueError, AttributeError):
            return None
        return pid if isinstance(pid, int) and not isinstance(pid, bool) else None

    # -- state -------------------------------------------------------------
    def record(self, running: Iterable[tuple[str, int | None]]) -> None:
        """Write runner.json: this runner and the trials it runs now (pid per trial)."""
        state = {"pid": os.getpid(), "token": self.token,
                 "trials": {name: pid for name, pid in running}}
        path = self.out / STATE_FILE
        tmp = self.out / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)

    def leftovers(self) -> Leftovers | None:
        """What the previous runner left, read from its runner.json (we hold the lock: it is gone)."""
        path = self.out / STATE_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise usage_error(f"not a runner state file ({exc}); remove it if no trial of that run "
                              "is still running", path) from None
        trials = data.get("trials") if isinstance(data, dict) else None
        pid, token = (data.get("pid"), data.get("token")) if isinstance(data, dict) else (None, None)
        if not (isinstance(pid, int) and not isinstance(pid, bool) and isinstance(token, str)
                and TOKEN.fullmatch(token) and isinstance(trials, dict)
                and all(isinstance(n, str) and TRIAL_NAME.fullmatch(n) for n in trials)):
            raise usage_error("not a runner state file (expected pid, token and trials as katib-gitops "
                              "writes them); remove it if no trial of that run is still running", path)
        alive = tuple(sorted(marked_processes(f"{token}/", prefix=True)))
        return Leftovers(pid, token, tuple(sorted(trials)), alive)

    @staticmethod
    def stop(leftovers: Leftovers, timeout: float = 5.0) -> list[int]:
        """SIGKILL the dead runner's trial processes (those still carrying its token); PIDs left."""
        signal_processes(leftovers.alive, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while True:
            alive = marked_processes(f"{leftovers.token}/", prefix=True)
            if not alive or time.monotonic() > deadline:
                return alive
            signal_processes(alive, signal.SIGKILL)
            time.sleep(0.02)
