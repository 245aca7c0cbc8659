"""Metrics collection with the rules of Katib's StdOut and File collectors.

- StdOut: Katib redirects the primary container's stdout *and* stderr into
  its metrics file and parses that as TEXT; the runner does the same with the
  trial's log.
- File TEXT: every line that mentions a metric name is matched against the
  filters (``metricsFormat`` or Katib's default); each match gives a metric
  name (group 1) and value (group 2); only the experiment's metric names count.
- File JSON: one JSON object per line; a metric counts only when its value is
  a JSON *string* (Katib's collector skips numbers silently; the runner says so).
- A trial whose objective metric is never reported is "metrics unavailable".
- metricStrategies pick the trial's value: min, max or latest of the values
  that parse as numbers.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


class MetricsError(Exception):
    """The metrics source cannot be parsed (Katib's collector would fail the same way)."""


@dataclass(frozen=True)
class Report:
    """One reported value, in the order the trial reported it."""

    name: str
    value: str


@dataclass(frozen=True)
class MetricSummary:
    min: float
    max: float
    latest: float

    def pick(self, strategy: str) -> float:
        return {"min": self.min, "max": self.max, "latest": self.latest}[strategy]

    def to_json(self) -> dict:
        return {"min": self.min, "max": self.max, "latest": self.latest}


@dataclass
class Observation:
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def value(self, metric: str, strategy: str) -> float | None:
        summary = self.metrics.get(metric)
        return None if summary is None else summary.pick(strategy)


def to_number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class TextParser:
    def __init__(self, metric_names: Sequence[str], filters: Sequence[str] = ()):
        self.metric_names = tuple(metric_names)
        self.patterns = [re.compile(f) for f in (filters or (DEFAULT_FILTER,))]

    def parse_line(self, line: str) -> list[Report]:
        # Lines naming no metric are skipped before any regex runs, as Katib does.
        if not any(m in line for m in self.metric_names):
            return []
        out = []
        for pattern in self.patterns:
            for match in pattern.finditer(line):
                name, value = match.group(1), match.group(2)
                if name is None or value is None:
                    continue
                name, value = name.strip(), value.strip()
                if name in self.metric_names:
                    out.append(Report(name, value))
        return out


class JsonParser:
    def __init__(self, metric_names: Sequence[str]):
        self.metric_names = tuple(metric_names)
        self.warnings: list[str] = []

    def parse_line(self, line: str) -> list[Report]:
        if not line.strip():
            return []
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MetricsError(f"metrics file line is not JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise MetricsError("metrics file line is not a JSON object")
        out = []
        for m in self.metric_names:
            if m not in obj:
                continue
            value = obj[m]
            if isinstance(value, str):
                out.append(Report(m, value))
            else:
                note = (f"{m} is a JSON {type(value).__name__}, not a string: Katib's JSON "
                        f"collector ignores it (write \"{m}\": \"{value}\")")
                if note not in self.warnings:
                    self.warnings.append(note)
        return out


def make_parser(kind: str, fmt: str, metric_names: Sequence[str], filters: Sequence[str]):
    if kind == "File" and fmt == "JSON":
        return JsonParser(metric_names)
    return TextParser(metric_names, filters)


def parse_text(parser, text: str) -> list[Report]:
    reports: list[Report] = []
    for line in text.split("\n"):
        reports.extend(parser.parse_line(line))
    return reports


def summarize(reports: Iterable[Report], metric_names: Sequence[str]) -> dict[str, MetricSummary]:
    """min/max/latest per metric over the values that are numbers."""
    values: dict[str, list[float]] = {}
    for r in reports:
        number = to_number(r.value)
        if number is not None:
            values.setdefault(r.name, []).append(number)
    return {
        m: MetricSummary(min(v), max(v), v[-1])
        for m in metric_names
        if (v := values.get(m))
    }


def collect(parser, source: Path, metric_names: Sequence[str]) -> Observation:
    """Parse a finished trial's metrics source into an observation."""
    try:
        text = source.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise MetricsError(f"metrics file {source} was not written") from None
    reports = parse_text(parser, text)
    return Observation(summarize(reports, metric_names), list(getattr(parser, "warnings", [])))


class Tail:
    """Complete lines appended to a file since the last read (for live reports)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""

    def read_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        data = self.partial + chunk
        *lines, self.partial = data.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines]


def objective_values(reports: Iterable[Report], metric: str) -> list[float]:
    return [v for r in reports if r.name == metric and (v := to_number(r.value)) is not None]


def metrics_json(metrics: Mapping[str, MetricSummary]) -> dict:
    return {name: summary.to_json() for name, summary in sorted(metrics.items())}
