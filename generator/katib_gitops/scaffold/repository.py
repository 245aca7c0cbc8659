"""init and new: scaffold a GitOps repository, add a spec to one.

The repository template is a cookiecutter template shipped as package data
(templates/repo); where it goes in git is ``git_place``'s business, how its CI
installs the tool ``install_choice``'s. ``new --from`` copies an existing spec
with ruamel.yaml, so its comments and key order survive.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..io.findings import Finding, UserError
from .git_place import GitPlace, locate
from .install_choice import Install, choose
from ..repo.repository import EXPERIMENTS_DIR, load_repo
from ..io.yamlio import dump_roundtrip, roundtrip

NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# The spec schema editors read (the modeline of specs).
SPEC_SCHEMA = "schemas/spec.schema.json"
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
_TEMPLATE_WORKFLOW = ".github/workflows/katib-gitops.yml"


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
        if key not in _VALUES:
            raise ValueError(key)  # a programming error: every user value needs a shape
        pattern, option, shape = _VALUES[key]
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise UserError(Finding(f"{value!r} is not {shape}", file=option, line=0, column=0, rule="init"),
                            exit_code=2)
        out[key] = value
    return out


@dataclass(frozen=True)
class InitResult:
    directory: Path
    place: GitPlace
    install: Install
    workflow: Path  # where the CI workflow was written
    pre_commit: Path | None  # the pre-commit config written, None in a folder of a larger repository


def _refuse(message: str, path: Path) -> UserError:
    return UserError(Finding(message, file=str(path), line=0, column=0, rule="init"), exit_code=2)


def _check_target(directory: Path, place: GitPlace) -> None:
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise _refuse("exists and is not a directory", directory)
    # The top of a git repository made for it holds .git already: that is still an empty repository.
    allowed = {".git"} if place.top is not None and place.path == "." else set()
    if directory.exists() and any(p.name not in allowed for p in directory.iterdir()):
        raise _refuse("directory exists and is not empty", directory)
    workflow = place.workflow_file(directory)
    if place.in_subfolder and (workflow.exists() or workflow.is_symlink()):
        raise _refuse("a workflow of this name exists; init writes its CI workflow there and overwrites nothing: "
                      "rename or remove it, then run init again", workflow)


def init_repo(directory: Path, context: dict[str, Any], install: str | None = None) -> InitResult:
    """Create a repository at directory from the template, then render it.

    Inside an existing git repository (a monorepo), directory becomes a folder of it: settings' git.path is
    its place, and the CI workflow goes to the top's .github/workflows/ (refused if one of that name exists).
    Everything is made in a scratch directory beside the target and moved into place only when the render
    succeeded: a failed init leaves nothing behind.
    """
    from .. import __version__

    directory = directory.absolute()
    place = locate(directory)
    _check_target(directory, place)
    _check_name(context.get("experiment", "quadratic"), "experiment name")
    if "git_url" not in context and place.remote_url and _VALUES["git_url"][0].fullmatch(place.remote_url):
        context = {**context, "git_url": place.remote_url}
    values = _inert_context(context)
    chosen = choose(install)  # inert too: install_choice allows no Jinja delimiters
    # The directory's own name only titles the README and names the example URLs: a slug of it is inert.
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", directory.name).strip("-.") or "katib-experiments"
    values = {**values, "repo_name": slug, "katib_gitops_version": __version__, "install_kind": chosen.kind,
              "install_source": chosen.source, "install_sha256": chosen.sha256, "git_path": place.path,
              "branch": place.branch, "workflow_file": place.workflow_name}
    anchor = next(d for d in (directory.parent, *directory.parents) if d.is_dir())
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".katib-gitops-init-", dir=anchor))
    except OSError as exc:
        raise _refuse(f"cannot create it: {exc.strerror}", directory) from None
    try:
        out = _make(scratch, values, chosen)
        workflow_text = None
        if place.in_subfolder:  # GitHub reads workflows only at the top; pre-commit reads the top's config
            workflow_text = (out / _TEMPLATE_WORKFLOW).read_text(encoding="utf-8")
            shutil.rmtree(out / ".github")
            (out / PRE_COMMIT_CONFIG).unlink()
        _place(out, directory, anchor, workflow_text, place.workflow_file(directory))
    except OSError as exc:
        raise _refuse(f"cannot create it: {exc.strerror or exc}", directory) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return InitResult(directory, place, chosen, place.workflow_file(directory),
                      None if place.in_subfolder else directory / PRE_COMMIT_CONFIG)


def _make(scratch: Path, values: dict[str, str], chosen: Install) -> Path:
    """The rendered repository, in scratch."""
    from cookiecutter.main import cookiecutter

    from ..build.render import render_repo
    from ..repo.writer import write_tree

    out = Path(cookiecutter(str(_template_dir()), no_input=True, output_dir=str(scratch), extra_context=values))
    schema = out / SPEC_SCHEMA
    schema.parent.mkdir(parents=True, exist_ok=True)
    schema.write_bytes(resources.files("katib_gitops.schemas").joinpath("spec.schema.json").read_bytes())
    if chosen.wheel is not None:
        (out / chosen.source).parent.mkdir(parents=True, exist_ok=True)
        (out / chosen.source).write_bytes(chosen.wheel)
    repo = load_repo(out)
    write_tree(repo, render_repo(repo).files)
    return out


def _place(out: Path, directory: Path, anchor: Path, workflow_text: str | None, workflow: Path) -> None:
    """Move the scratch repository to directory, then write the workflow at the top; undo both on failure."""
    created: list[Path] = []  # directories made here, outermost first, removed again on failure
    moved: list[Path] = []
    try:
        for d in reversed(directory.relative_to(anchor).parents[:-1] if directory != anchor else ()):
            if not (anchor / d).exists():
                (anchor / d).mkdir()
                created.append(anchor / d)
        if directory.exists():  # empty, or a fresh repository's top with only .git in it (checked above)
            for entry in sorted(out.iterdir()):
                os.rename(entry, directory / entry.name)
                moved.append(directory / entry.name)
        else:
            os.rename(out, directory)
            created.append(directory)
        if workflow_text is not None:
            for d in (workflow.parent.parent, workflow.parent):  # .github/ and .github/workflows/ at the top
                if not d.is_dir():
                    d.mkdir()
                    created.append(d)
            # O_EXCL: a workflow that appeared since the check above is not overwritten.
            fd = os.open(workflow, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(workflow_text)
    except BaseException:
        for path in moved:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for path in reversed(created):
            shutil.rmtree(path, ignore_errors=True)
        raise


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
        from ..io.safefs import special_kind
        from ..io.yamlio import load_one

        if source.is_dir() or special_kind(source) is not None:
            raise UserError(Finding("not a regular file: name a spec file to copy", file=str(source), line=0,
                                    column=0, rule="io"), exit_code=2)
        # Read with the strict loader first: one-line errors for missing files, bytes that are not UTF-8,
        # bad YAML or duplicate keys (ruamel.yaml, which keeps the comments, would raise a traceback).
        checked = load_one(str(source))
        if not isinstance(checked.data, dict) or "name" not in checked.data:
            raise UserError(Finding("not a spec: no top-level name", file=str(source), line=1, column=1, rule="new"))
        data = roundtrip().load(checked.text)
        data["name"] = name
        text = dump_roundtrip(data)
    from ..io.safefs import write_file

    write_file(target, text, repo.rel(target))
    return target
