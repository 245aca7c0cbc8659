"""Metrics collection with the rules of Katib's StdOut and File collectors.

- StdOut: Katib redirects the primary container's stdout *and* stderr into
  its metrics file and parses that as TEXT; the runner does the same with the
  trial's log.
- File TEXT: every line that mentions a metric name is matched against the
  filters (``metricsFormat`` or Katib's default); each match gives a metric
  name (group 1) and value (group 2); only the experiment's metric names count.
- File JSON: one JSON object per line, read as Go's encoding/json reads it into a
  map (a line ``null`` is skipped, anything else that is not an object stops the
  collector, as do NaN literals and numbers out of float64's range); a metric
  counts only when its value is a JSON *string* (Katib's collector skips numbers
  silently; the runner says so).
- A trial whose objective metric is never reported is "metrics unavailable";
  one reported with a value that is not a number (``accuracy=nan`` gives the
  empty string under the default filter) is still Succeeded
  (trial_controller_util.go getMetrics, trials/util.go IsObservationAvailable).
- The values are ordered by time as the DB manager returns them (mysql.go
  GetObservationLog: ORDER BY time, a DATETIME(6), so microseconds; later lines
  win ties), then trial_controller_util.go getMetrics keeps min and max of the
  values Go's ParseFloat reads (NaN and Inf included: a NaN first stays min and
  max, as no comparison with it holds) and the latest value, numbers or not.
  A TEXT line's timestamp is its first word when that is RFC 3339; a JSON line's
  is its ``timestamp`` key: RFC 3339 text, or a number, which
  file-metricscollector.go parseTimestamp splits at its decimal point into
  seconds and *nanoseconds* (1.5 is 1 s and 5 ns); a line without one has Go's
  zero time. A number that lands after year 9999 cannot be written back as
  RFC 3339 and stops the collector when it reports.
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
from typing import Any, Iterable, Mapping, Sequence

from ..io.goparse import parse_float as go_parse_float
from ..spec.searchspace import go_float_text

DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
UNAVAILABLE = "unavailable"  # consts.UnavailableMetricValue
RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})")
MICRO = 1_000_000
# Timestamps are microseconds since the Unix epoch: the DB keeps DATETIME(6) (mysql.go mysqlTimeFmt).
ZERO_TIME = -62135596800 * MICRO  # Go's time.Time{}: 0001-01-01T00:00:00Z
LAST_WRITABLE = 253402300799 * MICRO + MICRO - 1  # 9999-12-31T23:59:59.999999Z: RFC 3339 has four-digit years
INT64 = 2 ** 63


class MetricsError(Exception):
    """The metrics source cannot be parsed (Katib's collector would fail the same way)."""


@dataclass(frozen=True)
class Report:
    """One reported value, in the order the trial reported it (timestamp: microseconds since the epoch)."""

    name: str
    value: str
    timestamp: int = ZERO_TIME


@dataclass(frozen=True)
class MetricSummary:
    """Katib's observation of one metric, as getMetrics writes it: min, max and latest as reported
    (min and max "unavailable" when no value parsed as a number)."""

    min: str
    max: str
    latest: str

    def pick_text(self, strategy: str) -> str:
        """status_util.go getObjectiveMetricValue: min/max unless unavailable, else latest."""
        chosen = {"min": self.min, "max": self.max}.get(strategy)
        return self.latest if chosen is None or chosen == UNAVAILABLE else chosen

    def pick(self, strategy: str) -> float | None:
        """The strategy's value as a finite number, None when it is not one (what the runner plots and ranks)."""
        return to_number(self.pick_text(strategy))

    def to_json(self) -> dict:
        return {k: _json_value(v) for k, v in (("min", self.min), ("max", self.max), ("latest", self.latest))}


def _json_value(text: str) -> Any:
    number = to_number(text)
    return text if number is None else number


def to_number(text: Any) -> float | None:
    """A finite number, as strconv.ParseFloat reads one; None otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text) if math.isfinite(text) else None
    value = go_parse_float(text) if isinstance(text, str) else None
    return value if value is not None and math.isfinite(value) else None


def katib_number(text: Any) -> float | None:
    """strconv.ParseFloat as the controller uses it: NaN and Inf are numbers too."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    return go_parse_float(text) if isinstance(text, str) else None


def _unix_micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * MICRO + delta.microseconds


def parse_timestamp(value: Any) -> int | None:
    """A collector timestamp in microseconds, or None (the metric then has the zero time).

    RFC 3339 text as time.Parse(time.RFC3339Nano) reads it; a JSON number as file-metricscollector.go
    parseTimestamp reads it: strconv.FormatFloat(v, 'f', -1, 64) split at '.', the left part seconds and the
    right part nanoseconds (time.Unix normalises more than a second's worth), each read by strconv.ParseInt.
    """
    if isinstance(value, str):
        m = RFC3339.fullmatch(value)
        if not m:
            return None
        try:
            moment = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
        except ValueError:
            return None
        fraction = (m.group(2) or ".")[1:7].ljust(6, "0")  # the DB keeps microseconds, truncated
        return _unix_micros(moment) + int(fraction)
    if isinstance(value, float) and math.isfinite(value):
        parts = go_float_text(value).split(".")
        seconds = _go_parse_int(parts[0])
        nanos = _go_parse_int(parts[1]) if len(parts) == 2 else 0
        if seconds is None or nanos is None:
            return None
        return (seconds * 1_000_000_000 + nanos) // 1000
    return None


def _go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64)."""
    if not re.fullmatch(r"[+-]?\d+", text):
        return None
    number = int(text)
    return number if -INT64 <= number < INT64 else None


class TextParser:
    def __init__(self, metric_names: Sequence[str], filters: Sequence[str] = ()):
        self.metric_names = tuple(metric_names)
        self.patterns = [re.compile(f) for f in (filters or (DEFAULT_FILTER,))]

    def parse_line(self, line: str) -> list[Report]:
        # Lines naming no metric are skipped before any regex runs, as Katib does.
        if not any(m in line for m in self.metric_names):
            return []
        first, space, _ = line.partition(" ")  # strings.SplitN(line, " ", 2)
        stamp = parse_timestamp(first) if space else None
        stamp = ZERO_TIME if stamp is None else stamp
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
    """file-metricscollector.go parseLogsInJsonFormat: each line unmarshalled into a Go map."""

    def __init__(self, metric_names: Sequence[str]):
        self.metric_names = tuple(metric_names)
        self.warnings: list[str] = []

    def _load(self, line: str) -> dict:
        """The line's object; {} for `null` (Go unmarshals it into a nil map, no error); MetricsError where
        encoding/json refuses the line (not JSON, not an object, NaN or Infinity, a number beyond float64)."""
        try:
            obj = json.loads(line, parse_constant=_not_json, parse_float=_go_json_number,
                             parse_int=_go_json_number)
        except (json.JSONDecodeError, ValueError) as exc:
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise MetricsError(f"the metrics collector stopped: a line of the metrics file is not JSON "
                               f"({why}): {line[:80]!r}") from None
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            raise MetricsError(f"the metrics collector stopped: a line of the metrics file is not a JSON "
                               f"object: {line[:80]!r}")
        return obj

    def parse_line(self, line: str) -> list[Report]:
        if not line:
            return []
        obj = self._load(line)
        stamp = parse_timestamp(obj.get("timestamp"))
        stamp = ZERO_TIME if stamp is None else stamp
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


def _not_json(word: str) -> Any:
    raise ValueError(f"{word} is not JSON (Go's encoding/json refuses it)")


def _go_json_number(text: str) -> float:
    """A JSON number as encoding/json puts it into an interface{}: a float64, an error beyond its range."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"cannot unmarshal number {text} into a Go float64")
    return value


def _go_float(text: str) -> float | None:
    """strconv.ParseFloat: NaN and Inf parse; empty text, other words and out-of-range numbers do not."""
    return go_parse_float(text)


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
    """The observation Katib records: the values in the DB's order (ORDER BY time, ties in the order written),
    then trial_controller_util.go getMetrics: the first value that ParseFloat reads sets min and max, a later one
    replaces min when below it, else max when above it (a NaN never compares, so a first NaN stays both);
    latest is the last value in that order, numbers or not."""
    ordered = sorted(enumerate(reports), key=lambda item: (item[1].timestamp, item[0]))
    found: dict[str, list[str]] = {}
    for _, r in ordered:
        if r.name not in metric_names:
            continue
        entry = found.setdefault(r.name, [UNAVAILABLE, UNAVAILABLE, UNAVAILABLE])
        number = katib_number(r.value)
        if number is not None:
            if entry[0] == UNAVAILABLE:
                entry[0] = entry[1] = r.value
            elif number < katib_number(entry[0]):  # type: ignore[operator]
                entry[0] = r.value
            elif number > katib_number(entry[1]):  # type: ignore[operator]
                entry[1] = r.value
        entry[2] = r.value
    return {m: MetricSummary(*found[m]) for m in metric_names if m in found}


class Tail:
    """Complete lines appended to a file since the last read (for live reports)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""

    def read_lines(self) -> list[str]:
        from ..io.safefs import special_kind

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
