"""Findings: what every checking stage returns, kept apart from how it is reported.

A finding names a file, a position in it, the field path Katib or Kubernetes
would use (``spec.trialTemplate.trialParameters[1].reference``) and a message.
Reporters (text, json, github) only format lists of findings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence, Union

from .safetext import clean

PathPart = Union[str, int]

ERROR = "error"
WARNING = "warning"


def format_path(parts: Sequence[PathPart]) -> str:
    """Render a path the way Kubernetes and Katib print field paths."""
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif out:
            out += "." + str(part)  # str(): YAML keys may be null, true or numbers
        else:
            out = str(part)
    return out


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def value_at(data: object, path: Sequence[PathPart], missing: object = None) -> object:
    """The value a finding's path leads to in `data`, or `missing` where the path leaves it."""
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return missing
    return data


def quote_name(name: str) -> str:
    """A file name as one line: names holding a newline or other control character are quoted, escaped."""
    if not _UNPRINTABLE.search(name):
        return name
    return json.dumps(name, ensure_ascii=False)


@dataclass(frozen=True)
class Finding:
    message: str
    path: tuple[PathPart, ...] = ()
    file: str = "-"
    line: int = 0
    column: int = 0
    severity: str = ERROR
    rule: str = ""

    @property
    def dotted(self) -> str:
        return format_path(self.path)

    def one_line(self) -> str:
        """FILE:LINE:COL: [severity: ]PATH: message, as one safe line (``safetext.clean``: every value in it
        comes from input)."""
        where = f"{quote_name(self.file)}:{self.line}:{self.column}"
        what = f"{self.dotted}: " if self.path else ""
        sev = "" if self.severity == ERROR else f"{self.severity}: "
        return clean(f"{where}: {sev}{what}{self.message}")


def unique(findings: Iterable[Finding]) -> list[Finding]:
    """Each finding once, in first-seen order (stages that look at the same thing twice report it once)."""
    return list(dict.fromkeys(findings))


def shown(findings: Sequence[Finding], quiet: bool, strict: bool = False) -> list[Finding]:
    """What a --quiet run prints: errors only (warnings too under --strict); nothing on success."""
    if not quiet or strict:
        return list(findings)
    return [f for f in findings if f.severity == ERROR]


class UserError(Exception):
    """A mistake in the user's input: reported as one line, never a traceback."""

    def __init__(self, finding: Finding, exit_code: int = 1):
        super().__init__(finding.one_line())
        self.finding = finding
        self.exit_code = exit_code


@dataclass
class Report:
    """Findings collected across files; the exit status follows from them."""

    findings: list[Finding] = field(default_factory=list)

    def extend(self, items: Iterable[Finding]) -> None:
        self.findings.extend(items)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors
