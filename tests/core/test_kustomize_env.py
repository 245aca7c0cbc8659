"""kustomize runs with Go's collector on a soft memory limit sized to the build, unless the user set one."""

from __future__ import annotations

import os
from pathlib import Path

from katib_gitops.build import kustomize


def _overlay(root: Path, base_bytes: int) -> Path:
    (root / "base").mkdir(parents=True)
    (root / "base" / "kustomization.yaml").write_text("resources: [big.yaml]\n")
    (root / "base" / "big.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: '"
                                            + "x" * base_bytes + "'\n")
    (root / "overlay").mkdir()
    (root / "overlay" / "kustomization.yaml").write_text("resources: [../base]\n")
    return root / "overlay"


def test_limit_grows_with_what_the_build_reads(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # what a build outside any repository may read: the current directory
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    small = kustomize.go_env(_overlay(tmp_path / "small", 10))
    assert small["GOGC"] == "off" and small["GOMEMLIMIT"] == "64MiB"
    mid = _overlay(tmp_path / "mid", 1024 * 1024)  # the base, reached through resources:, counts
    limit = int(kustomize.go_env(mid)["GOMEMLIMIT"].removesuffix("MiB"))
    assert limit >= kustomize.HEAP_PER_INPUT_BYTE and limit > 64
    huge = _overlay(tmp_path / "huge", 8 * 1024 * 1024)  # wants more than the whole budget: gets the budget
    assert kustomize.go_env(huge)["GOMEMLIMIT"] == f"{kustomize.HEAP_BUDGET // (1024 * 1024)}MiB"
    assert "name: big" in kustomize.build(huge)  # and kustomize builds with it


def test_builds_that_run_together_share_the_budget(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dirs = [_overlay(tmp_path / name, size) for name, size in
            (("a", 2 * 1024 * 1024), ("b", 1024 * 1024), ("c", 300 * 1024), ("d", 10))]
    for concurrent in (1, 2, 3):
        limits = kustomize.heap_limits(dirs, concurrent)
        ordered = sorted(limits.values(), reverse=True)
        # the largest builds that can run at the same time stay within the budget (plus the floor of small ones)
        assert sum(ordered[:concurrent]) <= kustomize.HEAP_BUDGET + (concurrent - 1) * kustomize.MIN_MEMORY_LIMIT
        assert limits[dirs[0]] >= limits[dirs[1]] >= limits[dirs[2]] >= limits[dirs[3]] == kustomize.MIN_MEMORY_LIMIT
    alone = kustomize.heap_limits(dirs[:1], 1)[dirs[0]]
    assert alone > kustomize.heap_limits(dirs, 2)[dirs[0]]  # alone, a build gets more room


def test_users_go_settings_win(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GOGC", "50")
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    env = kustomize.go_env(_overlay(tmp_path, 10))
    assert env["GOGC"] == "50" and "GOMEMLIMIT" not in env


def test_cancel_stops_the_builds_that_are_running(tmp_path: Path):
    """render's gate starts the builds before checking the specs; a broken spec stops them at once."""
    import time

    from katib_gitops.build.builds import Builds

    dirs = [_overlay(tmp_path / name, 4 * 1024 * 1024) for name in ("a", "b", "c")]
    builds = Builds(dirs, tmp_path)
    deadline = time.monotonic() + 30
    while not builds._running and time.monotonic() < deadline:
        time.sleep(0.005)
    started = time.monotonic()
    builds.cancel()
    assert time.monotonic() - started < 5
    assert builds._running and all(proc.poll() is not None for proc in builds._running)
    if (os.cpu_count() or 1) < len(dirs):
        assert len(builds._running) < len(dirs)  # those still queued never start
