"""An added Experiment in one line: what a reviewer approves when a pull request starts a new search.

Algorithm, objective and goal, the parameters, the trial budget (maxTrialCount × GPUs per trial, and how
many run at once) and the image of the primary container, read from the Experiment as its overlay deploys
it (the profile's GPUs included).
"""

from __future__ import annotations

from typing import Any, Iterator

from ..repo.deployment import gpu_use


def one_line(experiment: dict[str, Any]) -> str:
    spec = experiment.get("spec") if isinstance(experiment.get("spec"), dict) else {}
    parts = [f"{(spec.get('algorithm') or {}).get('algorithmName', '?')} search", _objective(spec),
             _parameters(spec), _budget(experiment, spec), _image(spec)]
    return ", ".join(p for p in parts if p)


def _objective(spec: dict[str, Any]) -> str:
    obj = spec.get("objective") or {}
    goal = obj.get("goal")
    return f"{obj.get('type', '?')} {obj.get('objectiveMetricName', '?')}" + (
        f" (goal {goal})" if goal is not None else " (no goal)")


def _parameters(spec: dict[str, Any]) -> str:
    params = [p for p in spec.get("parameters") or [] if isinstance(p, dict)]
    if not params:
        return "NAS search space" if spec.get("nasConfig") else ""
    names = ", ".join(str(p.get("name")) for p in params)
    return f"{len(params)} parameter{'s' if len(params) != 1 else ''} ({names})"


def _budget(experiment: dict[str, Any], spec: dict[str, Any]) -> str:
    use = gpu_use(experiment)
    trials = spec.get("maxTrialCount")
    if not isinstance(trials, int):
        return f"no maxTrialCount (runs until the goal or the search space ends), {use.parallel} at once"
    if not use.per_trial:
        return f"{trials} trials, no GPUs, {use.parallel} at once"
    return (f"{trials} trials × {use.per_trial} GPU(s) = {trials * use.per_trial} GPU-trials, "
            f"{use.parallel} at once ({use.at_once} GPU(s))")


def _image(spec: dict[str, Any]) -> str:
    template = spec.get("trialTemplate") or {}
    if template.get("configMap"):
        cm = template["configMap"]
        return f"trial template from ConfigMap {cm.get('configMapNamespace', '?')}/{cm.get('configMapName', '?')}"
    primary = template.get("primaryContainerName")
    containers = list(_containers(template.get("trialSpec")))
    chosen = next((c for c in containers if c.get("name") == primary), containers[0] if containers else None)
    return f"image {chosen.get('image')}" if chosen and chosen.get("image") else ""


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for x in node:
            yield from _containers(x)
    elif isinstance(node, dict):
        for c in node.get("containers") or [] if isinstance(node.get("containers"), list) else []:
            if isinstance(c, dict):
                yield c
        for key, value in node.items():
            if key != "containers":
                yield from _containers(value)
