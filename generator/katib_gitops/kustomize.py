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

from .findings import Finding, UserError

TIMEOUT_S = 120
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


def input_bytes(directory: Path) -> int:
    """Size of the YAML files a build of directory reads: its own and those of the local directories its
    kustomization lists (followed a few levels; remote and missing ones are skipped)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # a base's kustomization lists every experiment
    total, seen, todo = 0, set(), [directory]
    while todo and len(seen) < MAX_WALK:
        d = todo.pop()
        try:
            d = d.resolve()
        except OSError:
            continue
        if d in seen or not d.is_dir():
            continue
        seen.add(d)
        for f in d.iterdir():
            if f.suffix in (".yaml", ".yml") and f.is_file():
                total += f.stat().st_size
        try:
            kust = yaml.load((d / "kustomization.yaml").read_text(encoding="utf-8"), Loader=loader) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        for key in ("resources", "components"):
            for ref in kust.get(key) or [] if isinstance(kust, dict) else []:
                if isinstance(ref, str) and "://" not in ref:
                    todo.append(d / ref)
    return total


def heap_limits(directories: Sequence[Path], concurrent: int) -> dict[Path, int]:
    """The GOMEMLIMIT, in bytes, of each build when at most `concurrent` of them run at once.

    Each build wants HEAP_PER_INPUT_BYTE per byte it reads and gets its share of HEAP_BUDGET against the
    largest builds it could run beside: limit_i <= budget * want_i / (want_i + the (concurrent - 1)
    largest other wants). Whichever builds run together, their limits then add up to at most the budget.
    """
    wants = {d: HEAP_PER_INPUT_BYTE * input_bytes(d) for d in directories}
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
          started: Callable[[subprocess.Popen], None] | None = None) -> str:
    """`kustomize build DIRECTORY`; a UserError carrying kustomize's own message on failure. heap_limit:
    Go's soft memory limit in bytes, when the caller shares the budget between builds (``heap_limits``);
    started: called with the process once it runs (a caller that may stop the build keeps it)."""
    cmd = [*kustomize_command(), str(directory)]
    where = display or str(directory)
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=go_env(Path(directory), heap_limit)) as proc:
        if started is not None:
            started(proc)
        try:
            stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise UserError(Finding(f"kustomize build timed out after {TIMEOUT_S}s", file=where, line=0, column=0,
                                    rule="kustomize")) from None
    if proc.returncode != 0:
        msg = " ".join(stderr.split()) or f"exit status {proc.returncode}"
        raise UserError(Finding(f"kustomize build failed: {msg}", file=where, line=0, column=0, rule="kustomize"))
    return stdout
