"""The recorded `kubectl get experiments -A -o yaml` fixture, with items renamed for the test at hand."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

FIXTURE = Path(__file__).parent / "fixtures" / "experiments.yaml"
STATES = ("created", "running", "goal-reached", "max-trials", "max-trials-never", "suggestion-end", "failed",
          "suggestion-failed", "restarting", "resumed")


def recorded() -> dict:
    return yaml.safe_load(FIXTURE.read_text())


def item(state: str) -> dict:
    for it in recorded()["items"]:
        if it["metadata"]["name"] == f"iris-{state}":
            return copy.deepcopy(it)
    raise KeyError(state)


def live_file(tmp_path: Path, **states: str) -> Path:
    """A kubectl List with the recorded item of each state, named as given: live_file(p, iris_07204a5a="running")."""
    items = []
    for name, state in states.items():
        it = item(state)
        it["metadata"]["name"] = name.replace("_", "-")
        # the spec label katib-gitops puts on each Experiment: <spec>-<hash> comes from spec <spec>
        it["metadata"]["labels"]["katib-gitops.dev/spec"] = it["metadata"]["name"].rsplit("-", 1)[0]
        items.append(it)
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=False))
    return path
