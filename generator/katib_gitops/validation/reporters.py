"""Formatting findings: text (one per line), JSON (a list), GitHub workflow annotations.

Reporters only format; they never decide what is an error.
"""

from __future__ import annotations

import json
from typing import Callable, Sequence

from ..io.findings import ERROR, Finding
from ..io.safetext import clean, clean_lines, gh_data, gh_property

FORMATS = ("text", "json", "github")


def text(findings: Sequence[Finding]) -> str:
    """FILE:LINE:COL: PATH: message [rule], warnings marked as such."""
    return "".join(clean(f"{f.one_line()} [{f.rule}]") + "\n" if f.rule else f"{f.one_line()}\n" for f in findings)


def as_dict(f: Finding) -> dict[str, object]:
    return {"file": f.file, "line": f.line, "column": f.column, "path": f.dotted, "message": f.message,
            "severity": f.severity, "rule": f.rule}


def json_list(findings: Sequence[Finding]) -> str:
    # clean_lines: its escapes are JSON's, so the data decodes unchanged; no bidi or zero-width character
    # reaches a terminal raw, and no line can read as a workflow command.
    return clean_lines(json.dumps([as_dict(f) for f in findings], indent=2, ensure_ascii=False)) + "\n"


def github(findings: Sequence[Finding], prefix: str = "") -> str:
    """::error file=F,line=L,col=C,title=RULE::PATH: message — one workflow command per finding.

    prefix: the place of the directory the findings' relative paths start from inside the checkout
    (``repo.paths.git_prefix``), as GitHub reads an annotation's file from the top of the checkout.
    """
    lines = []
    for f in findings:
        level = "error" if f.severity == ERROR else "warning"
        file = f"{prefix}{f.file}" if prefix and f.file and not f.file.startswith(("/", "<")) else f.file
        props = [f"file={gh_property(file)}"]
        if f.line:
            props.append(f"line={f.line}")
        if f.column:
            props.append(f"col={f.column}")
        props.append(f"title={gh_property(f.rule or 'katib-gitops')}")
        what = f"{f.dotted}: {f.message}" if f.path else f.message
        lines.append(f"::{level} {','.join(props)}::{gh_data(what)}\n")
    return "".join(lines)


REPORTERS: dict[str, Callable[[Sequence[Finding]], str]] = {"text": text, "json": json_list, "github": github}


def render(findings: Sequence[Finding], output: str, prefix: str = "") -> str:
    """The findings in an output format; prefix: see ``github`` (the other formats keep the paths as found)."""
    return github(findings, prefix) if output == "github" else REPORTERS[output](findings)


def summary(findings: Sequence[Finding], documents: int) -> str:
    errors = sum(1 for f in findings if f.severity == ERROR)
    warnings = len(findings) - errors
    return (f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''} "
            f"in {documents} document{'s' if documents != 1 else ''}")
