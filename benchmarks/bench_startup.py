"""Per-file start-up: one `katib-gitops validate FILE` process against one `check-jsonschema` process.

A pre-commit hook runs the validator once per changed file, so the start-up cost (imports) is what a
developer waits for. Target: katib-gitops at most 0.5x check-jsonschema with the project's own Experiment
schema on the same file.

    python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from as_installed import with_bytecode

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "tests" / "validation" / "iris.yaml"
SCHEMA = ROOT / "schemas" / "experiment.schema.json"


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)




def one(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with_bytecode()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        f"katib-gitops validate {FILE.name}": [_bin("katib-gitops"), "validate", str(FILE)],
        f"check-jsonschema --schemafile experiment.schema.json {FILE.name}":
            [_bin("check-jsonschema"), "--schemafile", str(SCHEMA), str(FILE)],
    }
    for cmd in commands.values():
        subprocess.run(cmd, capture_output=True, check=True, )  # warm the file cache, write .pyc files
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    # Interleaved, so that load from other processes on a shared machine falls on all of them alike.
    for _ in range(args.runs):
        for name, cmd in commands.items():
            samples[name].append(one(cmd))
    print(f"| process (median of {args.runs}, interleaved) | wall ms | CPU ms |")
    print("| --- | --- | --- |")
    med = {}
    for name, got in samples.items():
        med[name] = (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
        print(f"| {name} | {med[name][0] * 1000:.0f} | {med[name][1] * 1000:.0f} |")
    ours, theirs = list(med.values())[1], list(med.values())[2]
    wall, cpu = ours[0] / theirs[0], ours[1] / theirs[1]
    print(f"\nratio {wall:.2f}x wall, {cpu:.2f}x CPU (target <= 0.5x): {'met' if max(wall, cpu) <= 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
