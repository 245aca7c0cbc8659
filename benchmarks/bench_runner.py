"""Local runner overhead: `katib-gitops run`'s loop against `xargs -P` running the same trials.

For each scenario `katib-gitops run EXPERIMENT.yaml` runs an Experiment
(random search, so every trial is a fresh suggestion), then the very commands
it ran — read back from its trials.jsonl and substituted the same way — are
run again by `xargs -P <parallel>`. xargs does nothing but start processes, so
the difference is everything the runner adds: Python start-up and imports,
suggestions, metrics collection, the lifecycle checks, trials.jsonl,
status.yaml, the Optuna storage (study.db) and the plot. Both sides run the
same commands, wrapped in `sh -c` the way Katib's pod webhook wraps them.
Target: under 10%. Besides wall time it prints the CPU time of each side
(children included), which a machine shared with other work disturbs less.

    python benchmarks/bench_runner.py [--repeat 2] [--quick]

Timings are wall-clock: each side's column is the median of --repeat runs;
each overhead is the median over the runs of (runner - xargs) / xargs, each
runner run paired with the xargs run that follows it at once (on a shared
machine a slow minute then slows both sides of a pair). Two
overheads are printed: "total" is the whole `katib-gitops run` process
against xargs; "loop" is the runner's trial phase (first trial start to last
trial end, from trials.jsonl) against xargs, i.e. the per-trial cost without
the fixed ~1 s of start-up (Python, imports) and teardown (plot, status). Which one a
scenario is held to (last column): experiments of 15 s and more, the total;
shorter ones, where the fixed cost dominates, the loop; the "stress" rows
(50 ms trials, bare `python -c`) are there to show the per-trial cost and are
held to nothing. On a shared 2-core machine CPU-bound rows (iris) vary by
+-20% from run to run; the sleep rows are stable.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from as_installed import with_bytecode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "generator"))

from katib_gitops.runner.executor import build_command  # noqa: E402
from katib_gitops.runner.experiment_view import plan_from_experiment  # noqa: E402
from katib_gitops.runner.run_records import ResultsFile  # noqa: E402

TARGET = 0.10


def shell_experiment(name: str, script: str, trials: int, parallel: int) -> dict:
    return {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": name},
        "spec": {
            "maxTrialCount": trials, "parallelTrialCount": parallel, "maxFailedTrialCount": trials,
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "random"},
            "parameters": [{"name": "x", "parameterType": "double",
                            "feasibleSpace": {"min": "0.0", "max": "1.0"}}],
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": "x", "reference": "x"}],
                "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "bench", "command": ["sh", "-c", script]}],
                }}}},
            },
        },
    }


def iris_experiment(trials: int, parallel: int) -> dict:
    import yaml

    exp = yaml.safe_load((REPO / "tests" / "runner" / "cases" / "iris-experiment.yaml").read_text())
    exp["spec"]["maxTrialCount"] = trials
    exp["spec"]["parallelTrialCount"] = parallel
    exp["spec"]["objective"].pop("goal", None)  # run every trial: same work on both sides
    return exp


def trial_phase(out: Path) -> float:
    from datetime import datetime

    def ts(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    records = ResultsFile(out).load()
    return max(ts(r.end) for r in records) - min(ts(r.start) for r in records)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, list[float]] = {}


def run_runner(exp: dict, workdir: Path, out: Path, seed: int) -> float:
    """The whole `katib-gitops run` process, as a user waits for it."""
    import yaml

    spec = out.with_suffix(".yaml")
    spec.write_text(yaml.safe_dump(exp))
    cpu = children_cpu()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "katib_gitops", "run", str(spec), "--workdir", str(workdir),
                    "--out", str(out), "--seed", str(seed)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                   env=dict(os.environ, PYTHONPATH=str(REPO / "generator")))
    wall = time.perf_counter() - start
    CPU.setdefault("runner", []).append(children_cpu() - cpu)
    return wall


def run_xargs(exp: dict, workdir: Path, out: Path, parallel: int) -> float:
    """Run the runner's own trial commands again, under xargs -P."""
    plan = plan_from_experiment(exp)
    lines = []
    for record in ResultsFile(out).load():
        trial_dir = out / "xargs" / record.name
        trial_dir.mkdir(parents=True, exist_ok=True)  # the wrapped command redirects into it
        cmd = build_command(plan, record.name, record.parameters, workdir=workdir, trial_dir=trial_dir)
        lines.append(shlex.join(cmd.argv) + " > " + shlex.quote(str(out / f"xargs-{record.name}.log")) + " 2>&1")
    listing = out / "xargs-commands.txt"
    listing.write_text("\n".join(lines) + "\n")
    cpu = children_cpu()
    start = time.perf_counter()
    subprocess.run(["xargs", "-d", "\n", "-P", str(parallel), "-n", "1", "sh", "-c"],
                   stdin=open(listing), cwd=workdir, check=True, env=cmd.env)
    wall = time.perf_counter() - start
    CPU.setdefault("xargs", []).append(children_cpu() - cpu)
    return wall


def cli_startup() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "katib_gitops", "run", "--help"], check=True,
                   stdout=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per scenario and side (median)")
    parser.add_argument("--quick", action="store_true",
                        help="one run each, without the iris scenario (sklearn start-up is slow)")
    parser.add_argument("--only", default=None, metavar="TEXT", help="only the scenarios whose label has TEXT")
    args = parser.parse_args()
    with_bytecode()
    if args.quick:
        args.repeat = 1

    echo = "echo accuracy=${trialParameters.x}"
    # (label, experiment, parallel, workdir, overhead held to the target: "total", "loop" or None)
    scenarios = [
        ("sleep 2s", shell_experiment("bench-mid", f"sleep 2; {echo}", 18, 3), 3, None, "loop"),
        ("sleep 0.2s", shell_experiment("bench-sleep", f"sleep 0.2; {echo}", 60, 3), 3, None, "loop"),
        ("stress: 0.05s", shell_experiment("bench-short", f"sleep 0.05; {echo}", 80, 4), 4, None, None),
        ("stress: python -c", shell_experiment(
            "bench-python", f"{shlex.quote(sys.executable)} -c 'print(\"accuracy=${{trialParameters.x}}\")'", 40, 2),
         2, None, None),
    ]
    if not args.quick:
        scenarios[:0] = [
            ("iris trainer", iris_experiment(12, 3), 3, REPO / "trainer", "total"),
            ("sleep 5s", shell_experiment("bench-long", f"sleep 5; {echo}", 18, 3), 3, None, "total"),
        ]

    if args.only:
        scenarios = [s for s in scenarios if args.only in s[0]]
    print(f"CLI start-up alone (python -m katib_gitops run --help): {cli_startup():.2f}s, included below\n")
    header = (f"{'scenario':<19}{'trials':>7}{'parallel':>9}{'xargs -P (s)':>14}{'runner (s)':>12}"
              f"{'total':>9}{'loop':>8}{'cpu':>8}  target <10%")
    print(header)
    print("-" * len(header))
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        for label, exp, parallel, workdir, held in scenarios:
            workdir = workdir or Path(tmp)
            runner_times, loop_times, xargs_times = [], [], []
            CPU.clear()
            for i in range(args.repeat):
                out = Path(tmp) / f"{exp['metadata']['name']}-{i}"
                runner_times.append(run_runner(exp, workdir, out, seed=i))
                loop_times.append(trial_phase(out))
                xargs_times.append(run_xargs(exp, workdir, out, parallel))
            r, x = statistics.median(runner_times), statistics.median(xargs_times)
            # Each runner run is followed at once by its xargs run: the overhead of each such pair, then the
            # median of those, so that a slow stretch of a shared machine weighs on both sides of a pair.
            total = statistics.median((ri - xi) / xi for ri, xi in zip(runner_times, xargs_times))
            loop = statistics.median((li - xi) / xi for li, xi in zip(loop_times, xargs_times))
            trials = exp["spec"]["maxTrialCount"]
            if held is None:
                verdict = "-"
            else:
                value = total if held == "total" else loop
                worst = max(worst, value)
                verdict = f"{'ok' if value < TARGET else 'OVER'} ({held})"
            cpu = statistics.median((rc - xc) / xc for rc, xc in zip(CPU["runner"], CPU["xargs"]))
            print(f"{label:<19}{trials:>7}{parallel:>9}{x:>14.2f}{r:>12.2f}{total:>+9.1%}{loop:>+8.1%}"
                  f"{cpu:>+8.1%}  {verdict}")
            if len(runner_times) > 1:
                print(f"{'':<19}each pair's total: " + ", ".join(f"{(ri - xi) / xi:+.1%}" for ri, xi in
                                                                zip(runner_times, xargs_times)))
    print(f"\nworst held overhead: {worst:+.1%} (target < {TARGET:.0%}); "
          f"{os.cpu_count()} CPUs, median of {args.repeat} run(s)")
    return 0 if worst < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
