"""Broken specs: each gives one line naming file, line and field path, and writes nothing.

Each case file in spec_errors/ starts with `# expect: LINE:COL: PATH: MESSAGE-FRAGMENT`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import cli

CASES = Path(__file__).parent / "spec_errors"


def expectation(case: Path) -> str:
    first = case.read_text(errors="replace").splitlines()[0]
    m = re.match(r"# expect: (.*)", first)
    assert m, f"{case} lacks an expect header"
    return m.group(1)


@pytest.mark.parametrize("case", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_spec(case: Path, tmp_path: Path, capsys):
    name = "broken"
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / f"{name}.yaml").write_bytes(case.read_bytes())
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert cli("render", "-C", str(tmp_path)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no error printed"
    want = expectation(case)
    assert err[0].startswith(f"experiments/{name}.yaml:"), err[0]
    assert want in err[0], f"{err[0]!r} does not contain {want!r}"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
