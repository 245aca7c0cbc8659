"""Shared test fixtures: where the repo and ../shared are, and throwaway repositories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
EXAMPLES = SHARED / "katib-examples"
CRDS = SHARED / "crds"
TUTORIAL = SHARED / "seed" / "katib-tutorial.md"


def needs_shared(path: Path = SHARED):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present (a user's clone has no ../shared)")


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml")) if EXAMPLES.is_dir() else []


@pytest.fixture
def iris_repo(tmp_path: Path) -> Path:
    """A fresh repository holding only the project's iris spec (and its repo config, if any)."""
    (tmp_path / "experiments").mkdir()
    shutil.copy(REPO_ROOT / "experiments" / "iris.yaml", tmp_path / "experiments" / "iris.yaml")
    cfg = REPO_ROOT / "katib-gitops.yaml"
    if cfg.exists():
        shutil.copy(cfg, tmp_path / "katib-gitops.yaml")
    return tmp_path


def cli(*argv: str) -> int:
    from katib_gitops.cli import main

    return main(list(argv))
