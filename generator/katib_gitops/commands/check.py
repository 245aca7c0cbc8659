"""katib-gitops check: the CI gate (in sync with the specs, builds, validates)."""

from __future__ import annotations

import argparse

from . import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="fail unless generated files match the specs, every overlay builds and everything validates",
        description="Render in memory and list every generated file that is missing, changed or stale; build every "
        "overlay with real kustomize (once per overlay); validate specs, built overlays and deploy/. "
        "With --live, also apply Katib's update rules to each Experiment the cluster has, comparing it with what "
        "Argo CD or Flux will apply (its deployed overlay as kustomize builds it, Katib's defaults on both "
        "sides): a sync Katib will refuse is an error at the spec line. "
        "Exit status: 0 in sync and valid (Katib accepts every sync); 1 findings (out of sync, invalid, or "
        "Katib will refuse a sync); 2 usage error or unreadable input (a --live file that cannot be read).",
    )
    p.add_argument("-C", "--repo", default=".", help="repository root or a directory inside it (default: .)")
    common.add_live_option(p, "each Experiment the cluster has is checked against Katib's update rules")
    common.add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..build.builds import start_builds
    from ..repo.paths import find_root

    # kustomize reads only what is on disk: start the builds before loading the rest of the package.
    builds = start_builds(find_root(args.repo))
    try:
        from ..pipeline.check import check_repo
        from ..repo.repository import load_repo

        repo = load_repo(args.repo)
        options = common.validation_options(args, repo)
        if args.live is not None:
            from dataclasses import replace

            from ..live.state import load_live

            options = replace(options, live=load_live(args.live))
    except BaseException:
        builds.cancel()
        raise
    try:
        findings = check_repo(repo, options, builds=builds)
    except BaseException:
        builds.cancel()
        raise
    status = common.report(findings, args.output, args.quiet, args.strict, root=str(repo.root))
    if status == 0 and args.output == "text" and not args.quiet:
        print("katib-gitops check: in sync and valid")
    return status
