"""katib-gitops plan: what merging this change does to each Experiment."""

from __future__ import annotations

import argparse
import sys

from . import common

# Kept in step with plan.model.EXIT_REFUSED (a test checks it): building the parser loads no plan module.
EXIT_REFUSED = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="compare the experiments at a git ref with the working tree",
        description="Render the specs at a git ref and in the working tree, and say for each experiment: added "
        "(with a one-line summary: algorithm, objective, parameters, trial budget, image), removed (kept or "
        "pruned), unchanged, updated in place (which counts, and when Katib refuses it), or replaced (new name, "
        "and which immutable fields changed, old -> new, in the base and each deployed overlay). Each experiment "
        "names the overlays it is deployed under and its GPU budget (GPUs per trial x parallel trials). Then the "
        "Argo CD and Flux objects deploy/ adds, removes or changes, and what a removed one keeps doing (with the "
        "command that deletes it). With --live, each Experiment the cluster has is compared with what its "
        "deployed overlay applies, by Katib's update rules. "
        f"Exit status: 0 plan printed; 1 the specs do not render (findings printed, no plan); 2 usage error or "
        f"unreadable input (a bad --base, an unreadable --live); {EXIT_REFUSED} plan printed, and Katib will "
        "refuse at least one sync it causes (known with --live, or when a team's Component changes an immutable "
        "field under the same name).",
    )
    p.add_argument("--base", metavar="REF", help="git ref to compare with (default: merge base with the default branch)")
    p.add_argument("--output", choices=("text", "markdown", "json"), default="text", help="output format (default text)")
    common.add_live_option(p, "each Experiment it has is checked against Katib's update rules")
    p.add_argument("-C", "--repo", default=".", help="repository root or a directory inside it (default: .)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..plan import make_plan, to_markdown, to_text
    from ..build.render import SpecErrors
    from ..repo.repository import load_repo

    repo = load_repo(args.repo)
    try:
        live = None
        if args.live is not None:
            from ..live.state import load_live

            live = load_live(args.live)
        plan = make_plan(repo, args.base, live)
    except SpecErrors as exc:
        return common.print_findings(exc.findings)
    render = {"text": to_text, "markdown": to_markdown, "json": lambda p: p.to_json()}[args.output]
    sys.stdout.write(render(plan))
    return EXIT_REFUSED if plan.refused else 0
