"""Flux healthCheckExprs for Experiment, evaluated with cel-python over the status fixtures.

Flux evaluates with cel-go; cel-python implements the same language. Where
the two differ (a top-level field the object lacks), deploy_support.cel_eval
follows cel-go.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import fixture_files, flux_status, load_fixture

from katib_gitops.deploy import EXPERIMENT_HEALTH, flux_kustomization
from katib_gitops.repo.repository import RepoConfig

celpy = pytest.importorskip("celpy", reason="cel-python not installed (pip install cel-python)")


def emitted_exprs() -> dict[str, str]:
    (entry,) = flux_kustomization(RepoConfig(), "cpu")["spec"]["healthCheckExprs"]
    return entry


def test_emitted_entry_targets_experiment() -> None:
    entry = emitted_exprs()
    assert (entry["apiVersion"], entry["kind"]) == ("kubeflow.org/v1beta1", "Experiment")
    assert set(entry) == {"apiVersion", "kind", "inProgress", "failed", "current"}
    assert entry == EXPERIMENT_HEALTH


@pytest.mark.parametrize("key", ["inProgress", "failed", "current"])
def test_expressions_compile(key: str) -> None:
    env = celpy.Environment()
    env.program(env.compile(emitted_exprs()[key]))


@pytest.mark.parametrize("fixture", fixture_files(), ids=lambda p: p.stem)
def test_flux_status(fixture: Path) -> None:
    case = load_fixture(fixture)
    assert flux_status(emitted_exprs(), case["experiment"]) == case["expected"]["flux"]


def test_fixtures_cover_every_flux_outcome() -> None:
    assert {load_fixture(f)["expected"]["flux"] for f in fixture_files()} == {"InProgress", "Current", "Failed", "Unknown"}


def test_naive_all_expression_would_misread_missing_conditions() -> None:
    # The trap the guards avoid: all() is true of an empty list, so a status
    # without the Succeeded condition reads as Current.
    naive = {"current": 'status.conditions.filter(c, c.type == "Succeeded").all(c, c.status == "True")'}
    case = load_fixture(next(f for f in fixture_files() if f.stem == "empty-conditions"))
    assert flux_status(naive, case["experiment"]) == "Current"
    assert flux_status(emitted_exprs(), case["experiment"]) == "InProgress"


def test_observed_generation_behind_is_in_progress() -> None:
    case = load_fixture(next(f for f in fixture_files() if f.stem == "succeeded"))
    obj = {**case["experiment"], "metadata": {**case["experiment"]["metadata"], "generation": 2}}
    obj["status"] = {**obj["status"], "observedGeneration": 1}
    assert flux_status(emitted_exprs(), obj) == "InProgress"
