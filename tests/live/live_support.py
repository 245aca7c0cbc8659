"""The recorded `kubectl get experiments,trials,suggestions -A -o yaml` fixture, with items renamed for the test
at hand, written back as kubectl prints it (keys sorted, "double-quoted" strings, a List with other kinds)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "experiments.yaml"
JSON_FIXTURE = FIXTURES / "experiments.json"  # the same objects as `-o json` prints them (a subset)
STATES = ("created", "running", "goal-reached", "max-trials", "max-trials-never", "suggestion-end", "failed",
          "suggestion-failed", "restarting", "resumed")


def recorded() -> dict:
    return yaml.safe_load(FIXTURE.read_text())


def item(state: str) -> dict:
    for it in recorded()["items"]:
        if it["kind"] == "Experiment" and it["metadata"]["name"] == f"iris-{state}":
            return copy.deepcopy(it)
    raise KeyError(state)


def others() -> list[dict]:
    """The Trial and Suggestion the recorded List holds beside the Experiments."""
    return [it for it in recorded()["items"] if it["kind"] != "Experiment"]


class _KubectlEmitter(yaml.emitter.Emitter):
    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        return '"' if style == "'" else style  # go-yaml quotes with double quotes


class KubectlDumper(_KubectlEmitter, yaml.serializer.Serializer, yaml.representer.SafeRepresenter,
                    yaml.resolver.Resolver):
    def __init__(self, stream, **kw: Any):
        _KubectlEmitter.__init__(self, stream, width=10**6, allow_unicode=True)
        yaml.serializer.Serializer.__init__(self)
        yaml.representer.SafeRepresenter.__init__(self, sort_keys=True)
        yaml.resolver.Resolver.__init__(self)


def kubectl_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=KubectlDumper, default_flow_style=False)


def kubectl_list(items: list[dict]) -> dict:
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def live_file(tmp_path: Path, fmt: str = "yaml", **states: str) -> Path:
    """A kubectl List with the recorded item of each state, named as given: live_file(p, iris_07204a5a="running"),
    plus the recorded Trial and Suggestion (kubectl get experiments,trials,suggestions)."""
    items = []
    for name, state in states.items():
        it = item(state)
        it["metadata"]["name"] = name.replace("_", "-")
        # the spec label katib-gitops puts on each Experiment: <spec>-<hash> comes from spec <spec>
        it["metadata"]["labels"]["katib-gitops.dev/spec"] = it["metadata"]["name"].rsplit("-", 1)[0]
        items.append(it)
    path = tmp_path / f"live.{fmt}"
    data = kubectl_list(items + others())
    path.write_text(kubectl_yaml(data) if fmt == "yaml" else json.dumps(data, indent=4, sort_keys=True) + "\n")
    return path


def as_deployed(live: Path, name: str, built: dict) -> None:
    """The item called name holds what an overlay built (the cluster has what Argo CD or Flux applied)."""
    data = yaml.safe_load(live.read_text())
    for it in data["items"]:
        if it["kind"] == "Experiment" and it["metadata"]["name"] == name:
            it["spec"] = copy.deepcopy(built["spec"])
    live.write_text(kubectl_yaml(data) if live.suffix == ".yaml" else json.dumps(data, indent=4, sort_keys=True))
