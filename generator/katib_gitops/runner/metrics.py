"""Metrics collection with the rules of Katib's StdOut and File collectors.

- StdOut: Katib redirects the primary container's stdout *and* stderr into
  its metrics file and parses that as TEXT; the runner does the same with the
  trial's log.
- File TEXT: every line that mentions a metric name is matched against the
  filters (``metricsFormat`` or Katib's default); each match gives a metric
  name (group 1) and value (group 2); only the experiment's metric names count.
- File JSON: one JSON object per line; a metric counts only when its value is
  a JSON *string* (Katib's collector skips numbers silently; the runner says so).
- A trial whose objective metric is never reported is "metrics unavailable";
  one reported with a value that is not a number (``accuracy=nan`` gives the
  empty string under the default filter) is still Succeeded
  (trial_controller_util.go getMetrics, trials/util.go IsObservationAvailable).
- min/max are over the values that parse as numbers; latest is the value with
  the newest timestamp, numbers or not (later lines win ties; a line without
  a timestamp has the zero time), as getMetrics picks it. A TEXT line's
  timestamp is its first word when that is RFC 3339; a JSON line's is its
  ``timestamp`` key (RFC 3339 string or Unix seconds), as
  file-metricscollector.go parses them.
- metricStrategies pick the trial's value as status_util.go
  getObjectiveMetricValue does: min (max) when any value was a number, else
  latest.
- The collector crashes, and the trial Fails, on what its code cannot read
  (cmd/metricscollector/.../main.go): a missing metrics file, a line that is
  not JSON in JSON format, and, while an early-stopping rule watches the
  trial, a match on the rule's line whose value is not a number.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping, Sequence

DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
UNAVAILABLE = "unavailable"  # consts.UnavailableMetricValue
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
ZERO_TIME = datetime.min.replace(tzinfo=timezone.utc)  # Go's time.Time{}


class MetricsError(Exception):
    """The metrics source cannot be parsed (Katib's collector would fail the same way)."""


@dataclass(frozen=True)
class Report:
    """One reported value, in the order the trial reported it."""

    name: str
    value: str
    timestamp: datetime = ZERO_TIME


@dataclass(frozen=True)
class MetricSummary:
    """Katib's observation of one metric: min/max of the numbers (or None), latest as reported."""

    min: float | None
    max: float | None
    latest: str

    def pick_text(self, strategy: str) -> str:
        """status_util.go getObjectiveMetricValue: min/max when there is one, else latest."""
        chosen = {"min": self.min, "max": self.max}.get(strategy)
        return self.latest if chosen is None else repr(chosen)

    def pick(self, strategy: str) -> float | None:
        """The strategy's value as a number, None when it is not one."""
        return to_number(self.pick_text(strategy))

    def to_json(self) -> dict:
        latest = to_number(self.latest)
        return {"min": UNAVAILABLE if self.min is None else self.min,
                "max": UNAVAILABLE if self.max is None else self.max,
                "latest": self.latest if latest is None else latest}


def to_number(text: str) -> float | None:
    """A finite number, as strconv.ParseFloat reads one; None otherwise."""
    if not isinstance(text, str) or "_" in text:
        return float(text) if isinstance(text, (int, float)) and math.isfinite(text) else None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_timestamp(value) -> datetime | None:
    """A collector timestamp: RFC 3339 text, or Unix seconds (JSON numbers)."""
    if isinstance(value, str):
        if not RFC3339.fullmatch(value):
            return None
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    return None


class TextParser:
    def __init__(self, metric_names: Sequence[str], filters: Sequence[str] = ()):
        self.metric_names = tuple(metric_names)
        self.patterns = [re.compile(f) for f in (filters or (DEFAULT_FILTER,))]

    def parse_line(self, line: str) -> list[Report]:
        # Lines naming no metric are skipped before any regex runs, as Katib does.
        if not any(m in line for m in self.metric_names):
            return []
        first, _, rest = line.partition(" ")
        stamp = (parse_timestamp(first) if rest else None) or ZERO_TIME
        return [Report(name, value, stamp) for name, value in self._matches(line) if name in self.metric_names]

    def _matches(self, line: str):
        """(name, value) of every filter match, as FindAllStringSubmatch gives them (groups 1 and 2)."""
        for pattern in self.patterns:
            if pattern.groups < 2:
                continue
            for match in pattern.finditer(line):
                yield (match.group(1) or "").strip(), (match.group(2) or "").strip()

    def watch_line(self, line: str, metric: str) -> list[float]:
        """The rule metric's values on a line, as the early-stopping watcher reads them.

        main.go watchMetricsFile: on a line that mentions the rule's metric,
        every filter match's value is parsed as a float first (whatever its
        name), and one that does not parse stops the collector.
        """
        if metric not in line:
            return []
        values = []
        for name, text in self._matches(line):
            value = _go_float(text)
            if value is None:
                raise MetricsError(f"the metrics collector stopped: unable to parse value {text!r} "
                                   f"to float for metric {name} (early stopping is watching {metric})")
            if name == metric:
                values.append(value)
        return values


class JsonParser:
    def __init__(self, metric_names: Sequence[str]):
        self.metric_names = tuple(metric_names)
        self.warnings: list[str] = []

    def _load(self, line: str) -> dict:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MetricsError(f"the metrics collector stopped: a line of the metrics file is not JSON "
                               f"({exc.msg}): {line[:80]!r}") from None
        if not isinstance(obj, dict):
            raise MetricsError(f"the metrics collector stopped: a line of the metrics file is not a JSON "
                               f"object: {line[:80]!r}")
        return obj

    def parse_line(self, line: str) -> list[Report]:
        if not line:
            return []
        obj = self._load(line)
        stamp = parse_timestamp(obj.get("timestamp")) or ZERO_TIME
        out = []
        for m in self.metric_names:
            if m not in obj:
                continue
            value = obj[m]
            if isinstance(value, str):
                out.append(Report(m, value, stamp))
            else:
                note = (f"{m} is a JSON {type(value).__name__}, not a string: Katib's JSON "
                        f"collector ignores it (write \"{m}\": \"{value}\")")
                if note not in self.warnings:
                    self.warnings.append(note)
        return out

    def watch_line(self, line: str, metric: str) -> list[float]:
        """main.go watchMetricsFile, JSON: a non-JSON line or a non-number string stops the collector."""
        if not line:
            return []
        obj = self._load(line)
        value = obj.get(metric)
        if not isinstance(value, str):
            return []
        number = _go_float(value.strip())
        if number is None:
            raise MetricsError(f"the metrics collector stopped: unable to parse value {value!r} "
                               f"to float for metric {metric} (early stopping is watching it)")
        return [number]


def _go_float(text: str) -> float | None:
    """strconv.ParseFloat: NaN and Inf parse; empty text and other words do not."""
    if not text or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


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
    """trial_controller_util.go getMetrics: min/max over numbers, latest by newest timestamp."""
    numbers: dict[str, list[float]] = {}
    latest: dict[str, tuple[datetime, str]] = {}
    for r in reports:
        number = _go_float(r.value)
        if number is not None and not math.isnan(number):
            numbers.setdefault(r.name, []).append(number)
        seen = latest.get(r.name)
        if seen is None or not seen[0] > r.timestamp:  # ties: the later line wins
            latest[r.name] = (r.timestamp, r.value)
    out = {}
    for m in metric_names:
        if m in latest:
            v = numbers.get(m)
            out[m] = MetricSummary(min(v) if v else None, max(v) if v else None, latest[m][1])
    return out


class Tail:
    """Complete lines appended to a file since the last read (for live reports)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""

    def read_lines(self) -> list[str]:
        from ..safefs import special_kind

        if special_kind(self.path) is not None:
            raise MetricsError(f"the metrics file {self.path.name} is {special_kind(self.path)}, not a file")
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
