"""kustomize runs with Go's collector on a soft memory limit sized to the build, unless the user set one."""

from __future__ import annotations

from pathlib import Path

from katib_gitops import kustomize


def _overlay(root: Path, base_bytes: int) -> Path:
    (root / "base").mkdir(parents=True)
    (root / "base" / "kustomization.yaml").write_text("resources: [big.yaml]\n")
    (root / "base" / "big.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  a: '"
                                            + "x" * base_bytes + "'\n")
    (root / "overlay").mkdir()
    (root / "overlay" / "kustomization.yaml").write_text("resources: [../base]\n")
    return root / "overlay"


def test_limit_grows_with_what_the_build_reads(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    small = kustomize.go_env(_overlay(tmp_path / "small", 10))
    assert small["GOGC"] == "off" and small["GOMEMLIMIT"] == "64MiB"
    big = _overlay(tmp_path / "big", 4 * 1024 * 1024)  # the base, reached through resources:, counts
    limit = int(kustomize.go_env(big)["GOMEMLIMIT"].removesuffix("MiB"))
    assert limit >= kustomize.HEAP_PER_INPUT_BYTE * 4 and limit > 64
    assert "big" in kustomize.build(big)  # and kustomize builds with it


def test_users_go_settings_win(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GOGC", "50")
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    env = kustomize.go_env(_overlay(tmp_path, 10))
    assert env["GOGC"] == "50" and "GOMEMLIMIT" not in env
