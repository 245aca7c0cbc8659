"""render, check and validate on repositories of N experiments: wall time and peak memory.

For each N (default 10, 100, 1,000) a temporary repository is generated with N
specs of varied search spaces (double, int with step, discrete, categorical,
log-uniform), algorithms (random, tpe, bayesianoptimization, grid, cmaes, sobol,
multivariate-tpe), budgets, env (literals and secretKeyRef), tolerations, and
profiles: the built-in cpu/gpu, customised cpu/gpu, and on every fifth spec a
`gpu-a100` profile (2 GPUs, a node selector, its own limits) that adds a third
overlay. Then each command runs as a user runs it, a fresh process
(`python -m katib_gitops ...`) timed by wall clock:

    render            first render: writes base/, overlays/, deploy/
    render (no-op)    again, nothing changed: writes nothing
    check             the CI gate: in sync, every overlay built with kustomize, all validated
    validate          the repository: specs, base/, overlays built, deploy/

Peak memory is the largest resident set of the process and of anything it
started (kustomize), from wait4()'s rusage.

Targets (2-core machine): check of 1,000 experiments under 10 s wall including
the kustomize builds, cost growing linearly with N, peak memory under 500 MB.

    python benchmarks/bench_scale.py [--sizes 10,100,1000] [--repeat 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALGORITHMS = ["random", "tpe", "bayesianoptimization", "grid", "cmaes", "sobol", "multivariate-tpe"]
PARAMETERS = ["lr", "momentum", "weight_decay", "batch_size", "num_layers", "hidden", "dropout", "optimizer",
              "activation", "warmup_steps"]
COMMANDS = [("render", ["render", "-q"]), ("render (no-op)", ["render", "-q"]), ("check", ["check"]),
            ("validate", ["validate"])]
CHECK_TARGET_S = 10.0
PEAK_TARGET_MB = 500.0


# --------------------------------------------------------------------------- the repository


def parameter(rng: random.Random, name: str, grid: bool) -> dict:
    kind = rng.choice(["int", "discrete", "categorical"] if grid else ["double", "double", "int", "discrete",
                                                                        "categorical"])
    if kind == "double":
        low = round(rng.uniform(1e-4, 0.05), 5)
        p: dict = {"double": [low, round(low * rng.uniform(2, 100), 5)]}
        if rng.random() < 0.4:
            p["distribution"] = "logUniform"
        return p
    if kind == "int":
        low = rng.randint(1, 32)
        p = {"int": [low, low + rng.randint(8, 256)]}
        if grid or rng.random() < 0.3:
            p["step"] = rng.randint(1, 8)
        return p
    if kind == "discrete":
        return {"discrete": sorted(rng.sample([8, 16, 32, 64, 128, 256, 512], rng.randint(1, 5)))}
    return {"categorical": rng.sample(["sgd", "adam", "adamw", "rmsprop", "relu", "gelu", "tanh"], rng.randint(1, 4))}


def spec_yaml(rng: random.Random, i: int) -> str:
    import yaml

    name = f"exp-{i:04d}"
    algorithm = ALGORITHMS[i % len(ALGORITHMS)]
    grid = algorithm == "grid"
    names = rng.sample(PARAMETERS, rng.randint(2 if algorithm == "cmaes" else 1, 5))
    if algorithm == "cmaes":  # CMA-ES needs a continuous space
        names[0] = "lr"
    params = {n: parameter(rng, n, grid) for n in names}
    if algorithm == "cmaes":
        params["lr"] = {"double": [0.001, 0.1]}
    budget = rng.randint(4, 64)
    spec: dict = {
        "name": name,
        "objective": {rng.choice(["maximize", "minimize"]): rng.choice(["accuracy", "f1", "loss"])},
        "algorithm": algorithm,
        "trials": {"max": budget, "parallel": rng.randint(1, min(8, budget)), "maxFailed": rng.randint(0, budget)},
        "parameters": params,
        "trial": {
            "image": f"registry.example.com/team-{i % 9}/trainer:1.{i % 13}.0",
            "command": ["python3", "train.py", f"--epochs={rng.randint(1, 50)}"],
            "env": {"PYTHONUNBUFFERED": "1", "WANDB_API_KEY": {"secretKeyRef": {"name": "wandb", "key": "api-key"}}},
        },
    }
    if rng.random() < 0.3:
        spec["trial"]["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "ml",
                                         "effect": "NoSchedule"}]
    if i % 5 == 0:
        spec["profiles"] = {"gpu-a100": {"from": "gpu", "gpus": 2, "gpuResource": "nvidia.com/gpu",
                                         "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
                                         "limits": {"cpu": "16", "memory": "128Gi"},
                                         "requests": {"cpu": "8", "memory": "64Gi"},
                                         "shm": {"sizeLimit": "16Gi"}}}
    elif i % 5 == 1:
        spec["profiles"] = {"cpu": {"limits": {"cpu": "4", "memory": "8Gi"}, "env": {"OMP_NUM_THREADS": "4"}},
                            "gpu": {"gpus": rng.choice([1, 2, 4]), "shm": {"sizeLimit": "4Gi"},
                                    "env": {"NCCL_DEBUG": "WARN"}}}
    return yaml.safe_dump(spec, sort_keys=False)


def make_repo(root: Path, n: int, seed: int = 20261127) -> None:
    rng = random.Random(seed)
    (root / "experiments").mkdir(parents=True)
    config = ROOT / "katib-gitops.yaml"
    if config.exists():
        shutil.copy(config, root / "katib-gitops.yaml")
    for i in range(n):
        (root / "experiments" / f"exp-{i:04d}.yaml").write_text(spec_yaml(rng, i))


# --------------------------------------------------------------------------- measuring


def run(argv: list[str], repo: Path) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS in MB of the process tree, exit status, stderr tail) for one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "generator") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "katib_gitops", *argv, "-C", str(repo)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-600:]
    # ru_maxrss is in KiB on Linux; it covers the process and the children it waited for (kustomize).
    return wall, usage.ru_maxrss / 1024, proc.returncode, tail


def kustomize_only(repo: Path) -> float:
    """Wall time of the kustomize builds `check` runs (every overlay and deploy/ root), as many at once as CPUs."""
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(ROOT / "generator"))
    from katib_gitops.kustomize import kustomize_command

    dirs = [d for d in sorted((repo / "overlays").iterdir()) if (d / "kustomization.yaml").is_file()]
    dirs += [d for d in sorted((repo / "deploy").iterdir()) if (d / "kustomization.yaml").is_file()]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        codes = list(pool.map(lambda d: subprocess.run([*kustomize_command(), str(d)], capture_output=True).returncode,
                              dirs))
    if any(codes):
        raise SystemExit(f"kustomize failed in {repo}")
    return time.perf_counter() - start


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        kustomize = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True,
                                   timeout=30).stdout.split("\n")[1].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        kustomize = "kustomize: ?"
    return (f"{os.cpu_count()} CPU(s), {model}; Python {platform.python_version()} on {platform.system()} "
            f"{platform.release()}; {kustomize}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated numbers of experiments")
    parser.add_argument("--repeat", type=int, default=1, help="runs per command; the best wall time is kept")
    parser.add_argument("--keep", type=Path, help="generate the repositories under DIR and keep them")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    print(f"machine: {machine()}")
    rows = []
    failed = False
    for n in sizes:
        base = args.keep or Path(tempfile.mkdtemp(prefix="katib-gitops-bench-"))
        repo = base / f"repo-{n}"
        if repo.exists():
            shutil.rmtree(repo)
        make_repo(repo, n)
        row = {"n": n}
        for label, argv in COMMANDS:
            best_wall, peak = float("inf"), 0.0
            repeats = 1 if label == "render" else args.repeat  # the first render can only happen once
            for _ in range(repeats):
                wall, mb, code, tail = run(argv, repo)
                if code != 0:
                    print(f"N={n}: `katib-gitops {' '.join(argv)}` exited {code}:\n{tail}", file=sys.stderr)
                    failed = True
                best_wall, peak = min(best_wall, wall), max(peak, mb)
            row[label] = (best_wall, peak)
        row["kustomize"] = (kustomize_only(repo), 0.0)
        rows.append(row)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        print(f"N={n}: " + ", ".join(f"{label} {row[label][0]:.2f}s/{row[label][1]:.0f}MB" for label, _ in COMMANDS),
              flush=True)

    print()
    head = (f"{'experiments':>11} | " + " | ".join(f"{label:>14}" for label, _ in COMMANDS)
            + " | kustomize only |  check ms/exp")
    print(head)
    print("-" * len(head))
    for row in rows:
        cells = " | ".join(f"{row[label][0]:6.2f}s {row[label][1]:4.0f}MB" for label, _ in COMMANDS)
        print(f"{row['n']:>11} | {cells} | {row['kustomize'][0]:13.2f}s | {row['check'][0] / row['n'] * 1000:13.1f}")
    print("(wall seconds and peak resident memory of the process and its kustomize children; best of "
          f"{args.repeat} run(s) after the first render. \"kustomize only\": the builds check runs, alone, "
          f"{os.cpu_count()} at a time: the floor under check and validate.)")

    print()
    peak = max(cell[1] for row in rows for label, cell in row.items() if label not in ("n", "kustomize"))
    verdicts = [(f"peak memory {peak:.0f} MB < {PEAK_TARGET_MB:.0f} MB", peak < PEAK_TARGET_MB)]
    big = [row for row in rows if row["n"] >= 1000]
    if big:
        t = big[-1]["check"][0]
        verdicts.append((f"check of {big[-1]['n']} experiments {t:.2f}s < {CHECK_TARGET_S:.0f}s", t < CHECK_TARGET_S))
    if len(rows) >= 2:
        # Linear: the cost per experiment of the largest N is no more than 1.5x that of the middle one.
        # (The smallest N is dominated by start-up: Python, imports, schema compilation.)
        mid, top = rows[-2], rows[-1]
        for label in ("render", "check", "validate"):
            growth = (top[label][0] / top["n"]) / (mid[label][0] / mid["n"])
            verdicts.append((f"{label}: cost per experiment at N={top['n']} is {growth:.2f}x that at N={mid['n']} "
                             f"(linear: <= 1.5x)", growth <= 1.5))
    for text, ok in verdicts:
        print(f"{'met   ' if ok else 'MISSED'} {text}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
