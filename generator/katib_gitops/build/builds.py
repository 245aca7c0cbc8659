"""kustomize builds of a repository's overlays and deploy/, started early and collected when needed.

The builds read only what is on disk, so ``check`` starts them before it loads the rest of the package
and renders, and they run on the other cores meanwhile (at 1,000 experiments they are most of check's
time). Nothing here imports the validation engine or the renderer: this module loads in milliseconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from . import containment, kustomize, shards
from ..io import safefs
from ..io.findings import Finding, UserError
from ..repo.paths import BASE_DIR, DEPLOY_DIR, KUSTOMIZATION_FILES, OVERLAYS_DIR

if TYPE_CHECKING:
    from concurrent.futures import Future


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

    An overlay of render's own layout is built in shards (``shards``: the same output, at a cost linear in
    its Experiments instead of quadratic); should a shard fail, the overlay is built whole and its own
    error reported.

    kustomize opens whatever a kustomization names, and a FIFO blocks it for good. When the tree holds a
    special file (``safefs``), the regular files are copied to a scratch tree and built there instead.
    """

    def __init__(self, directories: Sequence[Path], root: Path | None, scratch_from: Sequence[str] = (),
                 cache: shards.ShardCache | None = None):
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
        self._shards = tempfile.TemporaryDirectory(prefix="katib-gitops-shards-")
        # A kustomization reaching outside the repository (or a remote base) is never built, nor sharded
        # (sharding copies what the overlay names): its future is the refusal (``containment``).
        refused = {key: containment.check(d, self._root) if self._root is not None else None
                   for key, d in targets.items()}
        plans = {key: shards.plan(d, Path(self._shards.name)) if refused[key] is None else None
                 for key, d in targets.items()}
        units = [(key, d) for key, d in targets.items() if plans[key] is None and refused[key] is None]
        units += [(key, d) for key, plan in plans.items() if plan is not None for d in plan.shards]
        workers = max(1, min(len(units), os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(max_workers=workers)
        limits = kustomize.heap_limits([d for _, d in units], workers)
        self._running: list[Any] = []  # kustomize processes, for cancel()
        self._cancelled = False
        self._labels = {key: f"{display_path(key, root)} (kustomize build)" for key in targets}
        self._whole = targets  # what to build should the shards fail
        self._cache = cache
        # A shard an earlier render built from the same bytes: its output, kept (``shards.ShardCache``).
        self._keys = {d: cache.key(d) for plan in plans.values() if plan is not None for d in plan.shards} \
            if cache is not None else {}
        started: dict[Path, Future] = {}
        for d, key in self._keys.items():
            text = cache.get(key) if cache is not None else None
            if text is not None:
                started[d] = _done(text)
        # Largest first: the build that takes longest starts at once, the small ones fill in beside it.
        for key, d in sorted(units, key=lambda u: -limits.get(u[1], 0)):
            if d not in started:
                build = self._build_and_keep if d in self._keys else self._build
                started[d] = self._pool.submit(build, d, self._labels[key], limits.get(d))
        self._futures: dict[Path, Future] = {}
        for key, d in targets.items():
            plan = plans[key]
            if refused[key] is not None:
                self._futures[key] = _failed(UserError(refused[key]))
            else:
                self._futures[key] = started[d] if plan is None else _all_of([started[s] for s in plan.shards])

    def _build(self, directory: Path, display: str, limit: int | None) -> str:
        if self._cancelled:
            raise UserError(Finding("kustomize build cancelled", file=display, rule="kustomize"))
        # A shard is a scratch kustomization of plain files (links to the repository's): it reads only itself.
        # A whole overlay was checked when the builds started (``containment``).
        shard = directory.is_relative_to(self._shards.name)
        return kustomize.build(directory, display, limit, self._started, directory if shard else self._root,
                               contained=self._root is not None)

    def _build_and_keep(self, directory: Path, display: str, limit: int | None) -> str:
        output = self._build(directory, display, limit)
        if self._cache is not None:
            self._cache.put(self._keys[directory], output)
        return output

    def _started(self, proc: Any) -> None:
        from ..io.procs import kill_group

        self._running.append(proc)
        if self._cancelled:
            kill_group(proc)

    def get(self, directory: Path, display: str) -> str:
        key = directory.resolve()
        future = self._futures.pop(key, None)
        if future is None:
            return kustomize.build(directory, display, root=self._repo_root)
        result = future.result()
        if not isinstance(result, list):
            return result
        try:  # the shards of one overlay
            return shards.merge([f.result() for f in result])
        except (UserError, shards.NotShardable):
            return self._build(self._whole[key], display, None)

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
        from ..io.procs import kill_group

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
        for scratch in (self._scratch, self._shards):
            if scratch is not None:
                scratch.cleanup()


def _failed(error: BaseException) -> Future:
    from concurrent.futures import Future

    future: Future = Future()
    future.set_exception(error)
    return future


def _done(result: str) -> Future:
    from concurrent.futures import Future

    future: Future = Future()
    future.set_result(result)
    return future


def _all_of(futures: list[Future]) -> Future:
    """A future done when all of futures are, whose result is that list (each shard's own result or error)."""
    import threading
    from concurrent.futures import Future

    joined: Future = Future()
    left = [len(futures)]
    lock = threading.Lock()

    def one_done(_: Future) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            joined.set_result(futures)

    for f in futures:
        f.add_done_callback(one_done)
    return joined


def start_builds(repo: Any, cache: shards.ShardCache | None = None) -> Builds:
    """Start building every overlay and every kustomization under deploy/ of repo (a ``Repo``, or its root
    directory), largest first; cache: shard outputs an earlier render kept (render's gate only)."""
    root = Path(repo) if isinstance(repo, (str, os.PathLike)) else Path(repo.root)
    dirs = [d for d in overlay_dirs(root / OVERLAYS_DIR) if has_kustomization(d)]
    deploy = root / DEPLOY_DIR
    if deploy.is_dir():
        dirs += [path for what, path in walk_inputs(deploy) if what == "kustomize"]
    tops = (BASE_DIR, OVERLAYS_DIR, DEPLOY_DIR)
    return Builds(dirs, root, tops if safefs.first_special(root, tops) is not None else (), cache)


def overlay_dirs(overlays: Path) -> list[Path]:
    if not overlays.is_dir():
        return []
    return sorted(p for p in overlays.iterdir() if p.is_dir() and not p.name.startswith("."))
