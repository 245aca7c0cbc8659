"""Container hygiene that no API server enforces but a reviewer would ask for.

- An env var whose name says it holds a secret (API_TOKEN, DB_PASSWORD,
  awsSecretAccessKey, ...) or whose value has a known token shape (AWS key,
  GitHub token, private key, ...) must not carry a literal ``value``: in a
  GitOps repository that value is committed for everyone to read. It must come
  from a Secret (error). Detection is detect-secrets' (see ``secrets``).
- An image without a tag, or tagged ``latest``, can change between trials of
  the same Experiment, so results stop being comparable (warning).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from ..io.findings import ERROR, WARNING, Finding, PathPart
from ..io.yamlio import Document
from . import secrets
from .access import as_list

def looks_secret(name: str) -> bool:
    return secrets.secret_name(name)


def image_problem(image: str) -> str | None:
    if "@" in image:
        return None  # pinned by digest
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag, so it means `latest`"
    if last.rsplit(":", 1)[1] == "latest":
        return "uses the `latest` tag"
    return None


def containers_in(pod: dict[str, Any]) -> Iterator[tuple[tuple[PathPart, ...], dict[str, Any]]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, ct in enumerate(as_list(pod.get(key))):
            if isinstance(ct, dict):
                yield (key, i), ct


def check_container(doc: Document, path: Sequence[PathPart], ct: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    for j, env in enumerate(as_list(ct.get("env"))):
        if not isinstance(env, dict):
            continue
        name, value = env.get("name"), env.get("value")
        if value in (None, "") or not isinstance(name, str):
            continue
        if looks_secret(name):
            out.append(doc.finding(f"`{name}` looks like a secret: it must come from secretKeyRef (valueFrom), "
                                   "not a literal value committed to git", (*path, "env", j, "value"),
                                   severity=ERROR, rule="secret-env"))
        elif isinstance(value, str) and (kind := secrets.secret_value(value)):
            out.append(doc.finding(f"the value of `{name}` looks like a secret ({kind}): it must come from "
                                   "secretKeyRef (valueFrom), not a literal value committed to git",
                                   (*path, "env", j, "value"), severity=ERROR, rule="secret-env"))
    image = ct.get("image")
    if isinstance(image, str) and image and "${" not in image:
        problem = image_problem(image)
        if problem:
            out.append(doc.finding(f"image `{image}` {problem}: pin a version so every trial runs the same code",
                                   (*path, "image"), severity=WARNING, rule="image-tag"))
    return out


def check_pod(doc: Document, template_path: Sequence[PathPart], template: dict[str, Any]) -> list[Finding]:
    pod = template.get("spec")
    if not isinstance(pod, dict):
        return []
    out: list[Finding] = []
    for path, ct in containers_in(pod):
        out += check_container(doc, (*template_path, "spec", *path), ct)
    return out
