"""Property: the no-op render shortcut never says what the full render would not.

A git repository (two specs, a team's custom component, a hand-written file in deploy/) is rendered
once, which stamps it. Each example copies it, applies random edits to specs, settings, generated and
hand-written files (some of them undone again, some rewriting the same bytes), and asks the shortcut.
Whenever it would answer (``stamp.reusable``), the full render of the same tree (no stamp) must exit 0,
write nothing and print the same lines, and ``check`` must pass: the shortcut may only answer for a tree
the full gate accepts unchanged. Edits that change what render reads must make it stand aside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO_ROOT, cli
from katib_gitops.build import stamp
from katib_gitops.pipeline.check import check_repo
from katib_gitops.repo.repository import load_repo

EXAMPLES = max(20, int(os.environ.get("KATIB_GITOPS_FUZZ_EXAMPLES", "80")) // 4)

CUSTOM = ("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n"
          "  team.example.com/owner: ml\n")
NOTES = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n  namespace: kubeflow\ndata:\n  a: b\n"


@pytest.fixture(scope="module")
def stamped(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stamped")
    (root / "experiments").mkdir()
    iris = (REPO_ROOT / "experiments" / "iris.yaml").read_text()
    (root / "experiments" / "iris.yaml").write_text(iris)
    (root / "experiments" / "iris-b.yaml").write_text(iris.replace("name: iris\n", "name: iris-b\n")
                                                      .replace("max: 12", "max: 20"))
    shutil.copy(REPO_ROOT / "katib-gitops.yaml", root / "katib-gitops.yaml")
    (root / "overlays" / "cpu" / "custom").mkdir(parents=True)
    (root / "overlays" / "cpu" / "custom" / "kustomization.yaml").write_text(CUSTOM)
    (root / "deploy").mkdir()
    (root / "deploy" / "notes.yaml").write_text(NOTES)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert cli("render", "-q", "-C", str(root)) == 0
    assert stamp.reusable(root) is not None
    return root


# Each edit: (file, old text, new text); "" as old text appends. Some keep the tree valid, some break it,
# some change nothing render produces (a comment) but still change an input.
EDITS: list[tuple[str, str, str]] = [
    ("experiments/iris.yaml", "max: 12", "max: 14"),  # a valid change: other Experiment files
    ("experiments/iris.yaml", "", "# a comment\n"),  # same output, another input
    ("experiments/iris-b.yaml", "algorithm: random", "algorithm: no-such"),  # refused by the gate
    ("experiments/iris-b.yaml", "name: iris-b", "name: iris-c"),  # refused: name and file differ
    ("katib-gitops.yaml", "", "# settings comment\n"),
    ("katib-gitops.yaml", "", "createNamespace: true\n"),
    ("base/cpu/iris.yaml", "parallelTrialCount: 3", "parallelTrialCount: 4"),  # a hand-edited generated file
    ("overlays/gpu/kustomization.yaml", "", "# edited\n"),
    ("katib-gitops.generated.yaml", "", "# edited\n"),
    ("overlays/cpu/custom/kustomization.yaml", "owner: ml", "owner: ops"),  # hand-written, built into cpu
    ("overlays/cpu/custom/kustomization.yaml", "kind: Component", "kind: Component\nresources: [../../../x]"),
    ("deploy/notes.yaml", "a: b", "a: c"),
    ("deploy/notes.yaml", "kind: ConfigMap", "kind: ConfigMapp"),
]


def apply_edit(root: Path, edit: tuple[str, str, str]) -> None:
    path = root / edit[0]
    text = path.read_text()
    path.write_text(text + edit[2] if not edit[1] else text.replace(edit[1], edit[2], 1))


@st.composite
def changes(draw: Any) -> list[tuple[str, Any]]:
    """A short sequence of edits; "undo" restores a file's original bytes afterwards (an edit and back)."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["edit", "edit-and-undo", "rewrite-same", "touch", "delete-generated",
                                     "add-file"]))
        out.append((kind, draw(st.integers(0, len(EDITS) - 1))))
    return out


def apply(root: Path, plan: list[tuple[str, int]]) -> None:
    for kind, i in plan:
        rel = EDITS[i][0]
        path = root / rel
        if kind == "edit":
            apply_edit(root, EDITS[i])
        elif kind == "edit-and-undo":
            data = path.read_bytes()
            apply_edit(root, EDITS[i])
            path.write_bytes(data)
        elif kind == "rewrite-same":
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data)
        elif kind == "touch":
            os.utime(path, ns=(1, 1))
        elif kind == "delete-generated":
            (root / "base" / "gpu" / "iris-b.yaml").unlink(missing_ok=True)
        else:
            (root / "overlays" / "gpu" / "patches" / f"extra-{i}.yaml").write_text("- op: test\n  path: /x\n")


def outcome(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli(*argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def test_every_edit_changes_its_file(stamped: Path) -> None:
    for edit in EDITS:
        path = stamped / edit[0]
        text = path.read_text()
        assert not edit[1] or edit[1] in text, edit


def test_the_shortcut_only_answers_for_a_tree_the_full_gate_accepts_unchanged(stamped: Path, capsys) -> None:
    answered: list[bool] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
              derandomize="KATIB_GITOPS_FUZZ_EXAMPLES" not in os.environ)
    @given(plan=changes())
    def prop(plan: list[tuple[str, int]]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            short, full = Path(tmp) / "short", Path(tmp) / "full"
            shutil.copytree(stamped, short, symlinks=True)
            apply(short, plan)
            shutil.copytree(short, full, symlinks=True)
            shutil.rmtree(stamp.stamp_path(full).parent)  # the same tree, the full gate's verdict (no stamp, no cache)
            reused = stamp.reusable(short)
            # Every edit changes its file's bytes (and nothing undoes another); the rest keep every byte.
            changed = any(kind in ("edit", "delete-generated", "add-file") for kind, _ in plan)
            answered.append(reused is not None)
            if changed:
                assert reused is None, f"the shortcut answered for a changed tree: {plan}"
                return
            assert reused is not None, f"the shortcut stood aside for a tree with the same bytes: {plan}"
            before = files(full)
            got = outcome(["render", "-C", str(short)], capsys)
            want = outcome(["render", "-C", str(full)], capsys)
            assert got == want and want[0] == 0, plan
            assert files(full) == before, "the full render changed files the shortcut called up to date"
            assert not [f for f in check_repo(load_repo(full)) if f.severity == "error"], plan

    prop()
    assert any(answered) and not all(answered), "the examples never exercised one of the two paths"
