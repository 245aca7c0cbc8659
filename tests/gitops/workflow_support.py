"""Run what a generated GitHub workflow says, as a runner would: each `run:` step in bash (`-e`, as GitHub's
default shell), with the step's env, the job's working-directory, and the variables the runner sets
(RUNNER_TEMP, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT). Expressions (`${{ ... }}`) appear only in env values and
`with:`; the test gives each one's value, and a step using one it did not give fails the test."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# The actions a workflow may use, pinned to one commit each (zizmor's unpinned-uses): a test holds every
# workflow and action.yml of the project to these.
SHA_PIN = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40})$")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The `on:` mapping (YAML 1.1 reads the key `on` as the boolean true)."""
    return workflow.get("on", workflow.get(True))


def substitute(value: str, expressions: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        assert match.group(1) in expressions, f"the test gives no value for ${{{{ {match.group(1)} }}}}"
        return expressions[match.group(1)]

    return EXPRESSION.sub(one, value)


def run_step(step: dict[str, Any], job: dict[str, Any], checkout: Path, runner: Path, env: dict[str, str],
             expressions: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """One run: step in bash from the job's working-directory under checkout; runner: RUNNER_TEMP's parent."""
    expressions = expressions or {}
    workdir = (step.get("working-directory") or job.get("defaults", {}).get("run", {}).get("working-directory")
               or ".")
    (runner / "temp").mkdir(parents=True, exist_ok=True)
    step_env = {k: substitute(str(v), expressions) for k, v in (step.get("env") or {}).items()}
    full_env = {**env, "RUNNER_TEMP": str(runner / "temp"), "GITHUB_STEP_SUMMARY": str(runner / "summary.md"),
                "GITHUB_OUTPUT": str(runner / "output"), "GITHUB_WORKSPACE": str(checkout), **step_env}
    assert "${{" not in step["run"], "an expression inside run: (zizmor's template-injection)"
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                          cwd=checkout / substitute(workdir, expressions), env=full_env, capture_output=True,
                          text=True, timeout=600)


def uses(document: Any) -> list[str]:
    """Every `uses:` value in a workflow or action (jobs' steps and composite steps)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("uses"), str):
                found.append(node["uses"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found


def pins(text: str) -> list[tuple[str, str, str]]:
    """(action, sha, version comment) of each `uses: owner/name@sha # vX` line in a file's text."""
    return [(m.group(1), m.group(2), m.group(3))
            for m in re.finditer(r"uses:\s*([\w.-]+/[\w.-]+)@([0-9a-f]{40})\s*#\s*(v[0-9][\w.]*)", text)]
