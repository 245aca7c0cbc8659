"""Where things live in a katib-gitops repository: the names, and how to find its root.

Kept free of imports beyond the standard library so that the first thing a command does (find the
repository, start its kustomize builds: ``builds``) does not wait for the rest of the package to load.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE = "katib-gitops.yaml"
EXPERIMENTS_DIR = "experiments"
BASE_DIR = "base"
OVERLAYS_DIR = "overlays"
DEPLOY_DIR = "deploy"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def find_root(start: str | os.PathLike[str] = ".") -> Path:
    """The nearest directory upward holding katib-gitops.yaml or experiments/."""
    here = Path(start).resolve()
    for d in (here, *here.parents):
        if (d / CONFIG_FILE).is_file() or (d / EXPERIMENTS_DIR).is_dir():
            return d
    return here


def git_prefix(path: str | os.PathLike[str]) -> str:
    """path's place inside its git repository ("platform/katib/", "" at the top or outside any repository).

    GitHub places a workflow annotation by its path from the top of the checkout, so findings about a
    repository kept in a folder of a larger one (a monorepo) carry this prefix in `--output github`. Found
    by looking for `.git` (a directory, or a file in a worktree or submodule) without running git.
    """
    here = Path(path).resolve()
    for d in (here, *here.parents):
        if (d / ".git").exists():
            rel = here.relative_to(d).as_posix()
            return "" if rel == "." else f"{rel}/"
    return ""
