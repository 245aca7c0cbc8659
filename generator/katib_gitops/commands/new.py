"""katib-gitops new: add a spec to an existing repository."""

from __future__ import annotations

import argparse
from pathlib import Path



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "new",
        help="add experiments/NAME.yaml to this repository",
        description="Write experiments/NAME.yaml from the template spec, or as a copy of an existing spec "
        "(--from), keeping its comments and key order. Run `katib-gitops render` afterwards.",
    )
    p.add_argument("name", metavar="NAME", help="experiment name (lowercase, digits, '-')")
    p.add_argument("--from", dest="source", metavar="SPEC", help="copy this spec instead of the template")
    p.add_argument("-C", "--repo", default=".", help="repository root or a directory inside it (default: .)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scaffold.repository import new_spec

    path = new_spec(Path(args.repo), args.name, Path(args.source) if args.source else None)
    from ..io.safetext import clean

    print(clean(f"wrote {path}; next: katib-gitops render"))
    return 0
