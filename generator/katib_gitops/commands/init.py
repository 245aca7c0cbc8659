"""katib-gitops init: scaffold a new GitOps repository for Katib experiments."""

from __future__ import annotations

import argparse
from pathlib import Path



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init",
        help="scaffold a new GitOps repository",
        description="Create DIR from the packaged cookiecutter template (experiments/, trainer/ skeleton, "
        "katib-gitops.yaml, CI workflow, pre-commit config, README) and render it, so `katib-gitops check` "
        "passes at once.",
    )
    p.add_argument("directory", metavar="DIR", help="new repository directory (must not exist or be empty)")
    p.add_argument("--experiment", default="quadratic", help="name of the first experiment (default quadratic)")
    p.add_argument("--git-url", help="repository URL Argo CD and Flux pull from")
    p.add_argument("--image", help="trainer image of the first experiment")
    p.add_argument("--namespace", default="kubeflow", help="namespace of the Experiments (default kubeflow)")
    p.add_argument("--install", metavar="SOURCE", default=None,
                   help="what the CI workflow pip-installs: always this version of katib-gitops, as a version spec "
                   "(katib-gitops==VERSION, the default, for an index that has it), a git URL with a tag "
                   "(git+https://.../katib-gitops.git@vVERSION) or a wheel file (copied into tools/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scaffold import init_repo

    context = {"experiment": args.experiment, "namespace": args.namespace}
    if args.git_url:
        context["git_url"] = args.git_url
    if args.image:
        context["image"] = args.image
    path = init_repo(Path(args.directory), context, args.install)
    from ..safetext import clean

    print(clean(f"created {path}; next: cd {args.directory} && git init && katib-gitops check"))
    return 0
