"""import: every upstream example turns into a spec that renders back the same Experiment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import cli, example_files, needs_shared
from katib_gitops import kustomize
from katib_gitops.importer import find_experiment, normalise


@needs_shared()
@pytest.mark.parametrize("example", example_files(), ids=lambda p: p.stem)
def test_import_then_render_round_trips(example: Path, tmp_path: Path):
    original = find_experiment(str(example)).data
    name = original["metadata"]["name"]
    spec_file = tmp_path / "experiments" / f"{name}.yaml"
    assert cli("import", str(example), "-o", str(spec_file)) == 0
    assert cli("render", "-C", str(tmp_path), "-q", "--no-validate") == 0
    # What the default profile's overlay deploys (real kustomize) is exactly what was imported, resources included.
    (rendered,) = [d for d in yaml.safe_load_all(kustomize.build(tmp_path / "overlays" / "cpu")) if d]
    assert rendered["metadata"]["name"].startswith(name)
    assert normalise(rendered) == normalise(original)


def test_import_refuses_to_overwrite(tmp_path: Path, capsys):
    target = tmp_path / "x.yaml"
    target.write_text("mine\n")
    src = tmp_path / "exp.yaml"
    src.write_text("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata: {name: x}\nspec: {}\n")
    assert cli("import", str(src), "-o", str(target)) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert target.read_text() == "mine\n"


def test_import_without_experiment_is_a_one_line_error(tmp_path: Path, capsys):
    src = tmp_path / "cm.yaml"
    src.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert cli("import", str(src)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{src}:1:1: no kubeflow.org Experiment in this file"]
