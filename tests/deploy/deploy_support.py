"""Helpers for the deploy tests: configs to render, fixtures, CRD schemas, Lua and CEL drivers."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import yaml

from katib_gitops.repo.repository import ArgoSettings, FluxSettings, GitSource, RepoConfig
from katib_gitops.io.yamlio import load_one

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "health_fixtures"
LUA_HARNESS = HERE / "lua_harness.lua"
PROFILES = ["cpu", "gpu", "gpu-a100"]

# --------------------------------------------------------------------------- configs


def configs() -> dict[str, RepoConfig]:
    """Repository settings that change what deploy/ holds, by a short id."""
    base = RepoConfig()
    return {
        "defaults": base,
        "prune": replace(base, prune=True),
        "per-profile": replace(base, sync="profiles"),
        "namespace": replace(base, create_namespace=True, namespace="team-a"),
        "applicationset": replace(base, argocd=ArgoSettings(mode="applicationset")),
        "applicationset-prune-subdir": replace(
            base, prune=True, default_profile="gpu", argocd=ArgoSettings(mode="applicationset", namespace="gitops"),
            git=GitSource(repo_url="git@github.com:acme/ml.git", revision="release-1", path="./teams/vision/")),
        "subdir-commit": replace(
            base, sync="profiles", git=GitSource(revision="0123456789abcdef0123456789abcdef01234567", path="katib"),
            flux=FluxSettings(namespace="flux", interval="90s")),
        "head": replace(base, git=GitSource(revision="HEAD")),
    }


def emitted_objects(config: RepoConfig, profiles: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    from katib_gitops.deploy import deploy_files

    for path, docs in deploy_files(config, profiles or PROFILES).items():
        for doc in docs if isinstance(docs, list) else [docs]:
            yield path, doc


# --------------------------------------------------------------------------- health fixtures


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.yaml"))


def load_fixture(path: Path) -> dict[str, Any]:
    # yamlio keeps timestamps as text, as they arrive from the API server.
    return load_one(str(path)).data


# --------------------------------------------------------------------------- upstream CRDs


@lru_cache(maxsize=None)
def _served_schema(crd_file: Path, version: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(crd_file.read_text(), Loader=loader)
    for v in crd["spec"]["versions"]:
        if v["name"] == version and v.get("served"):
            return v["schema"]["openAPIV3Schema"]
    raise LookupError(f"{crd_file.name} serves no version {version}")


@lru_cache(maxsize=None)
def crd_schema(crd_file: Path, version: str) -> dict[str, Any]:
    """The openAPIV3Schema of a served version, as strict JSON Schema.

    The API server prunes or (with strict field validation, kubectl's default)
    refuses fields a structural schema does not declare; JSON Schema allows
    them unless told otherwise, so every object node that lists properties and
    does not preserve unknown fields gets additionalProperties: false.
    """
    return _strict(_served_schema(crd_file, version))


@lru_cache(maxsize=None)
def crd_validator(crd_file: Path, version: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(crd_schema(crd_file, version))


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties"):
            # a mapping of names to schemas, not a schema itself
            out[key] = {name: _strict(sub) for name, sub in value.items()}
        else:
            out[key] = _strict(value)
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if ("properties" in node and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def crd_rules(crd_file: Path, version: str) -> dict[str, Any]:
    """The raw openAPIV3Schema (with x-kubernetes-validations) of a served version."""
    return _served_schema(crd_file, version)


def iter_rules(schema: dict[str, Any], data: Any, path: str = "") -> Iterator[tuple[str, str, str, Any]]:
    """(path, rule, message, self) for every x-kubernetes-validations rule that applies to data."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule["rule"], rule.get("message", rule["rule"]), data
    if isinstance(data, dict):
        for key, value in data.items():
            sub = (schema.get("properties") or {}).get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                yield from iter_rules(sub, value, f"{path}.{key}" if path else key)
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(data):
            yield from iter_rules(schema["items"], value, f"{path}[{i}]")


# --------------------------------------------------------------------------- Lua


@lru_cache(maxsize=1)
def _lua_harness() -> Any:
    """The harness as a function of Lua 5.1 (lupa's bundled runtime: Argo CD's gopher-lua implements 5.1)."""
    from lupa import lua51

    runtime = lua51.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=True)
    assert runtime.eval("_VERSION") == "Lua 5.1"
    return runtime.execute(LUA_HARNESS.read_text(encoding="utf-8"))


def lua_string(text: str) -> str:
    """A Lua 5.1 string literal; every byte outside printable ASCII as \\ddd."""
    out = []
    for b in text.encode("utf-8"):
        if 32 <= b < 127 and b not in (34, 92):
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def lua_literal(value: Any) -> str:
    """A Lua table constructor for JSON-like data, the shape Argo CD hands its scripts."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        items = (f"[{lua_string(str(k))}] = {lua_literal(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"no Lua form for {type(value).__name__}")


def run_lua_health(script: Path, obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) the health script returns for obj, run by a real Lua 5.1 (lupa.lua51)."""
    from lupa.lua51 import LuaError

    try:
        status, message = _lua_harness()(script.read_text(encoding="utf-8"), lua_literal(obj))
    except LuaError as exc:
        raise AssertionError(f"Lua 5.1 failed: {exc}") from None
    return str(status), str(message)


# --------------------------------------------------------------------------- CEL (Flux)

_ROOTS = ("apiVersion", "kind", "metadata", "spec", "status")


class CelError(Exception):
    pass


@lru_cache(maxsize=None)
def cel_program(expr: str) -> Any:
    import celpy

    env = celpy.Environment()
    return env.program(env.compile(expr))


def cel_eval(expr: str, obj: dict[str, Any]) -> bool:
    """Evaluate expr as Flux does: the object's top-level fields are the variables.

    Flux parses without declarations, so cel-go fails on a top-level field the
    object lacks, even inside has(); cel-python would answer false there, so
    that case is raised here explicitly to match Flux.
    """
    import celpy

    for root in _ROOTS:
        if root not in obj and re.search(rf"(?<![\w.]){root}\b", expr):
            raise CelError(f"no such attribute: {root}")
    activation = {k: celpy.json_to_cel(v) for k, v in obj.items()}
    try:
        result = cel_program(expr).evaluate(activation)
    except Exception as exc:  # cel-python raises its own error types
        raise CelError(str(exc)) from exc
    if not isinstance(result, bool):  # BoolType subclasses int, not bool
        if type(result).__name__ != "BoolType":
            raise CelError(f"not a boolean: {result!r}")
    return bool(result)


def flux_status(exprs: dict[str, str], obj: dict[str, Any]) -> str:
    """kstatus result of Flux's CEL status reader: InProgress, Failed, Current or Unknown (error)."""
    status = obj.get("status") or {}
    observed = status.get("observedGeneration") if isinstance(status, dict) else None
    generation = (obj.get("metadata") or {}).get("generation")
    if isinstance(observed, int) and isinstance(generation, int) and observed != generation:
        return "InProgress"
    for key, outcome in (("inProgress", "InProgress"), ("failed", "Failed"), ("current", "Current")):
        expr = exprs.get(key)
        if not expr:
            continue
        try:
            if cel_eval(expr, obj):
                return outcome
        except CelError:
            return "Unknown"
    return "InProgress"
