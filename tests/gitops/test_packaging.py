"""The light install: every subpackage ships in the wheel; the runner's dependencies are the `run` extra."""

from __future__ import annotations

import tomllib

from conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_every_subpackage_is_packaged():
    # An editable install finds a subpackage missing from this list; `pip install .` (CI, pre-commit) does not.
    setuptools = PYPROJECT["tool"]["setuptools"]
    packages, dirs = set(setuptools["packages"]), setuptools["package-dir"]
    source = REPO_ROOT / "generator" / "katib_gitops"
    for init in source.rglob("__init__.py"):
        rel = init.parent.relative_to(source.parent)
        if "templates" in rel.parts[2:]:  # the cookiecutter template is package data
            continue
        name = ".".join(rel.parts)
        assert name in packages, f"{name} is missing from [tool.setuptools] packages"
        assert dirs.get(name, f"generator/{rel.as_posix()}") == f"generator/{rel.as_posix()}"


def test_runner_dependencies_are_the_run_extra():
    base = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    extras = PYPROJECT["project"]["optional-dependencies"]
    for heavy in ("optuna", "scikit-optimize", "cmaes", "pillow", "scikit-learn"):
        assert heavy not in base and any(d.startswith(heavy) for d in extras["run"])
    assert "katib-gitops[run]" in extras["test"]
