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
# Where init puts a wheel given with --install, and the spec schema editors read (the modeline of specs).
WHEELS_DIR = "tools"
SPEC_SCHEMA = "schemas/spec.schema.json"
# What may appear in an install source: it lands in a workflow's shell command, quoted.
_SAFE_SOURCE = re.compile(r"^[A-Za-z0-9._+\-=@:/~#<>!,\[\] ]+$")
_PINNED = re.compile(r"^katib-gitops\s*(?:==\s*(?P<version>[A-Za-z0-9.+!-]+))?$")


def install_source(source: str | None) -> tuple[str, Path | None]:
    """(what the workflow pip-installs, a wheel to copy into the repository or None).

    Always exactly this version of the tool: `check` compares generated files byte for byte, so a
    repository is only green with the version that rendered it. SOURCE is a version spec
    (``katib-gitops==X``, for an index that has it), a git URL with a tag (``git+https://...@vX``) or a
    wheel file (copied into the repository's tools/).
    """
    from . import __version__

    def bad(message: str) -> UserError:
        return UserError(Finding(message, file="--install", line=0, column=0, rule="init"), exit_code=2)

    if source is None:
        return f"katib-gitops=={__version__}", None
    if not _SAFE_SOURCE.match(source):
        raise bad(f"{source!r}: not a version spec, git URL or wheel path (unexpected characters)")
    if source.endswith(".whl"):
        wheel = Path(source)
        if not wheel.is_file():
            raise bad(f"no such wheel: {source}")
        parts = wheel.name.split("-")
        if len(parts) < 5 or parts[0] != "katib_gitops" or parts[1] != __version__:
            raise bad(f"{wheel.name} is not a katib-gitops {__version__} wheel (this is the version that renders "
                      "the repository)")
        return f"./{WHEELS_DIR}/{wheel.name}", wheel
    if source.startswith("git+") or "://" in source:
        ref = source.split("://", 1)[-1].split("#", 1)[0]
        if "@" not in ref.split("/", 1)[-1]:
            raise bad(f"{source}: name the tag of version {__version__}, e.g. git+https://host/org/katib-gitops.git@v{__version__}")
        return source, None
    pinned = _PINNED.match(source.strip())
    if pinned is None:
        raise bad(f"{source!r}: use katib-gitops=={__version__}, a git URL with a tag, or a wheel path")
    if pinned.group("version") not in (None, __version__):
        raise bad(f"{source} is not the version that renders this repository ({__version__})")
    return f"katib-gitops=={__version__}", None


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


def init_repo(directory: Path, context: dict[str, Any], install: str | None = None) -> Path:
    """Create a repository at directory from the template, then render it.

    Everything is made in a scratch directory beside the target and moved into place only when the
    render succeeded: a failed init leaves nothing behind.
    """
    from . import __version__
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
    requirement, wheel = install_source(install)  # inert too: install_source allows no Jinja delimiters
    values = {**values, "katib_gitops_version": __version__, "katib_gitops_requirement": requirement}
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
        schema = out / SPEC_SCHEMA
        schema.parent.mkdir(parents=True, exist_ok=True)
        schema.write_bytes(resources.files("katib_gitops.schemas").joinpath("spec.schema.json").read_bytes())
        if wheel is not None:
            (out / WHEELS_DIR).mkdir(exist_ok=True)
            shutil.copyfile(wheel, out / WHEELS_DIR / wheel.name)
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
        from .safefs import special_kind
        from .yamlio import load_one

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
    from .safefs import write_file

    write_file(target, text, repo.rel(target))
    return target
