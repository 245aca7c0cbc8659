"""katib-gitops render: write base/, overlays/, the root kustomization and deploy/ from experiments/."""

from __future__ import annotations

import argparse
from pathlib import Path

# Heavy modules are imported inside run(): the CLI imports every command module to build --help.


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="render every spec in experiments/ into base/, overlays/ and deploy/",
        description="Render every spec in experiments/ into base/<profile>/ (one Experiment per spec and profile it "
        "deploys under), overlays/<profile>/ (JSON 6902 patches, one file per distinct operation list, selected by "
        "label), the root kustomization.yaml (every overlay) and deploy/ (Argo CD, Flux). "
        "Everything `check` validates is run first on the tree about to be written (specs, every overlay built "
        "with real kustomize, deploy/), each finding reported at its spec or settings line; nothing is written "
        "when any check fails. "
        "Files are only replaced when their content changes. "
        "When the tree is exactly as the last validated render left it (the same specs, settings, generated and "
        "hand-written files, katib-gitops and kustomize: a stamp in the git directory records them), render "
        "prints what that render printed and exits 0 without rendering or validating again; any doubt runs the "
        "full render.",
    )
    p.add_argument("specs", nargs="*", metavar="SPEC",
                   help="spec files that must be part of the render (the whole repository is always rendered)")
    p.add_argument("-C", "--repo", default=".", help="repository root or a directory inside it (default: .)")
    p.add_argument("--no-validate", action="store_true", help="skip validating the tree before writing (then render may write what check rejects)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..repo.paths import find_root
    from ..repo.writer import locked
    from . import common

    # A tree exactly as the last validated render left it, with the same katib-gitops and kustomize: nothing
    # to write and nothing new to validate (``stamp``). Only this check loads before the verdict.
    if not args.no_validate:
        from ..build import stamp

        root = find_root(args.repo)
        with locked(root):
            reused = stamp.reusable(root)
        if reused is not None:
            _check_spec_args(args.specs, root)
            common.print_findings(reused.findings)
            if not args.quiet:
                print(f"{reused.experiments} experiment(s): up to date")
            return 0
    return _render(args)


def _check_spec_args(specs: list[str], root: Path) -> None:
    from ..io.findings import Finding, UserError
    from ..repo.paths import EXPERIMENTS_DIR

    for s in specs:
        path = Path(s)
        if not path.is_file():
            raise UserError(Finding("no such spec file", file=s, line=0, column=0, rule="io"), exit_code=2)
        if path.resolve().parent != (root / EXPERIMENTS_DIR).resolve():
            raise UserError(Finding(f"specs live in {root / EXPERIMENTS_DIR}", file=s, line=0, column=0, rule="io"),
                            exit_code=2)


def _render(args: argparse.Namespace) -> int:
    from ..build import stamp
    from ..pipeline.render_gate import validate_staged
    from ..build.render import SpecErrors, render_repo
    from ..repo.repository import load_repo
    from ..io.safetext import clean
    from ..repo.writer import inputs_state, locked, recover_locked, stray_copies, write_locked
    from . import common

    repo = load_repo(args.repo)
    _check_spec_args(args.specs, repo.root)
    # One lock from reading to writing: a second render fails at once instead of validating a tree
    # the first is about to change.
    with locked(repo.root):
        recover_locked(repo.root)  # an interrupted render is finished first
        before = inputs_state(repo.root)  # a branch switched while this render runs must not get its output
        # Under the lock and before render reads anything: what a stamp of this render will vouch for.
        pending = None if args.no_validate else stamp.before_render(repo.root)
        try:
            result = render_repo(repo)
        except SpecErrors as exc:
            return max(common.print_findings(exc.findings), exc.exit_code)
        findings = list(result.warnings) + stray_copies(repo.root, result.files)
        if not args.no_validate:
            findings += validate_staged(repo, result)
        if any(f.severity == "error" for f in findings):
            return common.print_findings(findings)
        common.print_findings(findings)
        changes = write_locked(repo, result.files, before)
        stamp.after_render(repo.root, pending, result.files, changes.removed, len(result.experiments), findings)
    if not args.quiet:
        n = len(result.experiments)
        if changes.empty:
            print(f"{n} experiment(s): up to date")
        else:
            for what, rels in (("added  ", changes.added), ("changed", changes.changed), ("removed", changes.removed)):
                for rel in rels:
                    print(clean(f"{what} {rel}"))
    return 0
