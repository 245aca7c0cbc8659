"""katib-gitops validate: find offline what a Katib cluster would reject."""

from __future__ import annotations

import argparse
import sys

from . import common

# Kept in step with validation.podsecurity.LEVELS and validation.reporters.FORMATS (a test checks it); not
# imported here, so that building the parser does not load the validation layers.
LEVELS = ("restricted", "baseline")
FORMATS = ("text", "json", "github")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check Experiments and manifests offline: schema, Katib webhook rules, trial template as Kubernetes",
        description="Check YAML files, directories (a directory holding kustomization.yaml is built with kustomize "
        "first) or stdin (-) for everything a Katib cluster would reject: the Experiment schema, Katib's webhook "
        "rules, the trial template as a Kubernetes resource, and the schemas of the other kinds. With no PATH, "
        "the repository: specs, base/, every overlay built, deploy/. Exit status: 0 valid, 1 errors found, "
        "2 usage error or unreadable input.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="file, directory or - for stdin (default: the repository)")
    p.add_argument("--output", "-o", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--kubernetes-version", metavar="X.Y",
                   help="Kubernetes version whose schemas apply (default: the newest bundled)")
    p.add_argument("--strict", action="store_true", help="kinds without a schema are errors, not warnings")
    p.add_argument("--algorithm", action="append", default=[], metavar="NAME",
                   help="an extra algorithm name the cluster's katib-config knows (repeatable)")
    p.add_argument("--early-stopping", action="append", default=[], metavar="NAME",
                   help="an extra early-stopping algorithm name (repeatable)")
    p.add_argument("--metrics-collector", action="append", default=[], metavar="KIND",
                   help="a metrics collector kind the cluster's katib-config has beyond StdOut, File and "
                   "TensorFlowEvent, e.g. PrometheusMetric (repeatable)")
    p.add_argument("--inject-security-context", action="store_true",
                   help="the cluster's katib-config sets injectSecurityContext: true, so Katib's collector sidecar "
                   "copies the first container's securityContext (affects --pod-security)")
    p.add_argument("--pod-security", choices=LEVELS, help="require this Pod Security Standard of every pod template")
    common.add_live_option(p, "each Experiment the cluster has is checked against Katib's update rules, "
                           "compared with what its deployed overlay applies")
    common.add_quiet_option(p)
    p.add_argument("-C", "--repo", default=".", help="repository root or a directory inside it, when no PATH is given")
    p.set_defaults(func=run)


def _live(source: str | None):
    if source is None:
        return None
    from ..live.state import load_live

    return load_live(source)


def run(args: argparse.Namespace) -> int:
    if args.live == "-" and "-" in args.paths:
        from ..io.findings import Finding, UserError

        raise UserError(Finding("stdin (-) can be the live state or a PATH, not both", file="--live",
                                rule="usage"), exit_code=2)
    from ..io.findings import Finding, UserError
    from ..validation import ValidationOptions, validate_paths, validate_repo
    from ..io.findings import unique
    from ..validation.reporters import summary

    options = ValidationOptions(
        kubernetes_version=args.kubernetes_version,
        strict=args.strict,
        extra_algorithms=tuple(args.algorithm),
        extra_early_stopping=tuple(args.early_stopping),
        extra_collectors=tuple(args.metrics_collector),
        inject_security_context=args.inject_security_context,
        pod_security=args.pod_security,
        live=_live(args.live),
    )
    root = None  # findings about PATHs are relative to the current directory, about the repository to its root
    if args.paths:
        report = validate_paths(args.paths, options)
    else:
        from ..repo.repository import load_repo

        repo = load_repo(args.repo)
        report = validate_repo(repo, options)
        root = str(repo.root)
        if not report.sources:
            raise UserError(Finding(f"nothing to validate: no experiments/, base/, overlays/ or deploy/ in {repo.root}",
                                    file=str(repo.root), rule="usage"), exit_code=2)
    common.report(report.findings, args.output, args.quiet, args.strict, root=root)
    if args.output == "text" and not (args.quiet and report.ok):
        from ..io.safetext import clean

        print(clean("; ".join([summary(unique(report.findings), report.documents), *report.notes])), file=sys.stderr)
    return 0 if report.ok else 1
