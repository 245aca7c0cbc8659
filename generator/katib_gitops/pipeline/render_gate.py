"""render's gate: everything ``check`` validates, run on the tree a render is about to write.

The rendered files are staged in a scratch directory together with the
hand-written files that live beside them (in base/, overlays/, deploy/), so
the staged tree is exactly what the repository will hold after the render.
``validation.validate_repo`` then runs on it as ``check`` runs on the
repository: specs, every overlay built once with real kustomize (whatever
overlays the tree has), deploy/. Rules added to the validation engine apply
here with no change. Findings point at the spec or settings lines they come
from (``provenance``). Nothing is written to the repository until this passes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..io.findings import ERROR, Finding, UserError
from ..validation.provenance import RenderProvenance
from ..build.render import RenderResult
from ..io.safefs import outside, special_kind, tree_refusals
from ..repo.repository import Repo
from ..repo.writer import OWNED_ROOTS, check_layout, check_roots, is_generated


def stage(repo: Repo, files: dict[str, str], dest: Path) -> tuple[Repo, list[Finding]]:
    """dest becomes the repository as it will be after writing files: hand-written files kept, stale ones gone.

    Also returns what ``check`` says about entries that are never copied: special files (skipped with a
    warning) and symlinks out of the repository (errors).
    """
    check_roots(repo.root)  # experiments/, base/, ... leading out of the repository
    check_layout(repo.root, list(files))  # a file where a directory goes, and the reverse: the user's path
    findings = tree_refusals(repo.root, OWNED_ROOTS)  # exactly what check reports about the tree
    for top in OWNED_ROOTS:
        src = repo.root / top
        if src.is_symlink() or not src.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(src):
            for name in filenames:
                path = Path(dirpath) / name
                if (special_kind(path) is not None or not path.is_file() or outside(path, repo.root) is not None
                        or is_generated(path)):
                    continue  # refused or skipped above; generated files come from files
                rel = path.relative_to(repo.root).as_posix()
                with _staging(rel):
                    target = dest / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)
    for rel, text in files.items():
        with _staging(rel):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return Repo(dest, repo.config), findings


@contextmanager
def _staging(rel: str) -> Iterator[None]:
    """An error while staging names the repository's path (rel), never the scratch copy's."""
    try:
        yield
    except OSError as exc:
        source = exc.filename is not None and not str(exc.filename).startswith(tempfile.gettempdir())
        what = "cannot read it" if source else "cannot stage it to validate the render"
        raise UserError(Finding(f"{what}: {exc.strerror or exc}; nothing was written", file=rel, line=0, column=0,
                                rule="io"), exit_code=2) from None


def _scratch() -> tempfile.TemporaryDirectory:
    try:
        return tempfile.TemporaryDirectory(prefix="katib-gitops-gate-")
    except OSError as exc:
        raise UserError(Finding(f"cannot make a scratch directory to validate the render in: {exc.strerror or exc} "
                                "(TMPDIR); nothing was written", file="TMPDIR", line=0, column=0, rule="io"),
                        exit_code=2) from None


def validate_staged(repo: Repo, result: RenderResult, options: object | None = None) -> list[Finding]:
    """Every finding ``check`` would report on the repository once result is written (sync aside)."""
    from ..build.builds import start_builds
    from ..build.stamp import shard_cache
    from ..validation.engine import spec_findings, validate_repo

    cache = shard_cache(repo.root)  # overlay shards an earlier render built from the same bytes
    with _scratch() as tmp:
        staged, found_in_tree = stage(repo, result.files, Path(tmp))
        # kustomize reads only the staged tree: the builds start now, on the other cores, and the specs are
        # checked meanwhile. When the specs are broken, building overlays from them only repeats the news
        # (or fails in kustomize with no line to point at): the builds are stopped and the specs reported.
        builds = start_builds(staged, cache)
        try:
            found = spec_findings(repo, result, options)
        except BaseException:
            builds.cancel()
            raise
        if any(f.severity == ERROR for f in found + found_in_tree):
            # Broken specs, or a symlink out of the repository (never staged, so a build would only fail
            # for want of it): the builds say nothing more. Stop them; report the cause.
            builds.cancel()
            return list(dict.fromkeys(found + found_in_tree))  # one spec under several profiles: each once
        report = validate_repo(staged, options, rendered=result, builds=builds,
                               provenance=RenderProvenance(repo, result), spec_findings=found + found_in_tree,
                               in_sync=True)
    if cache is not None and not any(f.severity == ERROR for f in report.findings):
        cache.prune()  # what this tree's shards did not use belongs to older trees
    return report.findings
