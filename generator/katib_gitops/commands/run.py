"""katib-gitops run: run an experiment on this machine, with Katib's semantics, no cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..findings import Finding, UserError
from ..repo import find_root


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run an experiment locally: trials as processes, Katib's algorithms, collectors and lifecycle",
        description="Render SPEC (with --profile's overlay) and run the Experiment on this machine: "
        "suggestions from the spec's algorithm (Optuna / scikit-optimize), each trial the primary "
        "container's command with ${trialParameters...} substituted, run in --workdir; metrics "
        "collected as Katib's StdOut/File collectors would; Succeeded/Failed as Katib decides. "
        "SPEC may also be a Katib Experiment manifest (kind: Experiment), run as it is. "
        "Writes trials.jsonl, each trial's log, status.yaml and a parallel-coordinates plot to --out. "
        "Ctrl-C stops the running trials and keeps what finished; --resume continues.",
    )
    p.add_argument("spec", metavar="SPEC", help="experiment spec (experiments/NAME.yaml) or Experiment manifest")
    p.add_argument("--profile", default=None,
                   help="profile whose overlay (env, GPUs) applies: one the spec deploys under (default: the "
                   "repository's default profile when the spec uses it, else the spec's first)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="directory the trial command runs in (default: trainer/ at the repository root)")
    p.add_argument("--out", type=Path, default=None,
                   help="results directory (default: runs/<experiment>/ at the repository root)")
    p.add_argument("--max-trials", type=int, default=None, metavar="N", help="override maxTrialCount")
    p.add_argument("--parallel", type=int, default=None, metavar="N", help="override parallelTrialCount")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="seed of the search algorithm (default: its random_state setting, else a fresh "
                   "one, recorded in run.json)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out: keep finished trials, re-run interrupted ones")
    p.add_argument("--gpus", type=int, default=None, metavar="G",
                   help="GPUs on this machine (default: count `nvidia-smi -L`); needed for a GPU profile "
                   "on a machine without nvidia-smi")
    p.add_argument("--html", action="store_true", help="also write report.html (plot and trial table)")
    p.set_defaults(func=run)


def _is_experiment(path: Path) -> dict | None:
    from ..yamlio import load_file

    docs = [d for d in load_file(str(path)) if isinstance(d.data, dict)]
    if len(docs) == 1 and docs[0].data.get("kind") == "Experiment" and \
            str(docs[0].data.get("apiVersion", "")).startswith("kubeflow.org/"):
        return docs[0].data
    return None


def load_inputs(spec: Path, profile: str | None):
    """(experiment dict, env, gpus per trial or None) for SPEC under PROFILE."""
    experiment = _is_experiment(spec)
    if experiment is not None:
        if profile is not None:
            raise UserError(Finding("--profile applies to experiment specs; this file is an Experiment "
                                    "manifest, run as it is", file=str(spec)), exit_code=2)
        return experiment, {}, None
    from ..render import load_for_run

    inputs = load_for_run(spec, profile)
    return inputs.experiment, dict(inputs.env), inputs.gpus_per_trial


# The runner's own dependencies (the `run` extra), by import name -> distribution name.
RUN_EXTRA = {"optuna": "optuna", "cmaes": "cmaes", "skopt": "scikit-optimize", "matplotlib": "matplotlib",
             "sklearn": "scikit-learn"}


def missing_run_dependencies() -> list[str]:
    from importlib.util import find_spec

    return [dist for module, dist in RUN_EXTRA.items() if find_spec(module) is None]


def require_run_extra(source: str) -> None:
    """A light install (`pip install katib-gitops`) has no runner: say exactly what to install."""
    missing = missing_run_dependencies()
    if missing:
        raise UserError(Finding(f"the local runner needs {', '.join(missing)}, not installed here: "
                                "pip install 'katib-gitops[run]'", file=source, rule="install"),
                        exit_code=2)


def run(args: argparse.Namespace) -> int:
    require_run_extra(args.spec)
    from ..runner import RunOptions, run_experiment

    spec = Path(args.spec)
    if not spec.is_file():
        raise UserError(Finding("no such file", file=args.spec), exit_code=2)
    if args.gpus is not None and args.gpus < 0:
        raise UserError(Finding("--gpus must be 0 or more", file=args.spec), exit_code=2)
    experiment, env, gpus_per_trial = load_inputs(spec, args.profile)
    root = find_root(spec.resolve().parent)
    name = str((experiment.get("metadata") or {}).get("name") or spec.stem)
    options = RunOptions(
        workdir=args.workdir if args.workdir is not None else root / "trainer",
        out=args.out if args.out is not None else root / "runs" / name,
        max_trials=args.max_trials,
        parallel=args.parallel,
        seed=args.seed,
        resume=args.resume,
        gpus=args.gpus,
        gpus_per_trial=gpus_per_trial,
        env=env,
        profile=args.profile,
        html=args.html,
        source=args.spec,
    )
    result = run_experiment(experiment, options)
    sys.stdout.write(result.summary)
    return result.exit_code
