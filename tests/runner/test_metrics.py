"""Metrics collection as Katib's StdOut and File collectors do it."""

from __future__ import annotations

import pytest

from katib_gitops.runner.metrics import (DEFAULT_FILTER, JsonParser, MetricsError, Report, Tail, TextParser,
                                         make_parser, parse_text, summarize)

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
    assert (summary["accuracy"].min, summary["accuracy"].max, summary["accuracy"].latest) == (None, None, "")
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
    assert first.timestamp.timestamp() == pytest.approx(1638422847.28) and second.timestamp.year == 1
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
