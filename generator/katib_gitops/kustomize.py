"""Real kustomize: the same engine Argo CD and Flux run.

`kustomize` is used when it is on PATH, else `kubectl kustomize` (kubectl
embeds kustomize). There is no fallback imitation: without either, the
commands that build overlays fail with a clear message.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from .findings import Finding, UserError

TIMEOUT_S = 120


@lru_cache(maxsize=None)
def kustomize_command() -> tuple[str, ...]:
    if shutil.which("kustomize"):
        return ("kustomize", "build")
    if shutil.which("kubectl"):
        return ("kubectl", "kustomize")
    raise UserError(Finding(
        "no kustomize found: install kubectl >= 1.27 (it embeds kustomize) or kustomize >= 5 and put it on PATH",
        file="kustomize", line=0, column=0, rule="kustomize"), exit_code=2)


def build(directory: str | Path, display: str | None = None) -> str:
    """`kustomize build DIRECTORY`; a UserError carrying kustomize's own message on failure."""
    cmd = [*kustomize_command(), str(directory)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise UserError(Finding(f"kustomize build timed out after {TIMEOUT_S}s", file=display or str(directory),
                                line=0, column=0, rule="kustomize")) from None
    if proc.returncode != 0:
        msg = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise UserError(Finding(f"kustomize build failed: {msg}", file=display or str(directory), line=0, column=0,
                                rule="kustomize"))
    return proc.stdout
