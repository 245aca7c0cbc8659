"""katib-gitops plan: what merging this change does to each Experiment."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="compare the experiments at a git ref with the working tree",
        description="Render the specs at a git ref and in the working tree, and say for each experiment: added, "
        "removed (kept or pruned), unchanged, updated in place (which counts, and when Katib refuses it), or replaced (new name, "
        "and which immutable fields changed, old -> new, in the base and each deployed overlay). Each experiment "
        "names the overlays it is deployed under and its GPU budget (GPUs per trial x parallel trials).",
    )
    p.add_argument("--base", metavar="REF", help="git ref to compare with (default: merge base with the default branch)")
    p.add_argument("--output", choices=("text", "markdown", "json"), default="text", help="output format (default text)")
    p.add_argument("--live", metavar="FILE", default=None,
                   help="live state: the output of `kubectl get experiments -A -o yaml` (a file, - for stdin, or "
                   "`kubectl` to run it); in-place updates are checked against Katib's update rules")
    p.add_argument("-C", "--repo", default=".", help="repository root or a directory inside it (default: .)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..plan import make_plan, to_markdown, to_text
    from ..render import SpecErrors
    from ..repo import load_repo
    from . import common

    repo = load_repo(args.repo)
    try:
        live = None
        if args.live is not None:
            from ..live import load_live

            live = load_live(args.live)
        plan = make_plan(repo, args.base, live)
    except SpecErrors as exc:
        return common.print_findings(exc.findings)
    render = {"text": to_text, "markdown": to_markdown, "json": lambda p: p.to_json()}[args.output]
    sys.stdout.write(render(plan))
    return 0
