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

from .findings import Finding, UserError

TIMEOUT_S = 120
# Go's garbage collector, tuned for kustomize's workload. By default (GOGC=100) it collects every time the
# heap doubles, which for a build of hundreds of Experiments is a large share of kustomize's CPU time. A
# soft memory limit instead (GOGC=off, GOMEMLIMIT) collects only when the heap nears the limit: at 1,000
# experiments that cuts check's CPU time by about 13 % (paired runs) for some 30 MB more per large build
# (benchmarks/README.md). The limit grows with what the build reads (about 80 bytes of heap per byte of
# YAML in, so roughly twice the live heap, like GOGC=100) so a large build never runs against it. A
# GOGC or GOMEMLIMIT already in the environment is left as it is.
HEAP_PER_INPUT_BYTE = 80
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
            kust = yaml.safe_load((d / "kustomization.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        for key in ("resources", "components"):
            for ref in kust.get(key) or [] if isinstance(kust, dict) else []:
                if isinstance(ref, str) and "://" not in ref:
                    todo.append(d / ref)
    return total


def go_env(directory: Path) -> dict[str, str]:
    """The environment for one kustomize build: Go's collector on a soft memory limit sized to the build."""
    env = dict(os.environ)
    if "GOGC" not in env and "GOMEMLIMIT" not in env:
        limit = max(MIN_MEMORY_LIMIT, HEAP_PER_INPUT_BYTE * input_bytes(directory))
        env.update(GOGC="off", GOMEMLIMIT=f"{limit // (1024 * 1024)}MiB")
    return env


def build(directory: str | Path, display: str | None = None) -> str:
    """`kustomize build DIRECTORY`; a UserError carrying kustomize's own message on failure."""
    cmd = [*kustomize_command(), str(directory)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
                              env=go_env(Path(directory)))
    except subprocess.TimeoutExpired:
        raise UserError(Finding(f"kustomize build timed out after {TIMEOUT_S}s", file=display or str(directory),
                                line=0, column=0, rule="kustomize")) from None
    if proc.returncode != 0:
        msg = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise UserError(Finding(f"kustomize build failed: {msg}", file=display or str(directory), line=0, column=0,
                                rule="kustomize"))
    return proc.stdout
