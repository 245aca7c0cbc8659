"""Golden cases: experiments/ in each case directory, expected kustomize builds beside them.

Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import cli
from katib_gitops.build import kustomize

CASES = Path(__file__).parent / "cases"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_golden_overlays(case: str, tmp_path: Path):
    src = CASES / case
    shutil.copytree(src / "experiments", tmp_path / "experiments")
    if (src / "katib-gitops.yaml").is_file():
        shutil.copy(src / "katib-gitops.yaml", tmp_path / "katib-gitops.yaml")
    assert cli("render", "-C", str(tmp_path), "-q", "--no-validate") == 0
    overlays = sorted(p.name for p in (tmp_path / "overlays").iterdir())
    if os.environ.get("UPDATE_GOLDEN"):
        for stale in (src / "expected").glob("*.yaml"):
            if stale.stem not in overlays:
                stale.unlink()
    assert sorted(p.stem for p in (src / "expected").glob("*.yaml")) == overlays, "an overlay without a golden file"
    for overlay in overlays:
        got = kustomize.build(tmp_path / "overlays" / overlay)
        golden = src / "expected" / f"{overlay}.yaml"
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(exist_ok=True)
            golden.write_text(got)
        assert golden.exists(), f"no golden file {golden}; run with UPDATE_GOLDEN=1"
        assert got == golden.read_text(), f"{case}: kustomize build overlays/{overlay} differs from {golden}"
