"""katib-gitops status: every Experiment of the repository as the cluster reports it."""

from __future__ import annotations

import argparse
import sys


def add_live_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--live", metavar="FILE", default="kubectl",
                   help="live state: the output of `kubectl get experiments -A -o yaml` (a file or - for stdin); "
                   "default `kubectl`: run it in the current context")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="each Experiment of the repository: live condition, trials, best trial, superseded or current",
        description="Render the repository in memory and report, for each spec's Experiment and any older "
        "Experiment of the same spec still on the cluster: its condition and reason, trials succeeded/failed/"
        "running, the best trial and its parameters, the overlays that deploy it, and whether a newer hash "
        "supersedes it.",
    )
    add_live_option(p)
    p.add_argument("--output", choices=("text", "markdown", "json"), default="text", help="output format (default text)")
    p.add_argument("-C", "--repo", default=".", help="repository root or a directory inside it (default: .)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..live.state import load_live
    from ..repo.repository import load_repo
    from ..outcomes.status import repo_status
    from ..outcomes.status_report import FORMATS

    repo = load_repo(args.repo)
    live = load_live(args.live)
    rows = repo_status(repo, live)  # SpecErrors: main prints each finding
    sys.stdout.write(FORMATS[args.output](rows))
    return 0
