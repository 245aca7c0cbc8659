"""Search algorithms: Katib's names and settings, served by Optuna and scikit-optimize."""

from __future__ import annotations

import math

import pytest

from katib_gitops.io.findings import UserError
from katib_gitops.runner.experiment_view import plan_from_experiment
from katib_gitops.runner.suggest import AVAILABLE, Past, make_suggester, resolve_seed

from runner_helpers import experiment, tutorial_experiment

NUMERIC = [
    {"name": "lr", "parameterType": "double",
     "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"}},
    {"name": "layers", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "10", "step": "2"}},
    {"name": "dropout", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.5", "step": "0.05"}},
    {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "adam"]}},
]


def plan(parameters=None, algorithm="random", settings=None, **kw):
    return plan_from_experiment(experiment(["true"], parameters=parameters, algorithm=algorithm,
                                           settings=settings, **kw))


def drive(suggester, n, objective=lambda a: float(a["lr"])):
    """Ask n suggestions, telling each result right away; returns the assignments."""
    seen = []
    for _ in range(n):
        s = suggester.ask()
        if s is None:
            break
        seen.append(dict(s.assignments))
        suggester.tell(s, "complete", objective(s.assignments))
    return seen


def in_space(a, algorithm="random"):
    lr, layers, dropout = float(a["lr"]), int(a["layers"]), float(a["dropout"])
    assert 0.0001 <= lr <= 0.1
    assert a["opt"] in ("sgd", "adam")
    if algorithm == "bayesianoptimization":  # Katib's skopt service ignores steps (skopt/base_service.py)
        assert 2 <= layers <= 10 and 0.1 <= dropout <= 0.5
        return
    assert layers in (2, 4, 6, 8, 10)
    assert 0.1 <= dropout <= 0.5 and math.isclose(round((dropout - 0.1) / 0.05), (dropout - 0.1) / 0.05, abs_tol=1e-9)
    # The text is the service's own arithmetic, not rounded to the step: hyperopt's round(v / q) * q,
    # goptuna's floor((v - low) / q + 0.5) * q + low printed without an exponent, optuna's value as it is.
    if algorithm in ("random", "tpe"):
        assert dropout == round(dropout / 0.05) * 0.05 and a["dropout"] == repr(dropout)
    elif algorithm in ("cmaes", "sobol"):
        assert "e" not in a["lr"] and dropout == math.floor((dropout - 0.1) / 0.05 + 0.5) * 0.05 + 0.1
    else:
        assert a["dropout"] == repr(dropout)


@pytest.mark.parametrize("algorithm", AVAILABLE)
def test_every_local_algorithm_suggests_inside_the_space(algorithm):
    params = NUMERIC
    if algorithm == "grid":  # grid needs every double stepped
        params = [dict(NUMERIC[0], feasibleSpace={"min": "0.0001", "max": "0.1", "step": "0.0001"}), *NUMERIC[1:]]
    # skopt's GP fit costs ~1s a point on two cores: keep the model-based part short.
    settings = {"n_initial_points": 3} if algorithm == "bayesianoptimization" else None
    n = 5 if algorithm == "bayesianoptimization" else 8
    s = make_suggester(plan(params, algorithm, settings), seed=7, notes=[])
    got = drive(s, n)
    assert len(got) == n
    for a in got:
        assert list(a) == ["lr", "layers", "dropout", "opt"]
        in_space(a, algorithm)


def test_grid_enumerates_the_tutorial_space_once_then_is_exhausted():
    p = plan_from_experiment(dict(tutorial_experiment(), spec=dict(
        tutorial_experiment()["spec"], algorithm={"algorithmName": "grid"}, maxTrialCount=30)))
    notes = []
    s = make_suggester(p, seed=1, notes=notes)
    got = drive(s, 40, objective=lambda a: 0.5)
    assert len(got) == 27
    assert len({tuple(a.values()) for a in got}) == 27
    assert {a["tol"] for a in got} == {"0.001", "0.0001", "0.00001"}
    assert {a["C"] for a in got} == {"0.01", "0.50", "1.00"}  # the spec's own strings
    assert s.exhausted and s.ask() is None
    assert any("grid has 27 combinations; maxTrialCount 30" in n for n in notes)


def test_grid_doubles_are_numpys_values_as_the_optuna_service_sends_them():
    """internal/search_space.py convert_to_combinations (numpy.arange, computed here with numpy itself), sent
    as str(float) (internal/trial.py Assignment.generate): 0.30000000000000004, not 0.3."""
    import numpy as np

    p = plan([{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.5", "step": "0.1"}}],
             "grid")
    got = {a["x"] for a in drive(make_suggester(p, seed=1, notes=[]), 10, objective=lambda a: 0.0)}
    values = np.arange(0.1, 0.5 + 0.1, 0.1)
    values = values[:-1] if values[-1] > 0.5 else values
    assert got == {str(float(v)) for v in values} and "0.30000000000000004" in got


def test_goptuna_writes_doubles_without_an_exponent():
    """goptuna/sample.go: strconv.FormatFloat(v, 'f', -1, 64)."""
    params = [{"name": "a", "parameterType": "double", "feasibleSpace": {"min": "0.000001", "max": "0.00002"}},
              {"name": "b", "parameterType": "double", "feasibleSpace": {"min": "1", "max": "2"}}]
    got = drive(make_suggester(plan(params, "sobol"), seed=3, notes=[]), 4, objective=lambda a: 0.0)
    assert all("e" not in a["a"] and a["a"].startswith("0.0000") for a in got)


def test_grid_stays_distinct_while_trials_run_in_parallel():
    p = plan([{"name": "a", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "4"}},
              {"name": "b", "parameterType": "discrete", "feasibleSpace": {"list": ["1", "2"]}}], "grid")
    s = make_suggester(p, seed=3, notes=[])
    pending = [s.ask() for _ in range(3)]
    seen = [tuple(x.assignments.values()) for x in pending]
    while pending:
        s.tell(pending.pop(0), "fail", None)
        nxt = s.ask()
        if nxt is not None:
            pending.append(nxt)
            seen.append(tuple(nxt.assignments.values()))
    assert sorted(seen) == sorted((str(a), b) for a in range(1, 5) for b in ("1", "2"))


def test_grid_double_needs_a_step():
    with pytest.raises(UserError) as exc:
        make_suggester(plan(algorithm="grid"), seed=1, notes=[])
    assert exc.value.finding.dotted == "spec.parameters[0].feasibleSpace.step"


def test_grid_resume_replays_history_and_reruns_interrupted_points():
    p = plan([{"name": "a", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "9"}}], "grid")
    first = make_suggester(p, seed=5, notes=[])
    issued = [first.ask() for _ in range(5)]
    history = [Past(s.assignments, s.token, "complete", 1.0) for s in issued[:3]]
    history += [Past(s.assignments, s.token, "fail") for s in issued[3:]]  # killed by Ctrl-C
    second = make_suggester(p, seed=5, notes=[])
    second.replay(history)
    for s in issued[3:]:
        second.requeue(s.assignments, s.token)
    rest = drive(second, 20, objective=lambda a: 0.0)
    assert rest[:2] == [dict(s.assignments) for s in issued[3:]]  # interrupted ones first
    finished = {s.assignments["a"] for s in issued[:3]}
    assert {a["a"] for a in rest} == {str(i) for i in range(1, 10)} - finished
    assert len(rest) == 9 - 3


@pytest.mark.parametrize("algorithm", ["random", "tpe", "sobol", "bayesianoptimization"])
def test_same_seed_same_suggestions(algorithm):
    runs = [drive(make_suggester(plan(NUMERIC, algorithm), seed=11, notes=[]), 5) for _ in range(2)]
    assert runs[0] == runs[1]
    other = drive(make_suggester(plan(NUMERIC, algorithm), seed=12, notes=[]), 5)
    assert other != runs[0]


def test_random_state_setting_seeds_unless_seed_is_given():
    p = plan(NUMERIC, "random", {"random_state": 42})
    assert resolve_seed(p, None) == 42
    assert resolve_seed(p, 7) == 7
    assert resolve_seed(plan(NUMERIC), None, previous=9) == 9


def test_tpe_learns_towards_the_better_region():
    # With a handful of startup trials, TPE should then favour low lr when minimizing lr.
    p = plan(NUMERIC, "multivariate-tpe", {"n_startup_trials": 5}, type_="minimize")
    got = drive(make_suggester(p, seed=0, notes=[]), 30)
    early = sum(float(a["lr"]) for a in got[:5]) / 5
    late = sum(float(a["lr"]) for a in got[-10:]) / 10
    assert late < early


def test_normal_distributions_are_mapped_and_noted():
    params = [{"name": "x", "parameterType": "double",
               "feasibleSpace": {"min": "1", "max": "100", "distribution": "logNormal"}},
              {"name": "y", "parameterType": "double",
               "feasibleSpace": {"min": "-1", "max": "1", "distribution": "normal"}}]
    notes = []
    got = drive(make_suggester(plan(params, "random"), seed=1, notes=notes), 20, objective=lambda a: 0.0)
    assert all(1 <= float(a["x"]) <= 100 and -1 <= float(a["y"]) <= 1 for a in got)
    assert any("no logNormal prior" in n for n in notes) and any("no normal prior" in n for n in notes)


@pytest.mark.parametrize("algorithm", ["hyperband", "pbt", "enas", "darts"])
def test_cluster_only_algorithms_are_a_clear_error(algorithm):
    with pytest.raises(UserError) as exc:
        make_suggester(plan(algorithm=algorithm), seed=1, notes=[])
    assert f"algorithm '{algorithm}' is not available locally" in exc.value.finding.message
    assert exc.value.finding.dotted == "spec.algorithm.algorithmName"


@pytest.mark.parametrize("algorithm, settings, needle, where", [
    ("random", {"n_startup_trials": 3}, "unknown setting 'n_startup_trials' for algorithm random", "name"),
    ("multivariate-tpe", {"n_startup_trials": -1}, "n_startup_trials='-1': must be at least 0", "value"),
    # hyperopt runs tpe on Katib: it refuses Optuna's names (hyperopt/service.py _validate_tpe_setting).
    ("tpe", {"n_startup_trials": 5}, "unknown setting 'n_startup_trials' for algorithm tpe", "name"),
    ("tpe", {"gamma": "1.5"}, "gamma='1.5': must be in (0, 1)", "value"),
    ("cmaes", {"restart_strategy": "None"}, "must be one of ipop, bipop, none", "value"),
    ("bayesianoptimization", {"acq_func": "UCB"}, "acq_func='UCB': must be one of", "value"),
    ("cmaes", {"sigma": "x"}, "sigma='x'", "value"),
])
def test_bad_algorithm_settings_name_the_setting(algorithm, settings, needle, where):
    with pytest.raises(UserError) as exc:
        make_suggester(plan(NUMERIC, algorithm, settings), seed=1, notes=[])
    assert needle in exc.value.finding.message
    assert exc.value.finding.dotted == f"spec.algorithm.algorithmSettings[0].{where}"


def test_unknown_algorithm_is_an_error():
    with pytest.raises(UserError, match="unknown algorithm 'annealing'"):
        make_suggester(plan(algorithm="annealing"), seed=1, notes=[])


def test_cmaes_needs_two_numeric_parameters_as_katib_does():
    with pytest.raises(UserError, match="cmaes needs two or more int/double parameters"):
        make_suggester(plan(algorithm="cmaes"), seed=1, notes=[])


def test_log_uniform_needs_a_positive_min():
    params = [{"name": "x", "parameterType": "double",
               "feasibleSpace": {"min": "0", "max": "1", "distribution": "logUniform"}}]
    with pytest.raises(UserError) as exc:
        make_suggester(plan(params), seed=1, notes=[])
    assert exc.value.finding.dotted == "spec.parameters[0].feasibleSpace.min"
