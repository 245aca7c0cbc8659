"""Pieces the subcommands share."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Iterable

from ..io.findings import Finding

if TYPE_CHECKING:  # importing render here would load every stage for every command
    from ..repo.repository import Repo


def print_findings(findings: Iterable[Finding], stream=None) -> int:
    """One line per finding on stderr; exit status 1 when any is an error."""
    stream = stream or sys.stderr
    status = 0
    for f in findings:
        print(f.one_line(), file=stream)
        if f.severity == "error":
            status = 1
    return status


def add_output_options(p) -> None:
    p.add_argument("--output", choices=("text", "json", "github"), default="text",
                   help="text (FILE:LINE:COL: PATH: message), json, or github workflow annotations")
    p.add_argument("--kubernetes-version", default=None, metavar="X.Y",
                   help="Kubernetes version whose schemas trial templates are checked against (default: newest bundled)")
    p.add_argument("--strict", action="store_true", help="kinds with no known schema are errors, not warnings")
    p.add_argument("--pod-security", choices=("restricted", "baseline"), default=None,
                   help="also check every pod template against this Pod Security Standard")
    add_quiet_option(p)


def validation_options(args, repo: Repo):
    from ..validation import ValidationOptions

    return ValidationOptions(kubernetes_version=args.kubernetes_version, strict=args.strict,
                             pod_security=args.pod_security)


def add_live_option(p, what: str) -> None:
    """--live FILE|-|kubectl for the commands that compare the repository with a cluster (default: none)."""
    p.add_argument("--live", metavar="FILE", default=None,
                   help="live state: the output of `kubectl get experiments -A -o yaml` (or -o json; a file, - for "
                   f"stdin, or `kubectl` to run it in the current context); {what}")


def add_quiet_option(p) -> None:
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print nothing on success; on failure only the errors (warnings too with --strict)")


def report(findings: list[Finding], fmt: str, quiet: bool = False, strict: bool = False, root: str | None = None) -> int:
    """Print the findings; root: the directory their relative paths start from (default: the current one)."""
    from ..io.findings import shown, unique
    from ..repo.paths import git_prefix
    from ..validation import reporters

    findings = unique(findings)
    prefix = git_prefix(root or ".") if fmt == "github" else ""
    sys.stdout.write(reporters.render(shown(findings, quiet, strict), fmt, prefix))
    return 1 if any(f.severity == "error" for f in findings) else 0
