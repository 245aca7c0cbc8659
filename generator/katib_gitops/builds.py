"""kustomize builds of a repository's overlays and deploy/, started early and collected when needed.

The builds read only what is on disk, so ``check`` starts them before it loads the rest of the package
and renders, and they run on the other cores meanwhile (at 1,000 experiments they are most of check's
time). Nothing here imports the validation engine or the renderer: this module loads in milliseconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Sequence

from . import kustomize, safefs
from .findings import Finding, UserError
from .layout import BASE_DIR, DEPLOY_DIR, KUSTOMIZATION_FILES, OVERLAYS_DIR


def has_kustomization(directory: Path) -> bool:
    return any((directory / name).is_file() for name in KUSTOMIZATION_FILES)


def walk_inputs(directory: Path) -> Iterator[tuple[str, Path]]:
    """("kustomize", dir) for each kustomization root, else ("file", path) for each YAML file, sorted."""
    if has_kustomization(directory):
        yield "kustomize", directory
        return
    entries = sorted(directory.iterdir(), key=lambda p: p.name)
    for entry in entries:
        # Special files and symlinks are yielded too: validate_directory refuses them (see ``safefs``).
        if entry.suffix in (".yaml", ".yml") and not entry.name.startswith(".") and not entry.is_dir():
            yield "file", entry
    for entry in entries:
        if entry.is_dir() and not entry.name.startswith("."):
            if entry.is_symlink():
                yield "linked-dir", entry  # never walked: it may leave the repository or loop
            else:
                yield from walk_inputs(entry)


def display_path(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix() or "."  # as named, even when a symlink leads elsewhere
        except ValueError:
            pass
        try:
            return path.resolve().relative_to(root.resolve()).as_posix() or "."
        except ValueError:
            pass
    return str(path)


class Builds:
    """kustomize builds started up front on background threads, each collected when its turn comes.

    kustomize is a separate process, so the builds use the other core while this process validates
    specs and base/ (and, for ``check``, renders); at 1,000 experiments the builds are most of the time.

    kustomize opens whatever a kustomization names, and a FIFO blocks it for good. When the tree holds a
    special file (``safefs``), the regular files are copied to a scratch tree and built there instead.
    """

    def __init__(self, directories: Sequence[Path], root: Path | None, scratch_from: Sequence[str] = ()):
        import tempfile
        from concurrent.futures import ThreadPoolExecutor

        self._scratch = None
        targets = {d.resolve(): d for d in directories}
        # What the builds may read: the repository (``containment``); for a scratch copy, the copy.
        self._root = self._repo_root = root
        if scratch_from and root is not None:
            self._scratch = tempfile.TemporaryDirectory(prefix="katib-gitops-build-")
            scratch = Path(self._scratch.name)
            safefs.copy_regular(root, scratch, scratch_from)
            targets = {d.resolve(): scratch / d.resolve().relative_to(root.resolve()) for d in directories}
            self._root = scratch
        workers = max(1, min(len(directories), os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(max_workers=workers)
        limits = kustomize.heap_limits(list(targets.values()), workers, self._root)
        # Largest first: the build that takes longest starts at once, the small ones fill in beside it.
        order = sorted(targets.items(), key=lambda kv: -limits.get(kv[1], 0))
        self._running: list[Any] = []  # kustomize processes, for cancel()
        self._cancelled = False
        self._futures = {key: self._pool.submit(self._build, d, f"{display_path(key, root)} (kustomize build)",
                                                limits.get(d))
                         for key, d in order}

    def _build(self, directory: Path, display: str, limit: int | None) -> str:
        if self._cancelled:
            raise UserError(Finding("kustomize build cancelled", file=display, rule="kustomize"))
        return kustomize.build(directory, display, limit, self._started, self._root)

    def _started(self, proc: Any) -> None:
        from .procs import kill_group

        self._running.append(proc)
        if self._cancelled:
            kill_group(proc)

    def get(self, directory: Path, display: str) -> str:
        future = self._futures.pop(directory.resolve(), None)
        return future.result() if future is not None else kustomize.build(directory, display, root=self._repo_root)

    def completed(self, directories: Sequence[Path]) -> Iterator[Path]:
        """directories, those whose builds finish first first (any not started: last, in order)."""
        from concurrent.futures import as_completed

        started = {self._futures[d.resolve()]: d for d in directories if d.resolve() in self._futures}
        for future in as_completed(started):
            yield started[future]
        yield from (d for d in directories if d not in started.values())

    def cancel(self) -> None:
        """Stop every build (their results are not wanted): kill each running kustomize with its process
        group, start no more, then ``close``."""
        from .procs import kill_group

        self._cancelled = True
        for proc in list(self._running):
            kill_group(proc)
        self.close()

    def __enter__(self) -> "Builds":
        return self

    def __exit__(self, kind, value, tb) -> None:
        """Builds in a with block: an exception (an instant error elsewhere, Ctrl-C) stops them at once."""
        if kind is not None:
            self.cancel()
        else:
            self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._scratch is not None:
            self._scratch.cleanup()


def start_builds(repo: Any) -> Builds:
    """Start building every overlay and every kustomization under deploy/ of repo (a ``Repo``, or its root
    directory), largest first."""
    root = Path(repo) if isinstance(repo, (str, os.PathLike)) else Path(repo.root)
    dirs = [d for d in overlay_dirs(root / OVERLAYS_DIR) if has_kustomization(d)]
    deploy = root / DEPLOY_DIR
    if deploy.is_dir():
        dirs += [path for what, path in walk_inputs(deploy) if what == "kustomize"]
    tops = (BASE_DIR, OVERLAYS_DIR, DEPLOY_DIR)
    return Builds(dirs, root, tops if safefs.first_special(root, tops) is not None else ())


def overlay_dirs(overlays: Path) -> list[Path]:
    if not overlays.is_dir():
        return []
    return sorted(p for p in overlays.iterdir() if p.is_dir() and not p.name.startswith("."))
