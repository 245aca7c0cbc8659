"""Suggestions: Katib's search algorithms, served locally by Optuna and scikit-optimize.

Katib runs each algorithm in a suggestion service; these are the libraries
those services wrap, or Optuna's equivalent:

================== ==================================================
Katib algorithm    local sampler
================== ==================================================
random             optuna RandomSampler
grid               optuna GridSampler over every combination
tpe                optuna TPESampler (constant liar, as Katib sets it)
multivariate-tpe   optuna TPESampler(multivariate=True)
cmaes              optuna CmaEsSampler (needs the ``cmaes`` package)
sobol              optuna QMCSampler(qmc_type="sobol")
bayesianoptimization  scikit-optimize Optimizer (what Katib's service uses)
================== ==================================================

Parameter mapping: int/double become Int/FloatDistribution with their step;
``logUniform`` sets ``log=True``. Optuna has no normal priors, so ``normal``
and ``logNormal`` are sampled uniformly / log-uniformly over [min, max] (the
runner notes this). discrete and categorical become categorical choices of the
spec's own strings, so a trial receives exactly ``0.50`` when the list says so.
Samplers that model only numbers (cmaes, sobol) sample those choices with an
independent random sampler, as Optuna does.

Every suggestion carries an opaque ``token`` (Optuna trial number, grid id);
results.py stores it so ``--resume`` can replay history into a new sampler.
"""

from __future__ import annotations

import contextlib
import math
import random
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..spec.searchspace import SERVICE, grid_doubles, grid_ints, hyperopt_quantized, python_text, service_text
from .experiment_view import Parameter, Plan

AVAILABLE = ("random", "grid", "tpe", "multivariate-tpe", "cmaes", "sobol", "bayesianoptimization")
CLUSTER_ONLY = ("hyperband", "pbt", "enas", "darts")
MAX_GRID_POINTS = 1_000_000


@dataclass(frozen=True)
class Suggestion:
    assignments: Mapping[str, str]  # parameter name -> value as Katib passes it
    token: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Past:
    """A finished (or killed) trial, replayed into a fresh suggester on --resume."""

    assignments: Mapping[str, str]
    token: Mapping[str, Any]
    state: str  # "complete" | "fail" | "pruned"
    value: float | None = None


# ---------------------------------------------------------------------------
# settings

def _int(minimum: int = 0) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value
    return parse


def _float_in(low: float, high: float, open_low: bool = True) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not (low < value if open_low else low <= value) or not value < high:
            raise ValueError(f"must be in ({low:g}, {high:g})")
        return value
    return parse


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return text
    return parse


def _go_int(text: str) -> int:
    """strconv.Atoi: any integer, negative too."""
    return int(text.strip()) if text.strip().lstrip("+-").isdigit() else int("invalid " + text)


# The settings each algorithm's suggestion service accepts, in the default katib-config
# (pkg/suggestion/v1beta1): hyperopt/service.py runs random and tpe (_validate_tpe_setting,
# _validate_random_setting), optuna/service.py runs grid and multivariate-tpe, goptuna runs cmaes
# and sobol (converter.go toGoptunaSampler reads the names it knows and skips the rest),
# skopt/service.py runs bayesianoptimization. The validation package models the same checks
# for `validate`; runner.admission asks it first, so its message is the one a user sees.
SETTINGS: dict[str, dict[str, Callable[[str], Any]]] = {
    "random": {"random_state": _int()},
    "tpe": {"gamma": _float_in(0.0, 1.0), "prior_weight": _float_in(0.0, math.inf),
            "n_EI_candidates": _int(1), "random_state": _int()},
    "grid": {"random_state": _int()},
    "multivariate-tpe": {"random_state": _int(), "n_startup_trials": _int(), "n_ei_candidates": _int()},
    "cmaes": {"random_state": _go_int, "sigma": _float_in(0.0, math.inf),
              "restart_strategy": _choice("ipop", "bipop", "none")},
    "sobol": {},
    "bayesianoptimization": {
        "random_state": _int(), "n_initial_points": _int(),
        "base_estimator": _choice("GP", "RF", "ET", "GBRT"),
        "acq_func": _choice("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"),
        "acq_optimizer": _choice("auto", "sampling", "lbfgs"),
    },
}
IGNORES_UNKNOWN_SETTINGS = ("cmaes", "sobol")  # goptuna


def read_settings(plan: Plan, notes: list[str] | None = None) -> dict[str, Any]:
    algo = plan.algorithm
    known = SETTINGS[algo.name]
    out: dict[str, Any] = {}
    for s in algo.settings:
        if s.name not in known:
            if algo.name in IGNORES_UNKNOWN_SETTINGS:
                if notes is not None:
                    notes.append(f"setting {s.name!r} is ignored by the {algo.name} service (goptuna), "
                                 "and here too")
                continue
            raise plan.error(f"unknown setting {s.name!r} for algorithm {algo.name} "
                             f"(known: {', '.join(sorted(known)) or 'none'})", (*s.path, "name"))
        try:
            out[s.name] = known[s.name](s.value)
        except ValueError as exc:
            raise plan.error(f"{s.name}={s.value!r}: {exc}", (*s.path, "value")) from None
    return out


def check_available(plan: Plan) -> None:
    name = plan.algorithm.name
    if name in CLUSTER_ONLY:
        raise plan.error(f"algorithm {name!r} is not available locally: it needs Katib's own "
                         f"suggestion service; run the experiment on a cluster, or use one of "
                         f"{', '.join(AVAILABLE)}", (*plan.algorithm.path, "algorithmName"))
    if name not in AVAILABLE:
        raise plan.error(f"unknown algorithm {name!r} (available locally: {', '.join(AVAILABLE)})",
                         (*plan.algorithm.path, "algorithmName"))


# ---------------------------------------------------------------------------
# parameters

def format_value(param: Parameter, value: Any, algorithm: str) -> str:
    """The text Katib's service for algorithm would send for value (``searchspace.service_text``): Katib
    substitutes exactly that text into the trial, so a grid double stepped by 0.1 gives `0.30000000000000004`,
    and cmaes/sobol (goptuna) write no exponent (`0.00001`)."""
    if param.type == "double" and param.step is not None and SERVICE.get(algorithm) == "hyperopt":
        # hyperopt quantizes with round(v / q) * q; keep Optuna's own point when that leaves the range
        quantized = hyperopt_quantized(float(value), float(param.step))
        if not float(param.min) <= quantized <= float(param.max):
            return python_text(float(value))
    low = param.min if param.type == "double" else None
    return service_text(algorithm, param.type, value, low, param.step)


def _stepped_high(low: float, high: float, step: float) -> float:
    # Optuna wants (high - low) to be a multiple of step; Katib just stops at max.
    return low + math.floor((high - low) / step + 1e-9) * step


def grid_values(param: Parameter, plan: Plan) -> list:
    """The values internal/search_space.py convert_to_combinations gives the optuna service's GridSampler:
    the spec's strings, range(min, max + 1, step or 1), or numpy.arange(min, max + step, step) without a last
    value above max, value for value."""
    if param.values:
        return list(param.values)
    if param.type == "int":
        return list(grid_ints(param.min, param.max, param.step))
    if param.step is None:
        raise plan.error(f"grid needs a step for double parameter {param.name!r}",
                         (*param.path, "feasibleSpace", "step"))
    try:
        return grid_doubles(param.min, param.max, param.step)
    except IndexError:
        raise plan.error(f"numpy.arange gives no grid point for {param.name!r}",
                         (*param.path, "feasibleSpace")) from None


def optuna_distributions(plan: Plan, notes: list[str]) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for p in plan.parameters:
        log = p.distribution in ("logUniform", "logNormal")
        if p.distribution in ("normal", "logNormal"):
            notes.append(f"parameter {p.name}: Optuna has no {p.distribution} prior; sampled "
                         f"{'log-' if log else ''}uniformly over [{p.min}, {p.max}]")
        if p.type in ("int", "double") and log and float(p.min) <= 0:
            raise plan.error(f"{p.distribution} needs min > 0, got {p.min}", (*p.path, "feasibleSpace", "min"))
        if p.type == "int":
            step = int(p.step or 1)
            if log and step != 1:
                raise plan.error("Optuna cannot combine a step with a log distribution",
                                 (*p.path, "feasibleSpace", "step"))
            lo, hi = int(p.min), int(p.max)
            out[p.name] = IntDistribution(lo, int(_stepped_high(lo, hi, step)), log=log, step=step)
        elif p.type == "double":
            lo, hi = float(p.min), float(p.max)
            if p.step is not None:
                if log:
                    raise plan.error("Optuna cannot combine a step with a log distribution",
                                     (*p.path, "feasibleSpace", "step"))
                step = float(p.step)
                out[p.name] = FloatDistribution(lo, _stepped_high(lo, hi, step), step=step)
            else:
                out[p.name] = FloatDistribution(lo, hi, log=log)
        else:
            out[p.name] = CategoricalDistribution(list(p.values))
    return out


# ---------------------------------------------------------------------------
# suggesters

class Suggester:
    """Hands out parameter assignments and learns from finished trials."""

    def ask(self) -> Suggestion | None:
        raise NotImplementedError

    def tell(self, suggestion: Suggestion, state: str, value: float | None) -> None:
        raise NotImplementedError

    def replay(self, history: Sequence[Past]) -> None:
        raise NotImplementedError

    def requeue(self, assignments: Mapping[str, str], token: Mapping[str, Any]) -> None:
        """Run these assignments again before asking for new ones (a killed trial)."""
        raise NotImplementedError

    @property
    def exhausted(self) -> bool:
        return False


@contextlib.contextmanager
def _quiet():
    """Silence Optuna's experimental/deprecation chatter around the runner's own calls."""
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        # GridSampler warns when numpy's arithmetic puts a grid value a rounding error past the range; Katib's
        # optuna service uses the value all the same.
        warnings.filterwarnings("ignore", message="The value .* is out of range")
        yield


class OptunaSuggester(Suggester):
    def __init__(self, plan: Plan, sampler, distributions: dict, grid: Mapping[str, list] | None = None):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.plan = plan
        self.params = {p.name: p for p in plan.parameters}
        self.distributions = distributions
        # GridSampler recognises its own trials by this mapping (names sorted).
        self.grid_space = {n: list(grid[n]) for n in sorted(grid)} if grid is not None else None
        self.grid_size = math.prod(len(v) for v in grid.values()) if grid is not None else None
        self.issued: set[tuple] = set()
        self.pending_requeue: list[tuple[dict, dict]] = []
        self.study = optuna.create_study(
            direction="maximize" if plan.objective.maximize else "minimize", sampler=sampler
        )

    def _key(self, assignments: Mapping[str, str]) -> tuple:
        return tuple(assignments[n] for n in self.params)

    def _internal(self, assignments: Mapping[str, str]) -> dict:
        """Optuna's values for assignments as Katib's service wrote them (a stepped double back on Optuna's
        grid: the service's arithmetic may put it a rounding error, or hyperopt's quantization a step, away)."""
        out = {}
        for name, text in assignments.items():
            p = self.params[name]
            if p.type == "int":
                out[name] = int(text)
            elif p.type == "double":
                out[name] = self._on_distribution(name, float(text))
            else:
                out[name] = text
        return out

    def _on_distribution(self, name: str, value: float) -> float:
        dist = self.distributions.get(name)
        step = getattr(dist, "step", None)
        if self.grid_space is not None and name in self.grid_space:
            return min(self.grid_space[name], key=lambda v: abs(v - value))
        if step is None or dist is None:
            return value
        k = round((value - dist.low) / step)
        return min(max(dist.low + k * step, dist.low), dist.high)

    @property
    def exhausted(self) -> bool:
        return (self.grid_size is not None and not self.pending_requeue
                and len(self.issued) >= self.grid_size)

    def ask(self) -> Suggestion | None:
        if self.exhausted:
            return None
        token: dict[str, Any] = {}
        with _quiet():
            if self.pending_requeue:
                assignments, token = self.pending_requeue.pop(0)
                self.study.enqueue_trial(self._internal(assignments), skip_if_exists=False)
            trial = self.study.ask(self.distributions)
        assignments = {n: format_value(p, trial.params[n], self.plan.algorithm.name) for n, p in self.params.items()}
        token = dict(token)
        token["number"] = trial.number
        grid_id = self.study.get_trials(deepcopy=False)[trial.number].system_attrs.get("grid_id")
        if grid_id is not None:
            token["gridId"] = grid_id
        self.issued.add(self._key(assignments))
        return Suggestion(assignments, token)

    def tell(self, suggestion: Suggestion, state: str, value: float | None) -> None:
        from optuna.trial import TrialState

        number = suggestion.token.get("number")
        if number is None:
            return
        with _quiet():
            if state == "complete" and value is not None:
                self.study.tell(number, value)
            elif state == "pruned":
                self.study.tell(number, state=TrialState.PRUNED)
            else:
                self.study.tell(number, state=TrialState.FAIL)

    def replay(self, history: Sequence[Past]) -> None:
        from optuna.trial import TrialState, create_trial

        # Trials are re-added in their original order so that Optuna numbers
        # (and the grid ids GridSampler derives from them) line up again.
        by_number = {int(p.token["number"]): p for p in history if "number" in p.token}
        numbered_to = max(by_number, default=-1)
        search_space = self.grid_space
        with _quiet():
            for number in range(numbered_to + 1):
                past = by_number.get(number)
                if past is None:  # a trial lost to a crash: keep the numbering
                    self.study.add_trial(create_trial(state=TrialState.FAIL))
                    continue
                attrs = {}
                if "gridId" in past.token and search_space is not None:
                    attrs = {"grid_id": past.token["gridId"], "search_space": search_space}
                state = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(
                    past.state, TrialState.FAIL)
                if state == TrialState.COMPLETE and past.value is None:
                    state = TrialState.FAIL
                self.study.add_trial(create_trial(
                    state=state,
                    value=past.value if state == TrialState.COMPLETE else None,
                    params=self._internal(past.assignments),
                    distributions={n: self.distributions[n] for n in past.assignments},
                    system_attrs=attrs,
                ))
        for past in history:
            self.issued.add(self._key(past.assignments))

    def requeue(self, assignments, token) -> None:
        keep = {k: v for k, v in token.items() if k == "gridId"}
        self.pending_requeue.append((dict(assignments), keep))


class SkoptSuggester(Suggester):
    """Bayesian optimization with scikit-optimize, over the space Katib's skopt service builds.

    skopt/base_service.py create_optimizer: an int is skopt.space.Integer(min, max), a double
    skopt.space.Real(min, max, "log-uniform") whatever its distribution, a list a Categorical; steps and
    distributions are not used. The runner builds the same space, so trials get what the service would
    suggest (and an Experiment the service cannot build is refused before, see ``never_starts``).

    Katib asks the optimizer for a batch; the runner asks one point at a time
    while others run, so pending points are told to a copy of the optimizer
    with a "constant liar" value (the best seen so far) before asking: the
    standard way to keep parallel suggestions apart.
    """

    def __init__(self, plan: Plan, settings: dict, seed: int, notes: list[str]):
        from skopt import Optimizer
        from skopt.space import Categorical, Integer, Real

        self.plan = plan
        self.params = list(plan.parameters)
        self.sign = -1.0 if plan.objective.maximize else 1.0  # skopt minimizes
        dims = []
        ignored = [p.name for p in self.params if p.step is not None or p.distribution != "uniform"]
        if ignored:
            notes.append(f"the skopt service (bayesianoptimization) ignores step and distribution "
                         f"({', '.join(ignored)}): ints are searched whole, doubles log-uniformly, as on Katib")
        for p in self.params:
            if p.type == "int":
                dims.append(Integer(int(p.min), int(p.max), name=p.name))
            elif p.type == "double":
                dims.append(Real(float(p.min), float(p.max), "log-uniform", name=p.name))
            else:
                dims.append(Categorical(list(p.values), name=p.name))
        self.rng = random.Random(seed)
        self.optimizer = Optimizer(
            dims,
            base_estimator=settings.get("base_estimator", "GP"),
            n_initial_points=settings.get("n_initial_points", 10),
            acq_func=settings.get("acq_func", "gp_hedge"),
            acq_optimizer=settings.get("acq_optimizer", "auto"),
            random_state=seed,
        )
        self.pending: dict[int, list] = {}
        self.next_id = 0
        self.requeued: list[dict] = []

    def _point(self, assignments: Mapping[str, str]) -> list:
        return [int(assignments[p.name]) if p.type == "int" else float(assignments[p.name]) if p.type == "double"
                else assignments[p.name] for p in self.params]

    def ask(self) -> Suggestion | None:
        with warnings.catch_warnings():
            # "evaluated at this point before" is expected on small discrete spaces.
            warnings.simplefilter("ignore", UserWarning)
            if self.requeued:
                x = self._point(self.requeued.pop(0))
            elif self.pending:
                told = self.optimizer.yi
                lie = min(told) if told else 0.0
                trial = self.optimizer.copy(random_state=self.rng.randrange(2**31))
                trial.tell(list(self.pending.values()), [lie] * len(self.pending))
                x = trial.ask()
            else:
                x = self.optimizer.ask()
        x = [v.item() if hasattr(v, "item") else v for v in x]
        ident = self.next_id
        self.next_id += 1
        self.pending[ident] = x
        assignments = {p.name: format_value(p, v, "bayesianoptimization") for p, v in zip(self.params, x)}
        return Suggestion(assignments, {"id": ident})

    def tell(self, suggestion: Suggestion, state: str, value: float | None) -> None:
        x = self.pending.pop(suggestion.token.get("id"), None)
        if x is None or state != "complete" or value is None:
            return  # Katib's service learns only from succeeded trials
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.optimizer.tell(x, self.sign * value)

    def replay(self, history: Sequence[Past]) -> None:
        xs, ys = [], []
        for past in history:
            if past.state == "complete" and past.value is not None:
                xs.append(self._point(past.assignments))
                ys.append(self.sign * past.value)
        if xs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.optimizer.tell(xs, ys)
        self.next_id = len(history)

    def requeue(self, assignments, token) -> None:
        self.requeued.append(dict(assignments))


def continued_seed(seed: int, finished: int) -> int:
    """The sampler's seed for a run that continues after `finished` trials: Katib's service keeps drawing from
    where it was (LongRunning keeps it running), so a resumed run must not start the seed's stream over and draw
    the trials it already ran again. Deterministic, so a resumed run can be repeated too."""
    return seed if finished == 0 else random.Random(f"{seed}/{finished}").randrange(2**31)


def make_suggester(plan: Plan, seed: int, notes: list[str], finished: int = 0) -> Suggester:
    """The suggester for the plan's algorithm; UserError when it cannot run here. finished: how many trials
    a resumed run already has (its sampler continues instead of repeating them)."""
    check_available(plan)
    if plan.algorithm.name != "grid":  # GridSampler draws no stream: it skips the grid ids the history used
        seed = continued_seed(seed, finished)
    settings = read_settings(plan, notes)
    name = plan.algorithm.name

    if name == "bayesianoptimization":
        try:
            import skopt  # noqa: F401
        except ImportError:
            raise plan.error("bayesianoptimization needs scikit-optimize: pip install scikit-optimize",
                             (*plan.algorithm.path, "algorithmName")) from None
        return SkoptSuggester(plan, settings, seed, notes)

    with _quiet():
        return _optuna_suggester(plan, name, settings, seed, notes)


def _grid_sampler_class():
    from optuna.samplers import GridSampler

    class _GridSampler(GridSampler):
        def after_trial(self, study, trial, state, values) -> None:
            # GridSampler stops an exhausted study with study.stop(), which only
            # works inside study.optimize(); the runner tracks exhaustion itself.
            return None

    return _GridSampler


def _optuna_suggester(plan: Plan, name: str, settings: dict, seed: int, notes: list[str]) -> Suggester:
    import optuna

    _GridSampler = _grid_sampler_class()
    distributions = optuna_distributions(plan, notes)
    if name == "random":
        return OptunaSuggester(plan, optuna.samplers.RandomSampler(seed=seed), distributions)
    if name == "grid":
        values = {p.name: grid_values(p, plan) for p in plan.parameters}
        size = math.prod(len(v) for v in values.values())
        if size > MAX_GRID_POINTS:
            raise plan.error(f"the grid has {size} points, more than {MAX_GRID_POINTS} "
                             "can be enumerated; add steps or use another algorithm",
                             ("spec", "parameters"))
        internal = {n: [int(v) if isinstance(v, int) else v for v in vs] for n, vs in values.items()}
        sampler = _GridSampler(internal, seed=seed)
        if plan.max_trial_count is not None and plan.max_trial_count > size:
            notes.append(f"grid has {size} combinations; maxTrialCount {plan.max_trial_count} "
                         "is more (Katib's grid service rejects that on a cluster)")
        return OptunaSuggester(plan, sampler, distributions, grid=internal)
    if name in ("tpe", "multivariate-tpe"):
        kwargs: dict[str, Any] = {"seed": seed, "multivariate": name == "multivariate-tpe",
                                  "constant_liar": True}
        if "n_startup_trials" in settings:
            kwargs["n_startup_trials"] = settings["n_startup_trials"]
        candidates = settings.get("n_ei_candidates", settings.get("n_EI_candidates"))
        if candidates is not None:
            kwargs["n_ei_candidates"] = candidates
        if "gamma" in settings:
            fraction = settings["gamma"]
            # hyperopt's gamma: the best ceil(gamma * sqrt(n)) trials form the "good" group.
            kwargs["gamma"] = lambda n: min(math.ceil(fraction * math.sqrt(n)), 25)
        if "prior_weight" in settings:
            notes.append("tpe setting prior_weight is deprecated in Optuna and ignored locally")
        return OptunaSuggester(plan, optuna.samplers.TPESampler(**kwargs), distributions)
    if name == "cmaes":
        numeric = [p for p in plan.parameters if p.type in ("int", "double")]
        if len(numeric) < 2:
            raise plan.error("cmaes needs two or more int/double parameters (Katib rejects fewer)",
                             ("spec", "parameters"))
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise plan.error("cmaes needs the cmaes package: pip install cmaes",
                             (*plan.algorithm.path, "algorithmName")) from None
        if settings.get("restart_strategy") not in (None, "none"):
            notes.append("cmaes restart_strategy is no longer supported by Optuna; "
                         "running without restarts")
        sampler = optuna.samplers.CmaEsSampler(
            sigma0=settings.get("sigma"), seed=seed,
            independent_sampler=optuna.samplers.RandomSampler(seed=seed),
            warn_independent_sampling=False,
        )
        return OptunaSuggester(plan, sampler, distributions)
    # sobol
    sampler = optuna.samplers.QMCSampler(
        qmc_type="sobol", seed=seed,
        independent_sampler=optuna.samplers.RandomSampler(seed=seed),
        warn_independent_sampling=False, warn_asynchronous_seeding=False,
    )
    return OptunaSuggester(plan, sampler, distributions)


def resolve_seed(plan: Plan, explicit: int | None, previous: int | None = None) -> int:
    """--seed, else the algorithm's random_state, else the resumed run's, else a fresh one.

    The seed is recorded with the results, so any run can be repeated.
    """
    if explicit is not None:
        return explicit
    for s in plan.algorithm.settings:
        if s.name == "random_state" and s.value.strip().isdigit():
            return int(s.value)
    if previous is not None:
        return previous
    return random.SystemRandom().randrange(2**31)
