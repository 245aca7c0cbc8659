"""katib-gitops run: run an experiment on this machine, with Katib's semantics, no cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io.findings import Finding, UserError
from ..repo.repository import find_root


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run an experiment locally: trials as processes, Katib's algorithms, collectors and lifecycle",
        description="Render SPEC (with --profile's overlay) and run the Experiment on this machine: "
        "suggestions from the spec's algorithm (Optuna / scikit-optimize), each trial the primary "
        "container's command with ${trialParameters...} substituted, run in --workdir; metrics "
        "collected as Katib's StdOut/File collectors would; Succeeded/Failed as Katib decides. "
        "SPEC may also be a Katib Experiment manifest (kind: Experiment), run as it is. "
        "Writes trials.jsonl, each trial's log, status.yaml, a parallel-coordinates plot and the "
        "Optuna study (study.db, for optuna-dashboard) to --out. Trials still running when the "
        "Experiment completes run to the end, as on Katib (--stop-on-finish kills them). "
        "Ctrl-C stops the running trials and keeps what finished; --resume continues (also after "
        "the runner itself was killed: it stops the trials that run left behind). "
        "Exit status: 0 Succeeded, 1 Failed or not finished, 2 usage errors (and a run directory that cannot "
        "be written), 130 interrupted (Ctrl-C), 143 stopped by SIGTERM.",
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
    p.add_argument("--no-plot", dest="plot", action="store_false",
                   help="skip the parallel-coordinates plot (parallel-coordinates.png)")
    p.add_argument("--stop-on-finish", action="store_true",
                   help="kill trials still running when the Experiment completes (Katib lets them "
                   "finish and counts their results; this is faster)")
    p.set_defaults(func=run)


def _manifest(path: Path):
    """The file's Experiment document when it is a Katib Experiment manifest, else None."""
    from ..io.yamlio import load_file

    docs = [d for d in load_file(str(path)) if isinstance(d.data, dict)]
    if len(docs) == 1 and docs[0].data.get("kind") == "Experiment" and \
            str(docs[0].data.get("apiVersion", "")).startswith("kubeflow.org/"):
        return docs[0]
    return None


def _is_experiment(path: Path) -> dict | None:
    doc = _manifest(path)
    return doc.data if doc is not None else None


def load_inputs(spec: Path, profile: str | None):
    """(experiment dict, env, gpus per trial or None) for SPEC under PROFILE."""
    experiment = _is_experiment(spec)
    if experiment is not None:
        if profile is not None:
            raise UserError(Finding("--profile applies to experiment specs; this file is an Experiment "
                                    "manifest, run as it is", file=str(spec)), exit_code=2)
        return experiment, {}, None
    from ..build.render import load_for_run

    inputs = load_for_run(spec, profile)
    return inputs.experiment, dict(inputs.env), inputs.gpus_per_trial


# The runner's own dependencies (the `run` extra), by import name -> distribution name.
RUN_EXTRA = {"optuna": "optuna", "cmaes": "cmaes", "skopt": "scikit-optimize", "PIL": "pillow",
             "sklearn": "scikit-learn", "psutil": "psutil"}


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


class _Unplaced(Finding):
    """A message with no position in a file: ``FILE: message``, not ``FILE:0:0: message``."""

    def one_line(self) -> str:
        what = f"{self.dotted}: " if self.path else ""
        return f"{self.file}: {what}{self.message}"


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except UserError as exc:
        f = exc.finding
        if f.line:
            raise
        raise UserError(_Unplaced(f.message, f.path, f.file, severity=f.severity, rule=f.rule),
                        exc.exit_code) from None


def _usage(message: str, file: str) -> UserError:
    return UserError(Finding(message, file=file), exit_code=2)


def _run(args: argparse.Namespace) -> int:
    require_run_extra(args.spec)
    from ..runner import RunOptions, run_experiment

    spec = Path(args.spec)
    if not spec.is_file():
        raise _usage("no such file", args.spec)
    if args.gpus is not None and args.gpus < 0:
        raise _usage("--gpus must be 0 or more", args.spec)
    for flag, value in (("--max-trials", args.max_trials), ("--parallel", args.parallel)):
        if value is not None and value < 1:
            raise _usage(f"{flag} must be at least 1", args.spec)
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise _usage(f"--seed must be in 0..{2**32 - 1}, got {args.seed}", args.spec)
    if args.workdir is not None and not args.workdir.is_dir():
        what = "is not a directory" if args.workdir.exists() else "does not exist"
        raise _usage(f"--workdir {args.workdir} {what}", args.spec)
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise _usage(f"--out {args.out} is not a directory", args.spec)
    experiment, env, gpus_per_trial = load_inputs(spec, args.profile)
    # What the suggestion service refuses fails the run before a trial, with validate's message.
    from ..runner.admission import refusal

    refused = refusal(experiment, _manifest(spec), args.spec)
    if refused is not None:
        raise UserError(refused)
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
        stop_on_finish=args.stop_on_finish,
        plot=args.plot,
    )
    result = run_experiment(experiment, options)
    sys.stdout.write(result.summary)
    return result.exit_code
