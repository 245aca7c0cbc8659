"""init and new: scaffold a GitOps repository, add a spec to one.

The repository template is a cookiecutter template shipped as package data
(templates/repo). ``new --from`` copies an existing spec with ruamel.yaml, so
its comments and key order survive.
"""

from __future__ import annotations

import os
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


# What init passes to cookiecutter must stay text: cookiecutter renders every value as a Jinja template,
# so `{{ ... }}` or `{% ... %}` in one would be evaluated (and could run code). Each value is held to the
# shape it must have anyway, which leaves no room for Jinja syntax, quotes, spaces or newlines.
_VALUES = {
    "experiment": (NAME, "--experiment", "lowercase letters, digits and '-', starting with a letter"),
    "namespace": (re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"), "--namespace",
                  "a Kubernetes namespace: lowercase letters, digits and '-', at most 63 characters"),
    "image": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}"), "--image",
              "an image reference such as registry.example.com/team/trainer:1.0"),
    "git_url": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:/?@!$&()*+,;=-]{0,2047}"), "--git-url",
                "a git URL such as https://github.com/org/repo.git or git@github.com:org/repo.git"),
}


def _inert_context(context: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in context.items():
        pattern, option, shape = _VALUES[key]
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise UserError(Finding(f"{value!r} is not {shape}", file=option, line=0, column=0, rule="init"),
                            exit_code=2)
        out[key] = value
    return out


def init_repo(directory: Path, context: dict[str, Any]) -> Path:
    """Create a repository at directory from the template, then render it.

    Everything is made in a scratch directory beside the target and moved into place only when the
    render succeeded: a failed init leaves nothing behind.
    """
    from cookiecutter.main import cookiecutter

    from .render import render_repo
    from .writer import write_tree

    directory = directory.absolute()
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise UserError(Finding("exists and is not a directory", file=str(directory), line=0, column=0,
                                rule="init"), exit_code=2)
    if directory.exists() and any(directory.iterdir()):
        raise UserError(Finding("directory exists and is not empty", file=str(directory), line=0, column=0,
                                rule="init"), exit_code=2)
    _check_name(context.get("experiment", "quadratic"), "experiment name")
    values = _inert_context(context)
    # The directory's own name only titles the README and names the example URLs: a slug of it is inert.
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", directory.name).strip("-.") or "katib-experiments"
    parent = directory.parent
    if not parent.is_dir():
        raise UserError(Finding("parent directory does not exist", file=str(directory), line=0, column=0,
                                rule="init"), exit_code=2)
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".katib-gitops-init-", dir=parent))
    except OSError as exc:
        raise UserError(Finding(f"cannot create it: {exc.strerror}", file=str(directory), line=0, column=0,
                                rule="init"), exit_code=2) from None
    try:
        out = Path(cookiecutter(str(_template_dir()), no_input=True, output_dir=str(scratch),
                                extra_context={"repo_name": slug, **values}))
        repo = load_repo(out)
        write_tree(repo, render_repo(repo).files)
        if directory.exists():
            directory.rmdir()  # empty, checked above
        os.rename(out, directory)
    except OSError as exc:
        raise UserError(Finding(f"cannot create it: {exc.strerror or exc}", file=str(directory), line=0, column=0,
                                rule="init"), exit_code=2) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
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
