"""katib-gitops init: scaffold a new GitOps repository for Katib experiments."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init",
        help="scaffold a new GitOps repository (or a folder of an existing git repository)",
        description="Create DIR from the packaged cookiecutter template (experiments/, trainer/ skeleton, "
        "katib-gitops.yaml, CI workflow, pre-commit config, README) and render it, so `katib-gitops check` "
        "passes at once. Inside an existing git repository DIR becomes a folder of it: git.path is set to its "
        "place, and the CI workflow goes to the top's .github/workflows/katib-gitops-PATH.yml (init refuses to "
        "overwrite one), running in DIR on the changes that touch it.",
    )
    p.add_argument("directory", metavar="DIR", help="new repository directory (must not exist, or be empty)")
    p.add_argument("--experiment", default="quadratic", help="name of the first experiment (default quadratic)")
    p.add_argument("--git-url", help="repository URL Argo CD and Flux pull from (default: origin's URL inside a git "
                   "repository, else an example)")
    p.add_argument("--image", help="trainer image of the first experiment")
    p.add_argument("--namespace", default="kubeflow", help="namespace of the Experiments (default kubeflow)")
    p.add_argument("--install", metavar="SOURCE", default=None,
                   help="what the CI workflow pip-installs, always this version of katib-gitops: by default this "
                   "version's wheel, kept in DIR/tools/ with its sha256 checked by the workflow (no package index "
                   "needs to have it); or a wheel file (kept the same way), katib-gitops==VERSION (from the package "
                   "index), or a git URL with the version's tag (git+https://.../katib-gitops.git@vVERSION)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scaffold.repository import init_repo

    context = {"experiment": args.experiment, "namespace": args.namespace}
    if args.git_url:
        context["git_url"] = args.git_url
    if args.image:
        context["image"] = args.image
    from ..io.safetext import clean_lines

    result = init_repo(Path(args.directory), context, args.install)
    print(clean_lines(summary(result, args.directory)))
    return 0


def _shown(path: Path) -> str:
    """path as the user would type it from here."""
    rel = os.path.relpath(path)
    return path.as_posix() if rel.startswith("..") else Path(rel).as_posix()


def summary(result, typed: str) -> str:
    from .. import __version__

    place, folder = result.place, _shown(result.directory)
    workflow = _shown(result.workflow)
    lines = []
    if place.in_subfolder:
        lines.append(f"created {folder}: a folder of the git repository at {place.top}, git.path "
                     f"{place.path}, following branch {place.branch}")
        lines.append(f"CI: {workflow} runs in {place.path} on pushes to {place.branch} and pull requests that "
                     "touch it")
    else:
        lines.append(f"created {folder}")
        lines.append(f"CI: {workflow} runs on pushes to {place.branch} and pull requests")
    lines.append(f"  installs katib-gitops {__version__} {result.install.describe(folder.rstrip('/') + '/')}")
    lines.append(f"  {result.install.alternatives()}")
    if result.pre_commit is None:
        lines.append(f"pre-commit: add the hooks shown in {folder}/README.md to the repository's "
                     ".pre-commit-config.yaml")
    if place.top is None:
        lines.append(f"next: cd {typed} && git init -b {place.branch} && git add -A && katib-gitops check")
    elif place.in_subfolder:
        lines.append(f"next: cd {typed} && katib-gitops check, then commit {place.path} and "
                     f".github/workflows/{place.workflow_name}")
    else:
        lines.append(f"next: cd {typed} && git add -A && katib-gitops check")
    return "\n".join(lines)
