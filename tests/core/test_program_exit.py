"""The `katib-gitops` program ends without tearing the interpreter down (``cli.run``): what it prints and
its exit status must be exactly what ``main`` produced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _program(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "generator"))
    return subprocess.run([sys.executable, "-m", "katib_gitops", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_large_output_and_status_survive_the_quick_exit(tmp_path: Path):
    bad = (REPO_ROOT / "base" / "cpu" / "iris.yaml").read_text().replace("maxTrialCount: 12", "maxTrialCount: -1")
    for i in range(120):  # far more than a pipe holds: everything must still be flushed
        (tmp_path / f"exp-{i:02d}.yaml").write_text(bad)
    proc = _program("validate", "-o", "json", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)
    assert len({f["file"] for f in findings}) == 120
    assert len(proc.stdout) > 65536


def test_help_and_usage_errors_keep_their_status(tmp_path: Path):
    assert _program("--help", cwd=tmp_path).returncode == 0
    usage = _program("render", "--no-such-flag", cwd=tmp_path)
    assert usage.returncode == 2 and "unrecognized arguments" in usage.stderr
