"""The package reads as the pipeline: each stage a subpackage, every import pointing down, no cycle.

Every import in generator/katib_gitops is scanned, top-level and lazy (inside functions, under
TYPE_CHECKING) alike, so a cycle hidden in a function body fails here too. The stage order is the one
docs/architecture.md describes; a module imports only from its own stage or from a stage below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "generator" / "katib_gitops"

# Bottom to top: docs/architecture.md. The package itself holds only __version__ and sits below every stage;
# cli and __main__ sit above all of them.
STAGES = ("io", "spec", "profiles", "repo", "deploy", "build", "live", "validation", "pipeline", "scaffold",
          "plan", "outcomes", "runner", "commands")
ROOT = "katib_gitops"
TOP_LEVEL = {"katib_gitops.cli", "katib_gitops.__main__"}
DATA_PACKAGES = ("templates",)  # package data (the cookiecutter template), never imported as code


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[0] in DATA_PACKAGES:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(["katib_gitops", *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules that name imports (a package's __init__ counts as the package)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.add(candidate if candidate in MODULES else module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _stage(module: str) -> int:
    if module == ROOT:
        return -1
    if module in TOP_LEVEL:
        return len(STAGES)
    return STAGES.index(module.split(".")[1])


def test_every_module_belongs_to_a_stage():
    loose = [m for m in MODULES if m != ROOT and m not in TOP_LEVEL and m.split(".")[1] not in STAGES]
    assert loose == [], "a module outside every stage: put it in the stage it belongs to (docs/architecture.md)"


def test_the_package_itself_imports_nothing():
    """``katib_gitops`` (its __version__) is read by every stage: it may import none of them."""
    assert GRAPH[ROOT] == set()


def test_no_module_imports_from_a_stage_above_its_own():
    upward = sorted(f"{m} -> {d}" for m, deps in GRAPH.items() for d in deps if _stage(d) > _stage(m))
    assert upward == []


def test_no_import_cycle():
    # Tarjan's strongly connected components over the whole graph (lazy imports included).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(GRAPH[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_scan_sees_lazy_imports():
    """The test above can fail: a lazy import inside a function is in the graph."""
    # commands.check imports the check pipeline inside its function, after starting the builds
    assert "katib_gitops.pipeline.check" in GRAPH["katib_gitops.commands.check"]
    assert _stage("katib_gitops.pipeline.check") > _stage("katib_gitops.build.builds")


def test_the_documented_stages_are_the_tested_ones():
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    positions = [text.index(f"`{stage}/`") for stage in STAGES]
    assert positions == sorted(positions), "docs/architecture.md lists the stages bottom to top, as STAGES does"
