"""Metrics collection as Katib's StdOut and File collectors do it."""

from __future__ import annotations

import pytest

from katib_gitops.runner.metrics import (
    DEFAULT_FILTER,
    ZERO_TIME,
    JsonParser,
    MetricsError,
    Report,
    Tail,
    TextParser,
    make_parser,
    parse_text,
    parse_timestamp,
    summarize,
)

NAMES = ("accuracy", "loss")


def test_default_filter_reads_name_equals_value_pairs():
    parser = TextParser(NAMES)
    text = "epoch 1\naccuracy=0.5 loss = 1.5e-1\nEpoch 2: accuracy=0.75, other=3\nvalidation-accuracy=0.1\n"
    assert parse_text(parser, text) == [
        Report("accuracy", "0.5"), Report("loss", "1.5e-1"), Report("accuracy", "0.75"),
    ]


def test_lines_without_a_metric_name_are_skipped_before_matching():
    parser = TextParser(("accuracy",))
    assert parser.parse_line("precision=0.3 recall=0.2") == []


def test_a_value_that_is_not_a_number_is_recorded_as_reported():
    reports = parse_text(TextParser(NAMES), "accuracy=abc\nloss=2\n")
    assert Report("accuracy", "") in reports  # the default filter matches an empty value...
    summary = summarize(reports, NAMES)  # ...which getMetrics records: latest "", no min or max
    assert (summary["accuracy"].min, summary["accuracy"].max, summary["accuracy"].latest) == \
        ("unavailable", "unavailable", "")
    assert summary["accuracy"].pick("max") is None and summary["accuracy"].pick_text("max") == ""


def test_custom_filter_from_metrics_format():
    # The filter style of Katib's own custom-filter example.
    parser = make_parser("StdOut", "TEXT", NAMES, [r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"])
    text = "{metricName: accuracy, metricValue: 0.9}\naccuracy=0.1\n{metricName: loss, metricValue: -2}\n"
    assert parse_text(parser, text) == [Report("accuracy", "0.9"), Report("loss", "-2")]


def test_several_filters_all_apply():
    parser = TextParser(NAMES, [r"(accuracy):\s*(\d\.\d+)", r"(loss) is (\d+)"])
    assert parser.parse_line("accuracy: 0.25, loss is 3") == [Report("accuracy", "0.25"), Report("loss", "3")]


def test_json_lines_count_string_values_only():
    parser = JsonParser(NAMES)
    text = ('{"accuracy": "0.5", "timestamp": 1638422847.28}\n'
            '\n'
            '{"loss": 0.25, "accuracy": "0.75"}\n')
    first, second = parse_text(parser, text)
    assert (first.name, first.value, second.name, second.value) == ("accuracy", "0.5", "accuracy", "0.75")
    # parseTimestamp: 1638422847.28 is 1638422847 s and 28 *nanoseconds*; no timestamp is Go's zero time
    assert first.timestamp == 1638422847 * 10**6 and second.timestamp == ZERO_TIME
    assert len(parser.warnings) == 1 and "loss is a JSON float, not a string" in parser.warnings[0]


@pytest.mark.parametrize("line", ['{"accuracy": "0.5"', '["accuracy", "0.5"]'])
def test_json_that_does_not_parse_is_an_error(line):
    with pytest.raises(MetricsError):
        JsonParser(NAMES).parse_line(line)


def test_file_json_uses_the_json_parser_and_ignores_filters():
    assert isinstance(make_parser("File", "JSON", NAMES, ()), JsonParser)
    assert isinstance(make_parser("File", "TEXT", NAMES, ()), TextParser)


@pytest.mark.parametrize("strategy, expected", [("min", 0.25), ("max", 0.9), ("latest", 0.5)])
def test_metric_strategies_pick_min_max_or_latest(strategy, expected):
    reports = [Report("accuracy", v) for v in ("0.25", "0.9", "0.5")]
    assert summarize(reports, NAMES)["accuracy"].pick(strategy) == expected


def test_tail_returns_only_complete_new_lines(tmp_path):
    path = tmp_path / "log"
    tail = Tail(path)
    assert tail.read_lines() == []
    path.write_text("accuracy=0.1\naccura")
    assert tail.read_lines() == ["accuracy=0.1"]
    with open(path, "a") as f:
        f.write("cy=0.2\n")
    assert tail.read_lines() == ["accuracy=0.2"]


def test_default_filter_is_katibs():
    assert DEFAULT_FILTER == r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


# file-metricscollector.go parseLogsInJsonFormat / parseTimestamp, trial_controller_util.go getMetrics


@pytest.mark.parametrize("value, micros", [
    (1700000000.0, 1700000000 * 10**6),
    (1700000000.5, 1700000000 * 10**6),  # .5 is 5 nanoseconds to Katib
    (1.25, 1 * 10**6),  # 25 ns
    (1.123456789123, 124 * 10**6 + 456789),  # 123456789123 ns: time.Unix carries 123 s
    (-1.5, -1 * 10**6),  # -1 s + 5 ns
    (1e300, None),  # ParseInt out of range: the zero time
    ("2021-12-02T05:27:27.281Z", 1638422847281000),
    ("2021-12-02T05:27:27.2819999Z", 1638422847281999),  # the DB keeps microseconds, truncated
    ("2021-12-02 05:27:27Z", None), (True, None), (None, None),
])
def test_timestamps_read_as_katib_reads_them(value, micros):
    assert parse_timestamp(value) == micros


def test_json_null_lines_are_skipped_and_other_non_objects_stop_the_collector():
    """Go unmarshals `null` into a nil map without error; an array or a number into a map is an error."""
    parser = JsonParser(NAMES)
    assert parser.parse_line("null") == []
    for line in ("[]", "3", '"accuracy"', "true", " "):
        with pytest.raises(MetricsError):
            parser.parse_line(line)


@pytest.mark.parametrize("line", ['{"accuracy": "0.5", "x": NaN}', '{"accuracy": "0.5", "x": 1e400}',
                                  '{"accuracy": "0.5", "x": -Infinity}'])
def test_json_that_go_refuses_stops_the_collector(line):
    """Python's json reads NaN, Infinity and 1e400; Go's encoding/json does not."""
    with pytest.raises(MetricsError):
        JsonParser(NAMES).parse_line(line)


def test_a_nan_first_stays_min_and_max_as_getmetrics_compares():
    """getMetrics: NaN < x and NaN > x are both false, so a NaN first is never replaced."""
    reports = [Report("accuracy", v, t) for v, t in (("NaN", 1), ("0.5", 2), ("0.9", 3))]
    summary = summarize(reports, NAMES)["accuracy"]
    assert (summary.min, summary.max, summary.latest) == ("NaN", "NaN", "0.9")
    assert summary.pick_text("max") == "NaN" and summary.pick("max") is None
    later = summarize([Report("accuracy", v, t) for v, t in (("0.5", 1), ("nan", 2), ("0.9", 3))], NAMES)
    assert (later["accuracy"].min, later["accuracy"].max) == ("0.5", "0.9")


def test_values_are_summarised_in_timestamp_order():
    """The DB returns the values ORDER BY time: the latest is the newest, not the last line."""
    reports = [Report("accuracy", "0.9", 20), Report("accuracy", "0.1", 10), Report("accuracy", "0.5", 20)]
    summary = summarize(reports, NAMES)["accuracy"]
    assert (summary.min, summary.max, summary.latest) == ("0.1", "0.9", "0.5")
