"""Less noise: a spec finding once (not per overlay), --quiet, and the light install's `run`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli


def _latest_image(repo: Path) -> None:
    spec = repo / "experiments" / "iris.yaml"
    text = spec.read_text()
    assert "katib-kubeflow-tuner:0.1.0" in text
    spec.write_text(text.replace("katib-kubeflow-tuner:0.1.0", "katib-kubeflow-tuner:latest"))
    assert cli("render", "-C", str(repo), "-q") == 0


@pytest.mark.parametrize("command", ["check", "validate"])
def test_a_spec_warning_is_reported_once_not_per_overlay(iris_repo: Path, capsys, command):
    _latest_image(iris_repo)
    capsys.readouterr()
    assert cli(command, "-C", str(iris_repo), "--output", "json") == 0
    tags = [f for f in json.loads(capsys.readouterr().out) if f["rule"] == "image-tag"]
    assert len(tags) == 1 and tags[0]["file"] == "experiments/iris.yaml"
    assert cli(command, "-C", str(iris_repo), "--output", "github") == 0
    assert capsys.readouterr().out.count("title=image-tag") == 1


@pytest.mark.parametrize("command", ["check", "validate"])
def test_quiet_prints_nothing_on_success_unless_strict(iris_repo: Path, capsys, command):
    _latest_image(iris_repo)
    capsys.readouterr()
    assert cli(command, "-C", str(iris_repo), "--quiet") == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert cli(command, "-C", str(iris_repo), "--quiet", "--strict") == 0
    assert "image-tag" in capsys.readouterr().out


def test_quiet_still_prints_errors(iris_repo: Path, capsys):
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    (iris_repo / "base" / "iris.yaml").write_text("x: [\n")
    capsys.readouterr()
    assert cli("check", "-C", str(iris_repo), "--quiet") == 1
    assert "base/iris.yaml" in capsys.readouterr().out


def test_run_without_the_run_extra_names_it(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    spec = Path(__file__).resolve().parents[2] / "experiments" / "iris.yaml"
    assert cli("run", str(spec)) == 2
    err = capsys.readouterr().err
    assert "optuna" in err and "pip install 'katib-gitops[run]'" in err and "Traceback" not in err


def test_validate_parser_choices_match_the_validation_layers():
    from katib_gitops.commands import validate
    from katib_gitops.validation import podsecurity, reporters

    assert set(validate.LEVELS) == set(podsecurity.LEVELS) and set(validate.FORMATS) == set(reporters.FORMATS)


def test_spec_namespace_overridden_by_flux_target_namespace_is_an_error(iris_repo: Path, capsys):
    spec = iris_repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("name: iris\n", "name: iris\nnamespace: team-a\n"))
    capsys.readouterr()
    assert cli("render", "-C", str(iris_repo)) == 1
    err = capsys.readouterr().err
    assert "experiments/iris.yaml:5:" in err and "targetNamespace" in err and "Argo CD keeps 'team-a'" in err
    assert not (iris_repo / "base").exists()
    cfg = iris_repo / "katib-gitops.yaml"
    cfg.write_text(cfg.read_text() + "\nflux: {enabled: false}\n" if "flux:" not in cfg.read_text()
                   else cfg.read_text().replace("flux:\n", "flux:\n  enabled: false\n"))
    assert cli("render", "-C", str(iris_repo), "-q") == 0


def test_deploy_manifests_name_the_oldest_flux_and_argo_cd(iris_repo: Path):
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    assert "Needs Flux >= 2.5" in (iris_repo / "deploy" / "flux" / "kustomization.yaml").read_text()
    assert "Needs Argo CD >= 2.5" in (iris_repo / "deploy" / "argocd" / "argocd-cm.yaml").read_text()
