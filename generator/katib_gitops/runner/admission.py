"""What Katib refuses before any trial runs, asked of the same rules `validate` uses.

Right after an Experiment is created, the suggestion service that runs its
algorithm (the default katib-config's: hyperopt for random and tpe, optuna for
grid and multivariate-tpe, goptuna for cmaes and sobol, skopt for
bayesianoptimization) checks the algorithm and its settings
(ValidateAlgorithmSettings in pkg/suggestion/v1beta1/*/service.py and
goptuna/service.go); a refusal fails the Experiment before a trial exists.
The medianstop service checks its settings the same way; and an Experiment
that passes every check can still never start a trial (``never_starts``: the
service raises on its first GetSuggestions call, a trial cannot be built). Those checks are
modelled once, in the validation package's Katib rules
(``validation.katib_rules``); the runner asks them about the Experiment it is
given, so a refused algorithm or setting fails ``run`` up front with the very
message ``validate`` gives, and the runner never runs what the cluster would not.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from ..io.findings import ERROR, Finding
from ..io.yamlio import Document

# What the suggestion and early-stopping services check, where `validate` reports it.
SERVICES = (("spec", "algorithm"), ("spec", "earlyStopping"))
# Experiments Katib accepts that never start a trial (validation/never_starts.py), whatever their path.
NEVER_STARTS = ("never-starts-", "suggestion-stalls")


def refusal(experiment: Mapping[str, Any], doc: Document | None = None, source: str = "-") -> Finding | None:
    """validate's first error about spec.algorithm or spec.earlyStopping (names, settings), or that the
    Experiment never starts, or None.

    ``doc`` gives positions when the Experiment was read from a file; an
    Experiment rendered from a spec has none in that spec (line 0).
    """
    from ..validation import katib_rules

    checked = doc if doc is not None else Document(data=dict(experiment), file=source, index=0)
    for finding in katib_rules.check(checked):
        if finding.severity == ERROR and (tuple(finding.path[:2]) in SERVICES or finding.rule.startswith(NEVER_STARTS)):
            return finding if doc is not None else dataclasses.replace(finding, line=0, column=0)
    return None
