"""import: every upstream example turns into a spec that renders back the same Experiment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import cli, example_files, needs_shared
from katib_gitops.build import kustomize
from katib_gitops.pipeline.importer import find_experiment, normalise


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


EXPERIMENT = """apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: upstream-name, namespace: kubeflow}
spec:
  objective: {type: minimize, objectiveMetricName: loss}
  algorithm: {algorithmName: random}
  maxTrialCount: 4
  parallelTrialCount: 2
  parameters:
    - {name: lr, parameterType: double, feasibleSpace: {min: "0.01", max: "0.1"}}
  trialTemplate:
    primaryContainerName: training-container
    trialParameters:
      - {name: lr, reference: lr}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec: {template: {spec: {restartPolicy: Never, containers: [{name: training-container,
        image: registry.example.com/train:1.0, command: [python3, train.py, "--lr=${trialParameters.lr}"]}]}}}
"""


def test_import_o_names_the_spec_after_its_file_and_renders(tmp_path: Path, capsys, monkeypatch):
    """The README's `katib-gitops import EXPERIMENT.yaml -o experiments/NAME.yaml`, then render."""
    (tmp_path / "upstream.yaml").write_text(EXPERIMENT)
    monkeypatch.chdir(tmp_path)
    assert cli("import", "upstream.yaml", "-o", "experiments/tuned-lr.yaml") == 0
    spec = yaml.safe_load((tmp_path / "experiments" / "tuned-lr.yaml").read_text())
    assert spec["name"] == "tuned-lr" and "hashName" not in spec
    assert cli("render", "-q") == 0
    (built,) = [d for d in yaml.safe_load_all(kustomize.build(tmp_path / "overlays" / "cpu")) if d]
    assert built["metadata"]["name"].startswith("tuned-lr-")
    assert normalise(built) == normalise(yaml.safe_load(EXPERIMENT))
    # a long file name still fits Katib's 40 characters: no hash then
    long = "a-spec-name-of-thirty-five-letters"
    assert cli("import", "upstream.yaml", "-o", f"experiments/{long}.yaml") == 0
    assert yaml.safe_load((tmp_path / "experiments" / f"{long}.yaml").read_text())["hashName"] is False
    assert cli("render", "-q") == 0


def test_import_o_refuses_a_file_name_that_is_no_spec_name_before_writing(tmp_path: Path, capsys):
    src = tmp_path / "upstream.yaml"
    src.write_text(EXPERIMENT)
    for bad in ("experiments/Tuned_LR.yaml", "experiments/tuned.json", f"experiments/{'x' * 41}.yaml"):
        target = tmp_path / bad
        assert cli("import", str(src), "-o", str(target)) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"{target}:0:0: ") and len(err.splitlines()) == 1
        assert not (tmp_path / "experiments").exists()
