"""Train a logistic regression on iris and print its test accuracy.

The one line on stdout, ``accuracy=<value>``, is what Katib's StdOut metrics
collector parses with its default filter; nothing else is printed on success.
The data set ships with scikit-learn, so no network is needed.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import warnings
from typing import Sequence

PENALTIES = ("l2", "l1", "elasticnet", "none")


def _checked(kind: type, ok, requirement: str):
    """An argparse type: text read as kind (int or float), then held to requirement."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{requirement}, got {text!r}")
        return value
    return parse


positive_float = _checked(float, lambda v: math.isfinite(v) and v > 0, "must be a positive finite number")
positive_int = _checked(int, lambda v: v >= 1, "must be at least 1")
ratio = _checked(float, lambda v: 0.0 <= v <= 1.0, "must be between 0 and 1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Logistic regression on the iris data set; prints accuracy=<value>."
    )
    parser.add_argument("--penalty", choices=PENALTIES, default="l2",
                        help="regularisation: l2, l1, elasticnet or none (default: l2)")
    parser.add_argument("--tol", type=positive_float, default=1e-4,
                        help="tolerance for the stopping criterion (default: 1e-4)")
    parser.add_argument("--C", dest="C", type=positive_float, default=1.0,
                        help="inverse regularisation strength (default: 1.0)")
    parser.add_argument("--max-iter", type=positive_int, default=100,
                        help="maximum solver iterations (default: 100)")
    parser.add_argument("--l1-ratio", type=ratio, default=0.5,
                        help="L1 share of an elasticnet penalty (default: 0.5)")
    parser.add_argument("--random-state", type=int, default=1337,
                        help="seed of the train/test split and the solver (default: 1337)")
    return parser


def model_arguments(penalty: str, C: float, l1_ratio: float) -> dict:
    """Keyword arguments for LogisticRegression expressing `penalty`.

    scikit-learn 1.8 deprecated ``penalty`` in favour of ``l1_ratio`` (0: L2,
    1: L1, between: elastic net) and ``C=inf`` (no penalty). Older versions
    only understand ``penalty``; both spellings give the same model.
    """
    from sklearn.linear_model import LogisticRegression

    new_api = inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"
    # lbfgs handles L2 and no penalty; only saga handles L1 and elastic net
    # for a multinomial (3-class) problem.
    solver = "saga" if penalty in ("l1", "elasticnet") else "lbfgs"
    if new_api:
        if penalty == "none":
            return {"C": math.inf, "l1_ratio": 0.0, "solver": solver}
        share = {"l2": 0.0, "l1": 1.0, "elasticnet": l1_ratio}[penalty]
        return {"C": C, "l1_ratio": share, "solver": solver}
    if penalty == "none":
        return {"penalty": None, "solver": solver}
    extra = {"l1_ratio": l1_ratio} if penalty == "elasticnet" else {}
    return {"penalty": penalty, "C": C, "solver": solver, **extra}


def train(penalty: str, tol: float, C: float, max_iter: int, l1_ratio: float,
          random_state: int) -> float:
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=random_state
    )
    clf = LogisticRegression(tol=tol, max_iter=max_iter, random_state=random_state,
                             **model_arguments(penalty, C, l1_ratio))
    with warnings.catch_warnings():
        # Tiny iteration budgets (the tutorial tries max_iter=3) are the point
        # of the search, not a problem worth a warning per trial.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    return float(accuracy_score(y_test, clf.predict(X_test)))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    accuracy = train(args.penalty, args.tol, args.C, args.max_iter, args.l1_ratio,
                     args.random_state)
    print(f"accuracy={accuracy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
