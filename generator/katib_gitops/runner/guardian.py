"""The guardian: trials die with their runner, however the runner dies.

A trial is a process group of its own (so stopping it stops what it started) and every process in it
carries the run's marker (``MARKER``, set by ``runner.executor``). A runner killed with SIGKILL cannot stop them: they would
run on, orphaned, holding GPUs and writing into the run directory. So each run starts this small process
first, in a session of its own (Ctrl-C, a SIGKILL of the runner's process group and the end of the
runner's terminal do not reach it), holding the read end of a pipe whose write end only the runner holds
(not inheritable: no trial gets it). When the runner ends, however it ends, the kernel closes that end;
the guardian then kills (SIGKILL) every process of this user that carries the run's token, until none
is left, and exits. A runner that ends normally has stopped its trials already: the guardian finds none.

Portable by construction (a pipe, psutil): the same on Linux and macOS. If the guardian itself is killed
too (both at once, or power loss), ``run --resume`` stops what is left (``rundir``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GRACE_S = 10.0  # the longest the guardian keeps killing processes that reappear (a fork bomb's children)
# Every process of a trial inherits this variable (value "<run token>/<trial name>"): how the runner finds a
# trial's escaped (setsid, daemonised) processes, and how a resumed run proves that a PID a dead runner
# recorded is still its trial. This module stays light (psutil only): the guardian imports it alone.
MARKER = "KATIB_GITOPS_TRIAL"


def marked_processes(value: str, *, prefix: bool = False) -> list[int]:
    """This user's processes whose environment has ``MARKER=value`` (or a value starting so).

    psutil reads each process's environment the way its platform allows (``/proc/PID/environ`` on Linux,
    ``sysctl(KERN_PROCARGS2)`` on macOS), for processes of the same user only, so only our own processes
    are ever found; a process that cleared its environment is out of reach (documented in the README's
    differences from a cluster). Zombies have no environment left and are skipped (their parent reaps).
    """
    import psutil

    me, uid = os.getpid(), os.getuid()
    found = []
    for proc in psutil.process_iter(["uids"]):
        try:
            uids = proc.info.get("uids")
            if proc.pid == me or uids is None or uid not in (uids.real, uids.effective):
                continue
            marker = proc.environ().get(MARKER)
        except (psutil.Error, OSError):
            continue
        if marker is not None and (marker == value or (prefix and marker.startswith(value))):
            found.append(proc.pid)
    return found


def signal_processes(pids, sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def start(token: str) -> int | None:
    """Start the guardian of the run whose trials carry token; the pipe's write end the runner keeps
    (close it, or die, to set the guardian off), or None when no guardian could start."""
    read, write = os.pipe()  # both non-inheritable: no trial ever holds the write end
    env = {k: v for k, v in os.environ.items() if k != MARKER}
    try:
        subprocess.Popen([sys.executable, "-m", "katib_gitops.runner.guardian", token], stdin=read,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                         close_fds=True, env=env)
    except OSError:
        os.close(write)
        return None
    finally:
        os.close(read)
    return write


def main(token: str) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:
        while os.read(0, 4096):  # the runner never writes: this returns b"" when it is gone
            pass
    except OSError:
        pass
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        left = marked_processes(f"{token}/", prefix=True)
        if not left:
            return 0
        signal_processes(left, signal.SIGKILL)
        time.sleep(0.05)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else 2)
