"""katib-gitops results: record each completed Experiment's best trial under results/<spec>.yaml."""

from __future__ import annotations

import argparse
import sys

from .status import add_live_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "results",
        help="record completed Experiments' best trials in results/<spec>.yaml (with --write)",
        description="For each completed Experiment of the repository (current or superseded), its best trial: "
        "parameters, metrics, Experiment name and hash, completion time, trial counts. Without --write, print "
        "what would be written; with --write, write results/<spec>.yaml (merged with what the file records "
        "already; unchanged files are left alone, so re-running is idempotent).",
    )
    add_live_option(p)
    p.add_argument("--write", action="store_true", help="write results/<spec>.yaml instead of printing")
    p.add_argument("-C", "--repo", default=".", help="repository root or a directory inside it (default: .)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..live.state import load_live
    from ..repo.repository import load_repo
    from ..outcomes.records import results_files, write_results
    from ..io.safetext import clean, clean_lines
    from ..outcomes.status import repo_status

    repo = load_repo(args.repo)
    live = load_live(args.live)
    files = results_files(repo, repo_status(repo, live))  # SpecErrors: main prints each finding
    if not args.write:
        for rel, text in files.items():
            sys.stdout.write(clean_lines(f"--- {rel}\n{text}"))  # YAML as dumped is safe already (``yamlio``)
        if not files:
            print("no completed Experiments")
        return 0
    written = write_results(repo, files)
    for rel in written:
        print(clean(f"wrote {rel}"))
    if not written:
        print(f"{len(files)} results file(s): up to date")
    return 0
