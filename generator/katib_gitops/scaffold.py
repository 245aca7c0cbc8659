"""init and new: scaffold a GitOps repository, add a spec to one.

The repository template is a cookiecutter template shipped as package data
(templates/repo). ``new --from`` copies an existing spec with ruamel.yaml, so
its comments and key order survive.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from .findings import Finding, UserError
from .repo import EXPERIMENTS_DIR, load_repo
from .yamlio import dump_roundtrip, roundtrip

NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _template_dir() -> Path:
    return Path(str(resources.files("katib_gitops.templates").joinpath("repo")))


def _check_name(name: str, what: str) -> None:
    if not NAME.match(name) or len(name) > 31:
        raise UserError(Finding(f"{name!r} is not a valid {what}: lowercase letters, digits and '-', starting with "
                                "a letter, at most 31 characters (the Experiment name adds a 9-character hash)",
                                file=name, line=0, column=0, rule="name"), exit_code=2)


def init_repo(directory: Path, context: dict[str, Any]) -> Path:
    """Create a repository at directory from the template, then render it."""
    from cookiecutter.main import cookiecutter

    from .render import render_repo
    from .writer import write_tree

    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise UserError(Finding("directory exists and is not empty", file=str(directory), line=0, column=0,
                                rule="init"), exit_code=2)
    _check_name(context.get("experiment", "quadratic"), "experiment name")
    with tempfile.TemporaryDirectory(prefix="katib-gitops-init-") as tmp:
        out = Path(cookiecutter(str(_template_dir()), no_input=True, output_dir=tmp,
                                extra_context={"repo_name": directory.name, **context}))
        directory.mkdir(parents=True, exist_ok=True)
        for item in out.iterdir():
            shutil.move(str(item), directory / item.name)
    repo = load_repo(directory)
    write_tree(repo, render_repo(repo).files)
    return directory


def new_spec(repo_dir: Path, name: str, source: Path | None = None) -> Path:
    """Write experiments/NAME.yaml: a copy of source (comments kept) or the template's spec."""
    _check_name(name, "experiment name")
    repo = load_repo(repo_dir)
    target = repo.experiments_dir / f"{name}.yaml"
    if target.exists():
        raise UserError(Finding("a spec with this name exists", file=repo.rel(target), line=0, column=0, rule="new"),
                        exit_code=2)
    if source is None:
        template = _template_dir() / "{{cookiecutter.repo_name}}" / EXPERIMENTS_DIR / "{{cookiecutter.experiment}}.yaml"
        text = template.read_text().replace("{{ cookiecutter.experiment }}", name)
        text = text.replace("{{ cookiecutter.image }}", f"registry.example.com/{name}/trainer:0.1.0")
    else:
        rt = roundtrip()
        with open(source, encoding="utf-8") as fh:
            data = rt.load(fh)
        if not hasattr(data, "get") or "name" not in data:
            raise UserError(Finding("not a spec: no top-level name", file=str(source), line=1, column=1, rule="new"))
        data["name"] = name
        text = dump_roundtrip(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target
