"""The Argo CD health check for Experiment, run by a real Lua 5.1 (lupa's bundled runtime) over status fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import fixture_files, load_fixture, lua_literal, run_lua_health

from katib_gitops.deploy import health_config_map, health_script
from katib_gitops.deploy.argocd import HEALTH_KEY
from katib_gitops.repo.repository import RepoConfig

@pytest.fixture(scope="module")
def shipped_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The script exactly as deploy/argocd/argocd-cm.yaml carries it."""
    path = tmp_path_factory.mktemp("lua") / "health.lua"
    path.write_text(health_config_map(RepoConfig())["data"][HEALTH_KEY], encoding="utf-8")
    return path


def test_config_map_carries_the_packaged_script() -> None:
    cm = health_config_map(RepoConfig())
    assert cm["metadata"]["name"] == "argocd-cm"
    assert cm["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    assert list(cm["data"]) == ["resource.customizations.health.kubeflow.org_Experiment"]
    assert cm["data"][HEALTH_KEY] == health_script()
    assert "return hs" in health_script()


def test_fixtures_cover_every_outcome() -> None:
    seen = {load_fixture(f)["expected"]["argocd"]["status"] for f in fixture_files()}
    assert seen == {"Progressing", "Healthy", "Degraded"}
    assert len(fixture_files()) >= 8


@pytest.mark.parametrize("fixture", fixture_files(), ids=lambda p: p.stem)
def test_health_status(shipped_script: Path, fixture: Path) -> None:
    case = load_fixture(fixture)
    status, message = run_lua_health(shipped_script, case["experiment"])
    assert (status, message) == (case["expected"]["argocd"]["status"], case["expected"]["argocd"]["message"])


def test_harness_tells_a_wrong_script_apart(tmp_path: Path) -> None:
    # A script that ignores condition status would call failed-false Degraded:
    # the fixtures and harness must be able to see that.
    naive = tmp_path / "naive.lua"
    naive.write_text(
        'local hs = {status = "Progressing", message = ""}\n'
        "if obj.status and obj.status.conditions then\n"
        "  for _, c in ipairs(obj.status.conditions) do\n"
        '    if c.type == "Failed" then hs.status = "Degraded"; hs.message = c.message or "" end\n'
        "  end\n"
        "end\n"
        "return hs\n")
    case = load_fixture(next(f for f in fixture_files() if f.stem == "failed-false"))
    assert run_lua_health(naive, case["experiment"])[0] == "Degraded"
    assert case["expected"]["argocd"]["status"] == "Progressing"


def test_harness_refuses_libraries_argo_does_not_open(tmp_path: Path) -> None:
    script = tmp_path / "io.lua"
    script.write_text('io.write("x")\nreturn {status = "Healthy", message = ""}\n')
    with pytest.raises(AssertionError, match="Lua 5.1 failed"):
        run_lua_health(script, {"status": {}})


def test_lua_literal_escapes_quotes_and_non_ascii() -> None:
    assert lua_literal({"m": 'a"b\\c\nü'}) == '{["m"] = "a\\034b\\092c\\010\\195\\188"}'
    assert lua_literal([1, True, None]) == "{1, true, nil}"


def test_message_passes_through_unchanged(shipped_script: Path) -> None:
    message = 'Suggestion has failed: "tpe" pod\nCrashLoopBackOff — see logs'
    obj = {"status": {"conditions": [
        {"type": "Created", "status": "True", "message": "Experiment is created"},
        {"type": "Failed", "status": "True", "reason": "ExperimentFailed", "message": message},
    ]}}
    assert run_lua_health(shipped_script, obj) == ("Degraded", message)
