"""What a kustomization may load: files and directories of the repository, nothing else.

kustomize builds whatever a kustomization names: ``resources: [../../../../home/me/secrets]``, a
component or a ``configMapGenerator`` file reached through a symlink, a remote base
(``github.com/org/repo//dir?ref=main``, fetched over the network). Argo CD and Flux build the repository
alone, from git: what lies outside it is not what they deploy, and reading it shows (and validates) files
the sync never sees. So before kustomize runs, every kustomization a build reaches is read and each path it
names (resources, components, bases, patches, generator files, crds, configurations, transformers,
generators, validators, replacements, openapi, helm values) is resolved, symlinks included; a path that
leads out of the root, or names something that is not there (kustomize would try it as a remote base),
stops the build with a finding at that entry's line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from ..io.findings import Finding, UserError
from ..repo.paths import KUSTOMIZATION_FILES

RULE = "kustomize-path"
MAX_KUSTOMIZATIONS = 10_000  # far beyond any repository; a bound on the walk, not a limit anyone meets

# Keys whose entries are paths (or inline YAML, for the patch and plugin lists: a string with a line break).
_DIRS_OR_FILES = ("resources", "components", "bases")
_FILE_LISTS = ("crds", "configurations", "generators", "transformers", "validators", "patchesStrategicMerge")
_PATH_ITEMS = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        p = directory / name
        if p.is_file():
            return p
    return None


def _entries(data: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], str, bool]]:
    """(field path, path text, whether it may be a directory) for every path the kustomization names."""
    for key in _DIRS_OR_FILES:
        for i, ref in enumerate(_list(data.get(key))):
            if isinstance(ref, str):
                yield (key, i), ref, True
    for key in _FILE_LISTS:
        for i, ref in enumerate(_list(data.get(key))):
            if isinstance(ref, str) and "\n" not in ref:
                yield (key, i), ref, key in ("generators", "transformers", "validators")
    for key in _PATH_ITEMS:
        for i, item in enumerate(_list(data.get(key))):
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                yield (key, i, "path"), item["path"], False
    for key in _GENERATORS:
        for i, gen in enumerate(_list(data.get(key))):
            if not isinstance(gen, dict):
                continue
            for field in ("files", "envs"):
                for j, ref in enumerate(_list(gen.get(field))):
                    if isinstance(ref, str):
                        # files: "key=path" or "path"
                        yield (key, i, field, j), ref.split("=", 1)[-1] if field == "files" else ref, False
            if isinstance(gen.get("env"), str):
                yield (key, i, "env"), gen["env"], False
    openapi = data.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield ("openapi", "path"), openapi["path"], False
    helm = data.get("helmGlobals")
    if isinstance(helm, dict) and isinstance(helm.get("chartHome"), str):
        yield ("helmGlobals", "chartHome"), helm["chartHome"], True
    for i, chart in enumerate(_list(data.get("helmCharts"))):
        if isinstance(chart, dict):
            if isinstance(chart.get("valuesFile"), str):
                yield ("helmCharts", i, "valuesFile"), chart["valuesFile"], False
            if isinstance(chart.get("repo"), str) and chart["repo"]:
                yield ("helmCharts", i, "repo"), chart["repo"], True


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _remote(ref: str) -> bool:
    return "://" in ref or ref.startswith(("git@", "git::", "github.com/", "gitlab.com/", "bitbucket.org/")) \
        or "?ref=" in ref or "?version=" in ref


def check(directory: Path, root: Path) -> Finding | None:
    """The first path a build of directory would load from outside root (or from the network), as a
    finding at the kustomization line naming it (relative to root); None when all it reaches is inside."""
    from ..io.yamlio import load_one

    real_root = root.resolve()

    def display(path: Path) -> str:
        try:
            return path.relative_to(real_root).as_posix()
        except ValueError:
            return str(path)

    def inside(path: Path) -> bool:
        try:
            path.resolve().relative_to(real_root)
        except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
            return False
        return True

    if not inside(directory):
        return Finding(f"refusing to build a kustomization outside the repository (resolves to "
                       f"{_resolved(directory)})", file=str(directory), rule=RULE)
    todo, seen = [directory.resolve()], set()
    while todo and len(seen) < MAX_KUSTOMIZATIONS:
        d = todo.pop()  # resolved: kustomize reads a kustomization's paths from where it really is
        if d in seen:
            continue
        seen.add(d)
        kust = kustomization_file(d)
        if kust is None:
            continue  # kustomize reports a directory without a kustomization itself
        if not inside(kust):
            return Finding(f"refusing a kustomization that leads out of the repository (resolves to "
                           f"{_resolved(kust)})", file=display(kust), rule=RULE)
        try:
            doc = load_one(str(kust), display(kust))
        except UserError:
            continue  # kustomize reports what it cannot read, at its own words
        if not isinstance(doc.data, dict):
            continue
        for where, ref, may_be_dir in _entries(doc.data):
            if _remote(ref):
                return doc.finding(f"refusing the remote base {ref!r}: katib-gitops builds only what the "
                                   "repository holds (vendor it into the repository)", where, rule=RULE)
            target = d / ref
            # A plain file name in a directory inside the root is inside too, unless it is a symlink: one lstat
            # tells (a base's kustomization names every Experiment file), a resolve is for the rest.
            kind = _kind(os.path.join(d, ref)) if "/" not in ref and ref not in (".", "..", "") else "other"
            if os.path.isabs(ref) or (kind in ("link", "other") and not inside(target)):
                return doc.finding(f"refusing {ref!r}: it leads out of the repository (resolves to "
                                   f"{_resolved(target)}); Argo CD and Flux build the repository alone",
                                   where, rule=RULE)
            if kind == "file":
                continue
            if kind == "missing" or not target.exists():
                if where[0] in _DIRS_OR_FILES:
                    return doc.finding(f"{ref!r} is not in the repository (kustomize would try it as a remote "
                                       "base; katib-gitops builds only what the repository holds)", where,
                                       rule=RULE)
                continue  # a missing patch or generator file: kustomize says so, naming it
            if may_be_dir and target.is_dir():
                todo.append(target.resolve())
    return None


def _kind(path: str) -> str:
    """"file", "dir", "link" or "missing", from one lstat."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "missing"
    return "link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "file"


def _resolved(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return str(path)
