"""Profiles on trial kinds the tool can and cannot patch, and name limits."""

from __future__ import annotations

from pathlib import Path

from conftest import cli

TRAINJOB_SPEC = """\
name: {name}
objective: {{minimize: loss}}
algorithm: random
parameters:
  lr: {{double: [0.01, 0.1]}}
trial:
  primaryContainer: node
  template:
    apiVersion: trainer.kubeflow.org/v1alpha1
    kind: TrainJob
    spec:
      runtimeRef: {{name: torch-distributed}}
      trainer:
        command: [python3, train.py, "--lr=${{trialParameters.lr}}"]
{profiles}"""


def write(repo: Path, name: str, text: str) -> None:
    (repo / "experiments").mkdir(exist_ok=True)
    (repo / "experiments" / f"{name}.yaml").write_text(text)


def test_unpatchable_kind_is_a_clear_error(tmp_path: Path, capsys):
    write(tmp_path, "tj", TRAINJOB_SPEC.format(name="tj", profiles=""))
    assert cli("render", "-C", str(tmp_path)) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("experiments/tj.yaml:6:1: trial: cannot apply profiles to this trial")
    assert "TrainJob" in line and "profiles: {cpu: null, gpu: null}" in line
    assert not (tmp_path / "base").exists()


def test_unpatchable_kind_renders_when_profiles_are_off(tmp_path: Path):
    write(tmp_path, "tj", TRAINJOB_SPEC.format(name="tj", profiles="profiles: {cpu: null, gpu: null}\n"))
    assert cli("render", "-C", str(tmp_path), "-q") == 0
    assert not (tmp_path / "overlays" / "gpu" / "tj").exists()
    assert "patches" not in (tmp_path / "overlays" / "gpu" / "kustomization.yaml").read_text()


def test_name_with_hash_must_fit_katibs_limit(tmp_path: Path, capsys):
    name = "a" * 32  # + "-" + 8 hex characters = 41 > 40
    write(tmp_path, name, TRAINJOB_SPEC.format(name=name, profiles="profiles: {cpu: null, gpu: null}\n"))
    assert cli("render", "-C", str(tmp_path)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"experiments/{name}.yaml:1:1: name: Experiment name '{name}-")
    assert "Katib allows 40" in err
