"""Real kustomize: the same engine Argo CD and Flux run.

`kustomize` is used when it is on PATH, else `kubectl kustomize` (kubectl
embeds kustomize). There is no fallback imitation: without either, the
commands that build overlays fail with a clear message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from ..io.findings import Finding, UserError

TIMEOUT_S = 120
MAX_OUTPUT = 256 * 1024 * 1024  # a build's output beyond this is no repository's (3,000 experiments: ~15 MiB)
# Go's garbage collector, tuned for kustomize's workload. By default (GOGC=100) it collects every time the
# heap doubles, which for a build of hundreds of Experiments is a large share of kustomize's CPU time. A
# soft memory limit instead (GOGC=off, GOMEMLIMIT) collects only when the heap nears the limit. The limit
# a build would like grows with what it reads (HEAP_PER_INPUT_BYTE: at 1,000 experiments kustomize
# allocates about 300 bytes per byte of YAML in, and with this much room it collects a few times instead of
# dozens); builds that run at the same time share HEAP_BUDGET between them (``heap_limits``), so the
# process tree stays small however many overlays there are (benchmarks/README.md). A GOGC or GOMEMLIMIT
# already in the environment is left as it is.
HEAP_PER_INPUT_BYTE = 150
HEAP_BUDGET = 300 * 1024 * 1024
MIN_MEMORY_LIMIT = 64 * 1024 * 1024
MAX_WALK = 64  # kustomization directories followed when sizing a build


@lru_cache(maxsize=None)
def kustomize_command() -> tuple[str, ...]:
    if shutil.which("kustomize"):
        return ("kustomize", "build")
    if shutil.which("kubectl"):
        return ("kubectl", "kustomize")
    raise UserError(Finding(
        "no kustomize found: install kubectl >= 1.27 (it embeds kustomize) or kustomize >= 5 and put it on PATH",
        file="kustomize", line=0, column=0, rule="kustomize"), exit_code=2)


def input_bytes(directory: Path, root: Path | None = None) -> int:
    """Size of the YAML files a build of directory reads: its own and those of the local directories its
    kustomization lists (followed a few levels; remote and missing ones, and any outside root, skipped)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # a base's kustomization lists every experiment
    total, seen, todo = 0, set(), [directory]
    real_root = (root if root is not None else boundary(directory)).resolve()
    while todo and len(seen) < MAX_WALK:
        d = todo.pop()
        try:
            d = d.resolve()
        except (OSError, RuntimeError):
            continue
        if d in seen or not d.is_dir() or not d.is_relative_to(real_root):
            continue
        seen.add(d)
        try:
            for f in d.iterdir():
                if f.suffix in (".yaml", ".yml") and f.is_file():
                    total += f.stat().st_size
            kust_file = d / "kustomization.yaml"
            if not kust_file.is_file():
                continue  # never opened unless a plain file: a FIFO would block
            kust = yaml.load(kust_file.read_text(encoding="utf-8"), Loader=loader) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
            continue
        for key in ("resources", "components"):
            for ref in kust.get(key) or [] if isinstance(kust, dict) else []:
                if isinstance(ref, str) and "://" not in ref:
                    todo.append(d / ref)
    return total


def heap_limits(directories: Sequence[Path], concurrent: int, root: Path | None = None) -> dict[Path, int]:
    """The GOMEMLIMIT, in bytes, of each build when at most `concurrent` of them run at once.

    Each build wants HEAP_PER_INPUT_BYTE per byte it reads and gets its share of HEAP_BUDGET against the
    largest builds it could run beside: limit_i <= budget * want_i / (want_i + the (concurrent - 1)
    largest other wants). Whichever builds run together, their limits then add up to at most the budget.
    """
    wants = {d: HEAP_PER_INPUT_BYTE * input_bytes(d, root) for d in directories}
    limits = {}
    for d, want in wants.items():
        others = sorted((w for o, w in wants.items() if o != d), reverse=True)[:max(0, concurrent - 1)]
        share = HEAP_BUDGET * want // (want + sum(others)) if want else 0
        limits[d] = max(MIN_MEMORY_LIMIT, min(want, share))
    return limits


def go_env(directory: Path, limit: int | None = None) -> dict[str, str]:
    """The environment for one kustomize build: Go's collector on a soft memory limit (`limit` bytes, else
    what the build would like within the whole budget)."""
    env = dict(os.environ)
    if "GOGC" not in env and "GOMEMLIMIT" not in env:
        if limit is None:
            limit = heap_limits([directory], 1)[directory]
        env.update(GOGC="off", GOMEMLIMIT=f"{limit // (1024 * 1024)}MiB")
    return env


def build(directory: str | Path, display: str | None = None, heap_limit: int | None = None,
          started: Callable[[subprocess.Popen], None] | None = None, root: Path | None = None,
          contained: bool = False) -> str:
    """`kustomize build DIRECTORY`; a UserError carrying kustomize's own message on failure.

    root: the repository the build may read (default ``boundary(directory)``); a kustomization reaching
    outside it, or a remote base, is refused before kustomize runs (``containment``), and root's path is
    left out of kustomize's messages (a staged copy of the repository is then named as the repository).
    heap_limit: Go's soft memory limit in bytes, when the caller shares the budget between builds
    (``heap_limits``); started: called with the process once it runs (a caller that may stop the build
    keeps it); contained: the caller checked containment already. kustomize runs in its own process group,
    killed with everything it started on timeout, past MAX_OUTPUT, or when katib-gitops stops (``procs``)."""
    from . import containment
    from ..io import procs

    directory = Path(directory)
    where = display or str(directory)
    root = root if root is not None else boundary(directory)
    refused = None if contained else containment.check(directory, root)
    if refused is not None:
        raise UserError(refused)

    def fail(message: str) -> UserError:
        for prefix in {str(root.resolve()) + os.sep, str(root) + os.sep}:
            message = message.replace(prefix, "")
        return UserError(Finding(message, file=where, line=0, column=0, rule="kustomize"))

    cmd = [*kustomize_command(), str(directory)]
    try:
        result = procs.run(cmd, timeout=TIMEOUT_S, limit=MAX_OUTPUT, env=go_env(directory, heap_limit),
                           started=started)
    except procs.TimedOut:
        raise fail(f"kustomize build did not finish within {TIMEOUT_S} s (stopped)") from None
    except procs.TooLarge:
        raise fail(f"kustomize build printed more than {MAX_OUTPUT // (1024 * 1024)} MiB (stopped)") from None
    except procs.Stopped:
        raise fail("kustomize build stopped") from None
    except OSError as exc:
        raise fail(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    if result.returncode != 0:
        msg = " ".join(result.stderr.decode("utf-8", "replace").split()) or f"exit status {result.returncode}"
        raise fail(f"kustomize build failed: {msg}")
    try:
        return result.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise fail("kustomize build printed output that is not UTF-8") from None


def boundary(directory: Path) -> Path:
    """What a build of directory may read when no caller says: its katib-gitops repository, else its git
    work tree, else the current directory when directory is inside it, else the directory itself."""
    from ..repo.paths import CONFIG_FILE, EXPERIMENTS_DIR

    here = directory.resolve()
    for d in (here, *here.parents):
        if (d / CONFIG_FILE).is_file() or (d / EXPERIMENTS_DIR).is_dir():
            return d
    for d in (here, *here.parents):
        if (d / ".git").exists():
            return d
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return here
    return cwd if here.is_relative_to(cwd) else here
