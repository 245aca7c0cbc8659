"""One side of a plan: the repository at a git ref or in the working tree, rendered in memory, and what it
deploys (the overlays reached from its root kustomization and deploy/ manifests, each built with real
kustomize in a scratch directory, so the working tree is never touched)."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ..repo.deployment import deployed_overlays, memory_reader, overlay_dirs
from ..io.findings import Finding, UserError
from ..build.render import RenderedExperiment, render_repo
from ..repo.repository import CONFIG_FILE, EXPERIMENTS_DIR, OVERLAYS_DIR, Repo, load_repo


@dataclass
class Side:
    repo: Repo
    experiments: dict[tuple[str, str], RenderedExperiment]  # by (spec name, profile)
    # overlay dir -> how it is deployed (root kustomization, deploy/argocd, deploy/flux)
    deployed: dict[str, list[str]] = field(default_factory=dict)
    # overlay dir -> Experiment name -> the Experiment as kustomize builds it
    built: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # the Argo CD / Flux objects render writes under deploy/ (``deploy_changes.deploy_objects``)
    deploy: dict[tuple[str, str, str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def deployments(self, name: str) -> dict[str, dict[str, Any]]:
        """overlay -> built Experiment, for each deployed overlay holding the Experiment called name."""
        return {o: exps[name] for o, exps in self.built.items() if name in exps}


def _git(root: Path, *args: str) -> str:
    proc = _run_git(root, args, str(root))
    if proc.returncode != 0:
        msg = " ".join(proc.stderr.decode("utf-8", "replace").split()) or f"git {' '.join(args)} failed"
        raise UserError(Finding(f"git: {msg}", file=str(root), line=0, column=0, rule="git"), exit_code=2)
    return proc.stdout.decode("utf-8", "surrogateescape")


GIT_TIMEOUT_S = 60


def _run_git(root: Path, args: tuple[str, ...] | list[str], where: str):
    """git as any tool (``procs``): its own process group, a timeout, output no larger than a file we read."""
    from ..io import procs
    from ..io.yamlio import MAX_BYTES

    def fail(message: str) -> UserError:
        return UserError(Finding(message, file=where, line=0, column=0, rule="git"), exit_code=2)

    try:
        return procs.run(["git", "-C", str(root), *args], timeout=GIT_TIMEOUT_S, limit=MAX_BYTES)
    except FileNotFoundError:
        raise fail("git is not on PATH: plan compares the working tree with a git ref") from None
    except procs.TimedOut:
        raise fail(f"git {args[0]} did not answer within {GIT_TIMEOUT_S} s (stopped)") from None
    except procs.TooLarge:
        raise fail(f"git {args[0]} printed more than {MAX_BYTES // (1024 * 1024)} MiB (stopped)") from None
    except procs.Stopped:
        raise KeyboardInterrupt from None
def default_base(root: Path) -> str:
    """The merge base of HEAD with the default branch (origin/HEAD, else main or master)."""
    candidates = []
    try:
        candidates.append(_git(root, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD").strip())
    except UserError:
        pass
    candidates += ["origin/main", "origin/master", "main", "master"]
    for ref in candidates:
        if not ref:
            continue
        try:
            return _git(root, "merge-base", "HEAD", ref).strip()
        except UserError:
            continue
    return "HEAD"


def _repo_at(repo: Repo, ref: str, into: Path) -> Repo:
    """Materialise experiments/ and the settings file as they were at ref."""
    # The repository may be a folder of a larger git repository (a monorepo's platform/katib): the pathspecs
    # below are relative to that folder, and --full-name lists paths from the git root, which is what
    # `REF:PATH` names; the folder's prefix is stripped again for the scratch copy.
    prefix = _git(repo.root, "rev-parse", "--show-prefix").strip()
    # -z: names exactly as stored (no C-style quoting of non-ASCII or newlines), NUL-separated.
    listing = _git(repo.root, "ls-tree", "-r", "-z", "--full-name", "--name-only", ref, "--", f"{EXPERIMENTS_DIR}/",
                   CONFIG_FILE)
    for rel in filter(None, listing.split("\0")):
        if not rel.startswith(prefix):
            continue  # not below the folder: git lists none such for these pathspecs
        rel_in_repo = rel[len(prefix):]
        if rel_in_repo.startswith("/") or ".." in rel_in_repo.split("/"):
            continue  # git stores no such path; never follow one out of the scratch directory
        proc = _run_git(repo.root, ["cat-file", "blob", f"{ref}:{rel}"], rel_in_repo)
        if proc.returncode != 0:
            raise UserError(Finding(f"git: cannot read it at {ref}: {' '.join(proc.stderr.decode(errors='replace').split())}",
                                    file=rel_in_repo, line=0, column=0, rule="git"), exit_code=2)
        blob = proc.stdout
        target = into / rel_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
    (into / EXPERIMENTS_DIR).mkdir(exist_ok=True)
    return load_repo(into)


def load_side(repo: Repo) -> Side:
    """Render repo in memory, then build each overlay it deploys."""
    from .deploy_changes import deploy_objects

    result = render_repo(repo)
    side = Side(repo, {r.key: r for r in result.experiments}, deploy=deploy_objects(result.files))
    read = memory_reader(result.files)
    overlays = overlay_dirs(read, sorted({rel.rsplit("/", 1)[0] for rel in result.files
                                          if rel.startswith(f"{OVERLAYS_DIR}/")}))
    side.deployed = deployed_overlays(read, overlays)
    if not side.deployed:
        return side
    from ..build.kustomize import build

    with tempfile.TemporaryDirectory(prefix="katib-gitops-plan-build-") as tmp:
        for rel, text in result.files.items():
            target = Path(tmp) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        _copy_custom(repo.root, Path(tmp))
        with ThreadPoolExecutor(max_workers=2) as pool:
            outputs = dict(zip(side.deployed, pool.map(
                lambda o: build(Path(tmp) / o, f"{o} (kustomize build)", root=Path(tmp)), side.deployed)))
    from ..io.yamlio import load_documents

    for overlay, text in outputs.items():
        docs = [d.data for d in load_documents(text, f"{overlay} (kustomize build)")]  # bounded, as any input
        side.built[overlay] = {str(d["metadata"].get("name")): d for d in docs
                               if isinstance(d, dict) and d.get("kind") == "Experiment"
                               and isinstance(d.get("metadata"), dict)}
    return side


def _copy_custom(root: Path, scratch: Path) -> None:
    """The team's own kustomize Components (overlays/<profile>/custom/) are part of what an overlay builds."""
    import shutil

    from ..profiles.layout import CUSTOM_DIR

    overlays = root / OVERLAYS_DIR
    for custom in sorted(overlays.glob(f"*/{CUSTOM_DIR}")) if overlays.is_dir() else []:
        if custom.is_dir() and not custom.is_symlink() and (scratch / OVERLAYS_DIR / custom.parent.name).is_dir():
            shutil.copytree(custom, scratch / OVERLAYS_DIR / custom.parent.name / CUSTOM_DIR, symlinks=True)


def side_at(repo: Repo, ref: str, scratch: Path) -> Side:
    return load_side(_repo_at(repo, ref, scratch))
