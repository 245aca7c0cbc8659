"""Experiment names that change exactly when Katib would refuse an update.

Katib lets only parallelTrialCount, maxTrialCount and maxFailedTrialCount
change on a live Experiment. The name therefore carries a hash of everything
else in spec, plus every profile patch of the spec (an overlay's patch changes
the trial template too): an edit to the search space yields a new Experiment,
an edit to the counts updates the existing one in place.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..io.findings import UserError
from .model import Spec

MUTABLE_FIELDS = ("parallelTrialCount", "maxTrialCount", "maxFailedTrialCount")
MAX_NAME = 40
HASH_LEN = 8


def immutable_part(experiment_spec: dict[str, Any]) -> dict[str, Any]:
    # A shallow copy is enough: only top-level keys are dropped, and nothing below is changed.
    return {k: v for k, v in experiment_spec.items() if k not in MUTABLE_FIELDS}


def spec_hash(experiment_spec: dict[str, Any], patches: Any = None) -> str:
    payload = {"spec": immutable_part(experiment_spec), "patches": patches or {}}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LEN]


def experiment_name(spec: Spec, digest: str, position: Any) -> str:
    name = f"{spec.name}-{digest}" if spec.hash_name else spec.name
    if len(name) > MAX_NAME:
        raise UserError(position(
            f"Experiment name {name!r} is {len(name)} characters; Katib allows {MAX_NAME} "
            f"(with the {HASH_LEN + 1}-character hash suffix the spec name may have at most {MAX_NAME - HASH_LEN - 1})",
            ["name"], rule="katib-1"))
    return name
