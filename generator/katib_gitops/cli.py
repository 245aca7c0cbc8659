"""Command line: parse arguments into typed options and call plain functions.

Each subcommand lives in ``katib_gitops.commands.<name>`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed namespace and returning an exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from . import __version__
from .findings import UserError

# Order here is the order in --help.
COMMANDS = ("render", "validate", "check", "plan", "status", "results", "import_", "run", "init", "new")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="katib-gitops",
        description="Turn experiment specs into a validated GitOps repository for Kubeflow Katib.",
    )
    parser.add_argument("--version", action="version", version=f"katib-gitops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"katib_gitops.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"katib_gitops.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(exc.finding.one_line(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("katib-gitops: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
