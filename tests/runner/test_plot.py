"""The parallel-coordinates PNG: what it shows, where, and that the same results give the same bytes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from katib_gitops.runner.experiment_view import plan_from_experiment
from katib_gitops.runner.plot import BEST, VIRIDIS, _axis, _nice_ticks, _viridis, parallel_coordinates
from katib_gitops.runner.run_records import TrialRecord

from runner_helpers import experiment

PARAMETERS = [
    {"name": "lr", "parameterType": "double",
     "feasibleSpace": {"min": "0.0001", "max": "0.3", "distribution": "logUniform"}},
    {"name": "layers", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "12"}},
    {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "adam", "rmsprop"]}},
]


def records(values: list[float | None]) -> list[TrialRecord]:
    out = []
    for i, value in enumerate(values):
        out.append(TrialRecord(
            name=f"t-{i:03d}", index=i, status="Succeeded" if value is not None else "Failed",
            parameters={"lr": repr(10 ** (-4 + 0.3 * i)), "layers": str(1 + i), "opt": ["sgd", "adam", "rmsprop"][i % 3]},
            start="", end="", duration=1.0, objective=value))
    return out


def pixels_near(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    data = image.tobytes()  # RGB, a byte per channel
    return sum(1 for p in zip(data[0::3], data[1::3], data[2::3])
               if all(abs(a - b) <= tolerance for a, b in zip(p, colour)))


@pytest.mark.parametrize("type_", ["maximize", "minimize"])
def test_the_plot_is_a_png_with_the_best_trial_on_top_and_the_same_bytes_every_time(tmp_path, type_):
    plan = plan_from_experiment(experiment(["true"], parameters=PARAMETERS, type_=type_))
    trials = records([0.4, 0.9, None, 0.7, 0.1])
    best = max if type_ == "maximize" else min
    best_trial = best((r for r in trials if r.objective is not None), key=lambda r: r.objective)
    first = parallel_coordinates(plan, trials, tmp_path / "a.png", best_trial).read_bytes()
    again = parallel_coordinates(plan, trials, tmp_path / "b.png", best_trial).read_bytes()
    assert first.startswith(b"\x89PNG\r\n\x1a\n") and first == again
    image = Image.open(tmp_path / "a.png").convert("RGB")
    assert image.size == (190 * 4 + 150, 480)  # three parameters and the objective
    assert pixels_near(image, BEST) > 500  # the best trial's thick line and the legend's
    # Without a best trial there is no crimson at all: the colour means "best", nothing else.
    plain = Image.open(parallel_coordinates(plan, trials, tmp_path / "c.png")).convert("RGB")
    assert pixels_near(plain, BEST) == 0


def test_brighter_is_better_whichever_way_the_objective_goes():
    assert _viridis(1.0) == VIRIDIS[-1] and _viridis(0.0) == VIRIDIS[0]
    assert _viridis(1.0, reverse=True) == VIRIDIS[0] and _viridis(0.0, reverse=True) == VIRIDIS[-1]
    assert _viridis(0.5) == VIRIDIS[4]
    between = _viridis(1 / 16)  # half-way between the first two points
    assert all(min(a, b) <= c <= max(a, b) for a, b, c in zip(VIRIDIS[0], VIRIDIS[1], between))


def test_trials_without_a_value_are_drawn_as_grey_dashes(tmp_path):
    plan = plan_from_experiment(experiment(["true"], parameters=PARAMETERS))
    with_failed = Image.open(parallel_coordinates(plan, records([0.5, None, None]), tmp_path / "a.png")).convert("RGB")
    without = Image.open(parallel_coordinates(plan, records([0.5, 0.6, 0.7]), tmp_path / "b.png")).convert("RGB")
    grey = (191, 191, 191)
    assert pixels_near(with_failed, grey, 6) > pixels_near(without, grey, 6) + 100


# Worked through matplotlib's MaxNLocator(nbins=5, steps=[1, 2, 5, 10]) by hand: the scale is the power of ten
# below span/nbins, the step the smallest staircase value >= span/nbins that still leaves two ticks inside.
@pytest.mark.parametrize("lo, hi, integer, labels", [
    (0.05, 0.73, False, ["0.2", "0.4", "0.6"]),  # span/5 = 0.136 -> step 0.2
    (1, 12, True, ["5", "10"]),  # 2.2 -> 5; an int axis keeps whole steps
    (1, 3, True, ["1", "2", "3"]),  # 0.4 -> 0.5, raised to 1 on an int axis
    (1, 100, True, ["20", "40", "60", "80", "100"]),  # 19.8 -> 20
    (-3, 3, False, ["-2", "0", "2"]),  # 1.2 -> 2; a zero, not "-0"
    (0, 1, False, ["0", "0.2", "0.4", "0.6", "0.8", "1"]),  # the ends are ticks when they are round
    (0.001, 0.1, False, ["0.02", "0.04", "0.06", "0.08", "0.1"]),  # 0.0198 -> 0.02
    (1000, 1001, False, ["1000", "1000.2", "1000.4", "1000.6", "1000.8", "1001"]),  # shifted by 1000 first
    (0.1234, 0.1236, False, ["0.1234", "0.12345", "0.1235", "0.12355", "0.1236"]),  # labels as fine as the step
    (1e9, 5e9, False, ["1e+09", "2e+09", "3e+09", "4e+09", "5e+09"]),
])
def test_linear_ticks_are_where_max_n_locator_puts_them(lo, hi, integer, labels):
    assert _nice_ticks(lo, hi, log=False, integer=integer) == labels


# matplotlib's LogLocator(numticks=6): at most six decades inside, evenly strided, the widest stride that
# gives that many (41 decades in 1e-20..1e20: every 8th, from 1e-20).
@pytest.mark.parametrize("lo, hi, labels", [
    (1e-4, 0.3, ["0.0001", "0.001", "0.01", "0.1"]),
    (10, 1000, ["10", "100", "1e+03"]),
    (1e-20, 1e20, ["1e-20", "1e-12", "0.0001", "1e+04", "1e+12", "1e+20"]),
])
def test_log_ticks_are_where_log_locator_puts_them(lo, hi, labels):
    assert _nice_ticks(lo, hi, log=True, integer=False) == labels


def test_a_degenerate_axis_gets_its_one_value():
    assert _nice_ticks(2.0, 2.0, log=False, integer=False) == ["2"]
    assert _nice_ticks(float("nan"), 1.0, log=False, integer=False) == ["nan"]


RANGES = st.tuples(st.floats(-1e6, 1e6, allow_nan=False), st.floats(1e-6, 1e6, allow_nan=False))


@settings(max_examples=300, deadline=None, database=None)
@given(bounds=RANGES, integer=st.booleans(), log=st.booleans())
def test_ticks_agree_with_matplotlib_where_it_is_installed(bounds, integer, log):
    ticker = pytest.importorskip("matplotlib.ticker")
    lo, hi = (abs(bounds[0]) + 1e-3, abs(bounds[0]) + 1e-3 + bounds[1] * 100) if log else (bounds[0], bounds[0] + bounds[1])
    if integer and not log:
        lo, hi = float(math.floor(lo)), float(math.floor(lo) + max(1, math.ceil(hi - lo)))
    ours = [float(t) for t in _nice_ticks(lo, hi, log=log, integer=integer and not log)]
    if log:
        theirs = ticker.LogLocator(numticks=6).tick_values(lo, hi)
        inside = [t for t in theirs if math.log10(lo) - 1e-10 <= math.log10(t) <= math.log10(hi) + 1e-10]
    else:
        theirs = ticker.MaxNLocator(nbins=5, steps=[1, 2, 5, 10], integer=integer).tick_values(lo, hi)
        inside = [t for t in theirs if lo - 1e-10 * (hi - lo) <= t <= hi + 1e-10 * (hi - lo)]
    if len(inside) < 2:
        return  # we label the ends then; matplotlib leaves the axis bare
    assert ours == pytest.approx(inside, rel=1e-9, abs=1e-12 * (hi - lo))


def test_a_log_axis_places_decades_evenly():
    plan = plan_from_experiment(experiment(["true"], parameters=PARAMETERS))
    pos, ticks, labels = _axis(plan.parameters[0])
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert labels[:2] == ["0.0001", "0.001"] and max(gaps) - min(gaps) < 1e-9
    assert pos("0.0001") == 0.0 and pos("0.3") == pytest.approx(1.0)


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "1e400", None])
def test_a_value_that_does_not_fit_its_axis_is_drawn_at_its_edge_not_a_traceback(tmp_path, value):
    """trials.jsonl comes from a run directory, which is untrusted: an edited value must not stop the report."""
    plan = plan_from_experiment(experiment(["true"], parameters=PARAMETERS))
    trials = records([0.5, 0.7, float("inf")])
    if value is None:
        del trials[0].parameters["lr"]
    else:
        trials[0].parameters["lr"] = value
    png = parallel_coordinates(plan, trials, tmp_path / "p.png", trials[1])
    assert png.read_bytes().startswith(b"\x89PNG")
