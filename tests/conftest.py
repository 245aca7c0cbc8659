"""Shared test fixtures: where the repo and ../shared are, and throwaway repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
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


def git(root: Path, *args: str) -> None:
    """git in root as a test's author, with nothing from the user's git configuration."""
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin:/usr/local/bin"})


@pytest.fixture
def committed_iris(iris_repo: Path) -> Path:
    """The iris repository rendered and committed on main: what a pull request starts from."""
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    git(iris_repo, "init", "-q", "-b", "main")
    git(iris_repo, "add", "-A")
    git(iris_repo, "commit", "-q", "-m", "base")
    return iris_repo


def cli(*argv: str) -> int:
    from katib_gitops.cli import main

    return main(list(argv))


# ---------------------------------------------------------------------------
# Built distributions and fresh virtual environments (packaging, and the CI install step init writes)


@dataclass(frozen=True)
class Distributions:
    source: Path  # the copy of the sources they were built from
    sdist: Path
    wheel: Path  # built from the sdist, as `python -m build` (the release workflow) does
    log: str  # everything the build printed


@pytest.fixture(scope="session")
def distributions(tmp_path_factory) -> Distributions:
    """The sdist and the wheel, built once per session from a copy of the sources (offline: no build isolation,
    the test environment's setuptools; the copy keeps build/ and egg-info out of the checkout)."""
    src = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    for name in ("generator", "schemas"):
        shutil.copytree(REPO_ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # a user's build compiles
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sdist,), (wheel,) = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    return Distributions(src, sdist, wheel, proc.stdout + proc.stderr)


@pytest.fixture(scope="session")
def dependency_view(tmp_path_factory) -> Path:
    """This environment's installed packages except katib-gitops (and pip, setuptools): a fresh environment
    given this directory on its path has katib-gitops's dependencies installed, and not katib-gitops."""
    view = tmp_path_factory.mktemp("dependencies")
    site = Path(sysconfig.get_paths()["purelib"])
    skipped = ("katib_gitops", "__editable__", "pip", "setuptools", "_distutils_hack", "pkg_resources", "__pycache__")
    for entry in site.iterdir():
        if entry.name.startswith(skipped) or entry.suffix == ".pth":
            continue
        (view / entry.name).symlink_to(entry)
    return view


@pytest.fixture
def fresh_venv(tmp_path: Path, dependency_view: Path):
    """A factory: a new virtual environment (with pip) whose dependencies are dependency_view, so installing
    katib-gitops into it needs no package index. Returns its bin directory."""

    def make(name: str = "venv") -> Path:
        venv = tmp_path / name
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        purelib = subprocess.run([str(venv / "bin" / "python"), "-c",
                                  "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        (Path(purelib) / "katib_gitops_test_dependencies.pth").write_text(f"{dependency_view}\n")
        return venv / "bin"

    return make


def offline_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """The environment to run a fresh venv's tools in: its bin first on PATH, pip kept off the package index
    (the dependencies are there already), a fixed git identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONHOME"))}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", **extra}
