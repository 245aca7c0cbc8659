"""Per-file start-up: one `katib-gitops validate FILE` process against one `check-jsonschema` process.

A pre-commit hook runs the validator once per changed file, so the start-up cost (imports) is what a
developer waits for. Target: katib-gitops at most 0.5x check-jsonschema with the project's own Experiment
schema on the same file.

    python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "tests" / "validation" / "iris.yaml"
SCHEMA = ROOT / "schemas" / "experiment.schema.json"


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def timed(cmd: list[str], runs: int) -> float:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache and .pyc files
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    ours = timed([_bin("katib-gitops"), "validate", str(FILE)], args.runs)
    theirs = timed([_bin("check-jsonschema"), "--schemafile", str(SCHEMA), str(FILE)], args.runs)
    python = timed([sys.executable, "-c", "pass"], args.runs)
    print("| process (median of %d) | ms |" % args.runs)
    print("| --- | --- |")
    print(f"| python -c pass | {python * 1000:.0f} |")
    print(f"| katib-gitops validate {FILE.name} | {ours * 1000:.0f} |")
    print(f"| check-jsonschema --schemafile experiment.schema.json {FILE.name} | {theirs * 1000:.0f} |")
    ratio = ours / theirs
    print(f"\nratio {ratio:.2f}x (target <= 0.5x): {'met' if ratio <= 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
