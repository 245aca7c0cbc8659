"""Case directories: cases/<rule>/{positive,negative}/*.yaml, each the iris Experiment with one change.

A negative case declares what it must produce in its header:

    # expect: katib-3 spec.parallelTrialCount @a
    ...
      parallelTrialCount: 20 # @a

i.e. the rule id, the reported field path (``-`` for none) and a marker on the
line the finding must point at. The errors found must be exactly the declared
ones; ``# expect-warning:`` lines must be among the warnings. A positive case
must produce no error. ``# options: key=value ...`` sets ValidationOptions.
"""

from __future__ import annotations

import json
import re
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from conftest import cli
from katib_gitops.io.findings import ERROR
from katib_gitops.validation import ValidationOptions, validate_paths

CASES = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES.glob("*/*/*.yaml"))

WEBHOOK_RULES = [f"katib-{n}" for n in range(1, 17)]
KUBERNETES_RULES = ["k8s-quantity", "k8s-resources", "k8s-restart-policy", "k8s-container-name", "k8s-volume-mount",
                    "k8s-volume-name", "k8s-env-name", "k8s-toleration", "k8s-extended-resource", "k8s-schema"]


class Case:
    def __init__(self, path: Path):
        self.path = path
        self.rule_dir, self.kind = path.parts[-3], path.parts[-2]
        self.text = path.read_text()
        marks = {}
        for number, line in enumerate(self.text.splitlines(), start=1):
            m = re.search(r"# (@\w+)$", line)
            if m:
                marks[m.group(1)] = number
        self.errors = self._expectations("expect", marks)
        self.warnings = self._expectations("expect-warning", marks)
        self.options = self._options()

    def _expectations(self, key: str, marks: dict[str, int]) -> set[tuple[str, str, int]]:
        out = set()
        for rule, path, mark in re.findall(rf"^# {key}: (\S+) (\S+) (@\w+)$", self.text, re.M):
            out.add((rule, "" if path == "-" else path, marks[mark]))
        return out

    def _options(self) -> ValidationOptions:
        m = re.search(r"^# options: (.*)$", self.text, re.M)
        kw: dict[str, object] = {}
        for item in (m.group(1).split() if m else []):
            key, value = item.split("=", 1)
            if key in ("strict", "inject_security_context"):
                kw[key] = value == "true"
            elif key.startswith("extra_"):
                kw[key] = tuple(value.split(","))
            else:
                kw[key] = value
        return ValidationOptions(**kw)

    def cli_args(self) -> list[str]:
        o = self.options
        args = ["--strict"] if o.strict else []
        args += [f"--algorithm={a}" for a in o.extra_algorithms]
        args += [f"--metrics-collector={k}" for k in o.extra_collectors]
        args += ["--inject-security-context"] if o.inject_security_context else []
        if o.kubernetes_version:
            args.append(f"--kubernetes-version={o.kubernetes_version}")
        if o.pod_security:
            args.append(f"--pod-security={o.pod_security}")
        return args


def _id(path: Path) -> str:
    return "/".join(path.parts[-3:]).removesuffix(".yaml")


def found(case: Case) -> tuple[set[tuple[str, str, int]], set[tuple[str, str, int]]]:
    report = validate_paths([str(case.path)], case.options)
    errors = {(f.rule, f.dotted, f.line) for f in report.findings if f.severity == ERROR}
    warnings = {(f.rule, f.dotted, f.line) for f in report.findings if f.severity != ERROR}
    return errors, warnings


@pytest.mark.parametrize("path", CASE_FILES, ids=_id)
def test_case(path: Path) -> None:
    case = Case(path)
    errors, warnings = found(case)
    if case.kind == "positive":
        assert not case.errors, "a positive case declares no errors"
        assert errors == set()
    else:
        assert case.errors or case.warnings, "a negative case must declare what it expects"
        assert errors == case.errors
        assert case.warnings <= warnings
        # The case sits in the directory of the rule it is about.
        assert case.rule_dir in {r for r, _, _ in case.errors | case.warnings}


NEGATIVE_CASES = [p for p in CASE_FILES if p.parts[-2] == "negative" and "# expect: " in p.read_text()]


@pytest.mark.parametrize("output", ["text", "json", "github"])
@pytest.mark.parametrize("path", NEGATIVE_CASES, ids=_id)
def test_case_through_cli(path: Path, output: str) -> None:
    """Every broken variant exits 1 and names the field path and the source line, in all three formats."""
    case = Case(path)
    buf = StringIO()
    with redirect_stdout(buf):
        status = cli("validate", f"--output={output}", *case.cli_args(), str(path))
    assert status == 1
    out = buf.getvalue()
    for rule, field, line in case.errors:
        if output == "json":
            items = json.loads(out)
            assert any(i["rule"] == rule and i["path"] == field and i["line"] == line and i["file"] == str(path)
                       and i["severity"] == "error" for i in items)
        elif output == "text":
            prefix = f"{path}:{line}:"
            assert any(l.startswith(prefix) and (f" {field}: " in l if field else True) and l.endswith(f"[{rule}]")
                       for l in out.splitlines())
        else:
            assert any(l.startswith("::error ") and f",line={line}," in l and f"title={rule}::" in l
                       and (f"::{field}: " in l if field else True) for l in out.splitlines())


# Katib behaviours beyond the webhook's numbered rules (docs/katib-rules.md), and our own lints.
FIDELITY_RULES = ["katib-job-roundtrip", "katib-unused-parameter", "primary-container", "experiment-name-dot",
                  "k8s-name", "metrics-filter-groups", "search-space", "katib-collector-config",
                  "katib-algorithm-settings", "katib-early-stopping-settings", "katib-namespace-label",
                  "katib-command-wrap", "pod-security-sidecar", "metrics-filter-crash", "metrics-filter-unused",
                  "pod-webhook"]
# Experiments Katib accepts that never start a trial (validation/never_starts.py).
NEVER_STARTS_RULES = ["never-starts-service", "suggestion-stalls", "never-starts-metadata", "never-starts-value",
                      "never-starts-suggestion-volume", "never-starts-nas-reference", "never-starts-trial-name"]


def test_every_rule_has_a_negative_case() -> None:
    covered = {p.parts[-3] for p in CASE_FILES if p.parts[-2] == "negative"}
    missing = [r for r in (*WEBHOOK_RULES, *KUBERNETES_RULES, *FIDELITY_RULES, *NEVER_STARTS_RULES, "schema")
               if r not in covered]
    assert not missing


def test_misspelt_field_suggests_the_right_name() -> None:
    case = Case(CASES / "schema" / "negative" / "max-trial-counts.yaml")
    [finding] = validate_paths([str(case.path)]).findings
    assert "did you mean `maxTrialCount`?" in finding.message


def test_every_katib_rule_is_in_the_rule_table() -> None:
    """docs/katib-rules.md names each rule id with what Katib does and where in its source."""
    table = (CASES.parents[2] / "docs" / "katib-rules.md").read_text()
    rows = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| `")}
    missing = [r for r in (*WEBHOOK_RULES, *FIDELITY_RULES, *NEVER_STARTS_RULES)
               if not any(f"`{r}`" in row or (r.startswith("k8s-") and "`k8s-*`" in row) for row in rows)]
    assert not missing
