"""services: what the default katib-config's suggestion services refuse (NAS and pbt, beyond the case files)."""

from __future__ import annotations

from katib_gitops.validation.services import OPERATIONS, algorithm_refusals

OPS = [{"operationType": "convolution", "parameters": [
    {"name": "filter_size", "parameterType": "categorical", "feasibleSpace": {"list": ["3", "5"]}}]}]


def nas(algorithm: str, settings: list[dict], graph: dict | None = None, operations: list | None = None) -> dict:
    return {"algorithm": {"algorithmName": algorithm, "algorithmSettings": settings},
            "nasConfig": {"graphConfig": graph if graph is not None else
                          {"numLayers": 8, "inputSizes": [32, 32, 3], "outputSizes": [10]},
                          "operations": operations if operations is not None else OPS}}


def test_enas_settings_ranges_and_names() -> None:
    assert list(algorithm_refusals(nas("enas", [{"name": "controller_hidden_size", "value": "64"},
                                                {"name": "controller_temperature", "value": "None"}]))) == []
    [(index, name, why)] = algorithm_refusals(nas("enas", [{"name": "controller_learning_rate", "value": "0"}]))
    assert (index, name) == (0, "controller_learning_rate") and "(0.0, 1.0]" in why
    [(_, name, why)] = algorithm_refusals(nas("enas", [{"name": "learning_rate", "value": "0.1"}]))
    assert "unknown setting learning_rate" in why


def test_enas_needs_the_graph_and_operations_with_parameters() -> None:
    [(_, _, why)] = algorithm_refusals(nas("enas", [], graph={"numLayers": 8, "inputSizes": [32]}))
    assert "outputSizes" in why
    [(_, name, why)] = algorithm_refusals(nas("darts", [], operations=[{"operationType": "skip_connection"}]))
    assert name == OPERATIONS and "skip_connection has no parameters" in why


def test_darts_settings() -> None:
    assert list(algorithm_refusals(nas("darts", [{"name": "batch_size", "value": "None"},
                                                 {"name": "anything_else", "value": "x"}]))) == []
    [(index, _, why)] = algorithm_refusals(nas("darts", [{"name": "num_epochs", "value": "0"}]))
    assert index == 0 and "greater than zero" in why


def test_pbt_refuses_any_resample_probability() -> None:
    base = [{"name": "suggestion_trial_dir", "value": "/d"}, {"name": "n_population", "value": "8"},
            {"name": "truncation_threshold", "value": "0.2"}]
    spec = {"algorithm": {"algorithmName": "pbt", "algorithmSettings": base}}
    assert list(algorithm_refusals(spec)) == []
    spec["algorithm"]["algorithmSettings"] = base + [{"name": "resample_probability", "value": "0.5"}]
    [(index, name, _)] = algorithm_refusals(spec)
    assert (index, name) == (3, "resample_probability")
