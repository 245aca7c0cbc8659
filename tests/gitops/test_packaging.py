"""Packaging: a clean build (no warning), every package found by discovery, the installed layout the code reads
(katib_gitops.schemas from schemas/, the template, the Lua health check), the wheel init keeps equal to the
built one, and the light install: init's and the runner's heavy imports load only when used."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

from conftest import REPO_ROOT, offline_env
from katib_gitops import __version__
from katib_gitops.scaffold.wheel import running_wheel

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PACKAGE = REPO_ROOT / "generator" / "katib_gitops"
WARNING = re.compile(r"warn|deprecat", re.IGNORECASE)


def _package_files(names: list[str]) -> set[str]:
    return {n for n in names if n.startswith("katib_gitops/")}


def _expected_files() -> set[str]:
    """What the wheel must hold, from the source tree: every module of every package under generator/
    (found, not listed), the schemas as katib_gitops/schemas/, the Lua health check and the whole template."""
    out = set()
    for path in PACKAGE.rglob("*"):
        rel = path.relative_to(PACKAGE)
        if "__pycache__" in rel.parts or not path.is_file():
            continue
        if rel.parts[0] == "templates" or path.suffix in (".py", ".lua"):
            out.add(f"katib_gitops/{rel.as_posix()}")
    for path in (REPO_ROOT / "schemas").iterdir():
        if path.suffix in (".py", ".json"):
            out.add(f"katib_gitops/schemas/{path.name}")
    return out


def test_the_build_prints_no_warning(distributions):
    assert [line for line in distributions.log.splitlines() if WARNING.search(line)] == []


def test_pip_wheel_prints_no_warning(distributions, tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(tmp_path), str(distributions.source)],
                          env={**offline_env(Path(sys.executable).parent), "PYTHONDONTWRITEBYTECODE": ""},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # pip's own notes about its configuration (find-links folders that do not exist) are not the build's
    build = [line for line in (proc.stdout + proc.stderr).splitlines() if "is ignored: it is neither" not in line]
    assert [line for line in build if WARNING.search(line)] == []


def test_every_package_is_in_the_wheel(distributions):
    names = zipfile.ZipFile(distributions.wheel).namelist()
    assert _package_files(names) == _expected_files()
    assert "katib_gitops/schemas/spec.schema.json" in names and "katib_gitops/deploy/experiment_health.lua" in names
    meta = Parser().parsestr(zipfile.ZipFile(distributions.wheel).read(
        f"katib_gitops-{__version__}.dist-info/METADATA").decode())
    assert meta["License-Expression"] == "Apache-2.0" and meta["Version"] == __version__


def test_the_sdist_holds_what_the_wheel_is_built_from(distributions):
    with tarfile.open(distributions.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"setup.py", "pyproject.toml", "README.md", "schemas/spec.schema.json", "generator/katib_gitops/cli.py",
            "generator/katib_gitops/templates/repo/templates/comment-plan.sh"} <= names


def test_the_wheel_init_keeps_is_the_built_wheel(distributions):
    built = zipfile.ZipFile(distributions.wheel)
    import io

    kept = zipfile.ZipFile(io.BytesIO(running_wheel()[1]))
    assert _package_files(kept.namelist()) == _package_files(built.namelist())
    for name in _package_files(built.namelist()):
        assert kept.read(name) == built.read(name), name
    info = f"katib_gitops-{__version__}.dist-info"
    assert {n for n in kept.namelist() if n.startswith(info)} >= {f"{info}/{f}" for f in ("METADATA", "RECORD",
                                                                                             "WHEEL", "entry_points.txt")}
    assert kept.read(f"{info}/entry_points.txt") == built.read(f"{info}/entry_points.txt")


def test_the_built_wheel_installs_and_works(distributions, fresh_venv, tmp_path: Path):
    """Installed from the wheel alone (no source tree): the layout the code reads, and a repository made with it
    checks clean; the wheel that installation keeps for its CI is the same as the one installed."""
    bin_dir = fresh_venv()
    env = offline_env(bin_dir)
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(distributions.wheel)], env=env,
                   check=True, capture_output=True, timeout=300)
    layout = subprocess.run([str(bin_dir / "python"), "-c", (
        "import json, katib_gitops, pathlib; root = pathlib.Path(katib_gitops.__file__).parent; "
        "print(json.dumps(sorted(p.relative_to(root.parent).as_posix() for p in root.rglob('*') "
        "if p.is_file() and '__pycache__' not in p.parts)))")], env=env, capture_output=True, text=True, check=True)
    assert set(json.loads(layout.stdout)) == _expected_files()
    repo = tmp_path / "team"
    for args in (["--version"], ["init", str(repo)], ["check", "-C", str(repo)]):
        proc = subprocess.run([str(bin_dir / "katib-gitops"), *args], env=env, capture_output=True, text=True,
                              cwd=tmp_path)
        assert proc.returncode == 0, (args, proc.stderr)
    kept = zipfile.ZipFile(repo / "tools" / distributions.wheel.name)
    built = zipfile.ZipFile(distributions.wheel)
    assert all(kept.read(n) == built.read(n) for n in _package_files(built.namelist()))
    assert _package_files(kept.namelist()) == _package_files(built.namelist())


def test_check_and_help_load_neither_init_nor_the_runner(iris_repo: Path):
    """cookiecutter (init) and the runner's extras (Optuna, scikit-optimize, cmaes, Pillow, scikit-learn) are
    imported only by the commands that use them: check, plan and validate stay light."""
    code = (
        "import json, sys\n"
        "from katib_gitops.cli import main\n"
        f"status = main(['check', '-q', '-C', {str(iris_repo)!r}])\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('cookiecutter', 'jinja2', 'optuna', 'skopt', 'cmaes', 'PIL', 'sklearn', 'sqlalchemy')\n"
        "print(json.dumps([status, sorted(m for m in sys.modules if m.split('.')[0] in heavy)]))\n")
    from conftest import cli

    assert cli("render", "-C", str(iris_repo), "-q") == 0
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    status, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert status == 0 and heavy == []
    # and init does load cookiecutter: the test above can fail
    proc = subprocess.run([sys.executable, "-c", "import sys; from katib_gitops.cli import main; "
                           "main(['init', sys.argv[1]]); print('cookiecutter' in sys.modules)",
                           str(iris_repo.parent / "new")], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "True"


def test_runner_dependencies_are_the_run_extra():
    base = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    extras = PYPROJECT["project"]["optional-dependencies"]
    for heavy in ("optuna", "scikit-optimize", "cmaes", "pillow", "scikit-learn"):
        assert heavy not in base and any(d.startswith(heavy) for d in extras["run"])
    assert "katib-gitops[run]" in extras["test"]


def test_one_version_everywhere():
    assert PYPROJECT["project"]["version"] == __version__
    assert PYPROJECT["project"]["license"] == "Apache-2.0"  # an SPDX expression, not a table

