"""How much validating one Experiment costs, beside check-jsonschema on the same files.

Generates 1,000 variants of the iris Experiment (tests/validation/iris.yaml) with
varied search spaces into a temporary directory, then times:

- katib-gitops in-process, every layer (schema, webhook rules, trial template as
  Kubernetes, pod checks), reading and parsing each file included;
- the same, documents already parsed (the validation alone);
- parsing alone (PyYAML), for the breakdown;
- check-jsonschema with the project's Experiment schema over the same files
  (schema layer only; one process for all files, and one process per file).

Target: under 2 ms per Experiment on a 2-core machine, and below
check-jsonschema per file. Run from the repository root:

    python benchmarks/bench_validate.py [--count N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "generator"))

from katib_gitops.validation import ValidationOptions, validate_document, validate_paths  # noqa: E402
from katib_gitops.validation.services import algorithm_refusals  # noqa: E402
from katib_gitops.io.yamlio import dump, load_file  # noqa: E402

IRIS = ROOT / "tests" / "validation" / "iris.yaml"
SCHEMA = ROOT / "schemas" / "experiment.schema.json"
ALGORITHMS = ["random", "tpe", "grid", "bayesianoptimization", "cmaes", "sobol", "multivariate-tpe"]


def variant(base: dict, rng: random.Random, i: int) -> dict:
    """The iris Experiment with a different search space, budget and algorithm."""
    exp = yaml.safe_load(yaml.safe_dump(base))
    spec = exp["spec"]
    exp["metadata"]["name"] = f"iris-{i:04d}"
    spec["maxTrialCount"] = rng.randint(6, 60)
    spec["parallelTrialCount"] = rng.randint(1, min(6, spec["maxTrialCount"]))
    spec["maxFailedTrialCount"] = rng.randint(0, spec["maxTrialCount"])
    spec["algorithm"]["algorithmName"] = rng.choice(ALGORITHMS)
    params = []
    for p in spec["parameters"]:
        kind = rng.choice(["double", "int", "discrete", "categorical"])
        if p["name"] == "penalty":
            kind = "categorical"
        if kind == "double":
            low = rng.uniform(1e-5, 0.1)
            # Fixed-point text: an exponent form such as 6e-05 is a string to PyYAML (YAML 1.1) but a
            # number to Go's YAML and to ruamel (YAML 1.2), so Katib would refuse it.
            space = {"min": f"{low:.6f}", "max": f"{low * rng.uniform(2, 100):.6f}",
                     "distribution": rng.choice(["uniform", "logUniform"])}
        elif kind == "int":
            low = rng.randint(1, 20)
            space = {"min": str(low), "max": str(low + rng.randint(0, 200)), "step": str(rng.randint(1, 5))}
        elif kind == "discrete":
            space = {"list": sorted({str(rng.randint(1, 500)) for _ in range(rng.randint(1, 6))}, key=int)}
        else:
            choices = ["l2", "l1", "elasticnet", "none"] if p["name"] == "penalty" else ["a", "b", "c", "d", "e"]
            space = {"list": rng.sample(choices, rng.randint(1, len(choices)))}
        params.append({"name": p["name"], "parameterType": kind, "feasibleSpace": space})
    spec["parameters"] = params
    # Valid Experiments only: a search space the chosen algorithm's service refuses (a grid without steps or
    # with fewer points than trials, cmaes over one dimension) falls back to random.
    if any(algorithm_refusals(spec)):
        spec["algorithm"]["algorithmName"] = "random"
    return exp


def best_of(runs: int, fn) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def check_jsonschema() -> str | None:
    here = Path(sys.executable).parent / "check-jsonschema"
    return str(here) if here.exists() else shutil.which("check-jsonschema")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--single", type=int, default=10, help="files to time with one check-jsonschema process each")
    args = parser.parse_args()

    base = load_file(str(IRIS))[0].data
    rng = random.Random(20260601)
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        files = []
        for i in range(args.count):
            path = Path(tmp) / f"iris-{i:04d}.yaml"
            path.write_text(dump(variant(base, rng, i)))
            files.append(str(path))
        options = ValidationOptions()

        # Schemas compile on first use; that once-per-process cost is reported apart.
        start = time.perf_counter()
        warm = validate_paths(files[:1], options)
        compile_s = time.perf_counter() - start
        report = validate_paths(files, options)
        if not report.ok or warm.errors:
            print("generated Experiments should be valid:", report.errors[:3], file=sys.stderr)
            return 1

        full = best_of(3, lambda: validate_paths(files, options))
        docs = [load_file(f)[0] for f in files]
        only = best_of(3, lambda: [validate_document(d, options) for d in docs])
        parse = best_of(3, lambda: [load_file(f) for f in files])

        rows = [
            ("katib-gitops, all layers, read + parse + validate", full / args.count),
            ("katib-gitops, all layers, validation only", only / args.count),
            ("  of which YAML parsing (PyYAML)", parse / args.count),
        ]
        tool = check_jsonschema()
        if tool:
            start = time.perf_counter()
            proc = subprocess.run([tool, "--schemafile", str(SCHEMA), *files], capture_output=True, text=True)
            batch = time.perf_counter() - start
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
                return 1
            rows.append(("check-jsonschema, schema only, one process for all files", batch / args.count))
            single_files = files[: args.single]
            start = time.perf_counter()
            for f in single_files:
                subprocess.run([tool, "--schemafile", str(SCHEMA), f], capture_output=True, check=True)
            rows.append((f"check-jsonschema, schema only, one process per file ({len(single_files)} files)",
                         (time.perf_counter() - start) / len(single_files)))
        else:
            rows.append(("check-jsonschema: not installed (pip install check-jsonschema)", float("nan")))

    print(f"{args.count} iris Experiments with varied search spaces, {os.cpu_count()} CPU(s), "
          f"Python {sys.version.split()[0]}")
    print(f"schema compilation, once per process: {compile_s * 1000:.1f} ms (first file included)")
    width = max(len(name) for name, _ in rows)
    print(f"{'what':<{width}}  ms/Experiment")
    print(f"{'-' * width}  -------------")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds * 1000:13.3f}")
    target = full / args.count * 1000
    print(f"target < 2 ms per Experiment (all layers, parsing included): {'met' if target < 2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
