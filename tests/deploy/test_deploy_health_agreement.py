"""Argo CD's Lua health and Flux's CEL health, driven by the same Katib statuses, side by side.

One row per state Katib's controller leaves an Experiment in (the conditions in the order Katib appends
them: experiment/util/status_util.go UpdateExperimentStatusCondition, experiments/v1beta1/util.go
MarkExperimentStatus*, setCondition). Both tools must agree on every row, except where the README's
health table says why they differ (a Running Experiment: Argo CD Progressing, Flux Current, so a Flux
Kustomization with ``wait: true`` is not held not-Ready for the hours a search runs). The Lua runs in Lua
5.1 (lupa), the CEL in cel-python, both on the shipped script and expressions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import flux_status, run_lua_health

from katib_gitops.deploy import EXPERIMENT_HEALTH, health_script

# The same outcome in each tool's words.
AGREE = {"Progressing": {"InProgress", "Unknown"}, "Healthy": {"Current"}, "Degraded": {"Failed"}}


def _c(kind: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message or f"Experiment is {kind.lower()}",
            "lastUpdateTime": "2026-11-28T09:00:00Z", "lastTransitionTime": "2026-11-28T09:00:00Z"}


CREATED = _c("Created", "True", "ExperimentCreated", "Experiment is created")
RUNNING = _c("Running", "True", "ExperimentRunning", "Experiment is running")
RUNNING_OFF = _c("Running", "False", "ExperimentRunning", "Experiment is running")
RESTARTING = _c("Restarting", "True", "ExperimentRestarting", "Experiment is restarted")
GOAL = _c("Succeeded", "True", "ExperimentGoalReached", "Experiment has succeeded because Objective goal has reached")
MAX = _c("Succeeded", "True", "ExperimentMaxTrialsReached",
         "Experiment has succeeded because max trial count has reached")
END = _c("Succeeded", "True", "ExperimentSuggestionEndReached",
         "Experiment has succeeded because suggestion service has reached the end")
FAILED = _c("Failed", "True", "ExperimentFailed", "Experiment has failed because max failed count has reached")

# state -> (conditions as Katib writes them, Argo CD health, Flux kstatus, why they differ or "")
RUNNING_WHY = "README: a Running Experiment is Current for Flux (wait: true), Progressing for Argo CD"
TABLE = {
    "no status yet": (None, "Progressing", "Unknown", ""),
    "Created": ([CREATED], "Progressing", "InProgress", ""),
    "Running": ([CREATED, RUNNING], "Progressing", "Current", RUNNING_WHY),
    "Restarting": ([CREATED, RUNNING_OFF, RESTARTING], "Progressing", "InProgress", ""),
    "Running after a restart": ([CREATED, RESTARTING, RUNNING], "Progressing", "Current", RUNNING_WHY),
    "Succeeded (goal)": ([CREATED, RUNNING_OFF, GOAL], "Healthy", "Current", ""),
    "Succeeded (max trials)": ([CREATED, RUNNING_OFF, MAX], "Healthy", "Current", ""),
    "Succeeded (suggestion end)": ([CREATED, RUNNING_OFF, END], "Healthy", "Current", ""),
    "Failed": ([CREATED, RUNNING_OFF, FAILED], "Degraded", "Failed", ""),
    "Failed while Running was still True": ([CREATED, RUNNING, FAILED], "Degraded", "Failed", ""),
}


def _experiment(conditions: list[dict[str, str]] | None) -> dict:
    obj = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
           "metadata": {"name": "iris-7f3a9c2e", "namespace": "kubeflow", "generation": 1}}
    if conditions is not None:
        obj["status"] = {"startTime": "2026-11-28T09:00:00Z", "conditions": conditions}
    return obj


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lua") / "health.lua"
    path.write_text(health_script(), encoding="utf-8")
    return path


def test_every_katib_condition_type_is_in_the_table() -> None:
    from katib_gitops.live.state import CONDITION_TYPES

    seen = {c["type"] for conditions, *_ in TABLE.values() for c in conditions or ()}
    assert seen == set(CONDITION_TYPES)


@pytest.mark.parametrize("state", TABLE)
def test_argo_and_flux_agree_or_the_readme_says_why(script: Path, state: str) -> None:
    conditions, argo_want, flux_want, why = TABLE[state]
    obj = _experiment(conditions)
    argo, _ = run_lua_health(script, obj)
    flux = flux_status(EXPERIMENT_HEALTH, obj)
    assert (argo, flux) == (argo_want, flux_want)
    assert (flux in AGREE[argo]) == (not why), f"{state}: Argo CD {argo}, Flux {flux}"


def test_readme_table_matches_the_tools() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for state, (_, argo, flux, _why) in TABLE.items():
        assert f"| {state} | {argo} | {flux} |" in readme, state
