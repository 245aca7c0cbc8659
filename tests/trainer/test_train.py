"""The iris trainer: Katib-parsable output, no warnings, clear argument errors, pinned image."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import pytest

TRAINER = Path(__file__).resolve().parents[2] / "trainer"
# Katib's default StdOut/File TEXT filter (katib-facts.md, "Metrics collection").
KATIB_DEFAULT_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")


def load_train():
    spec = importlib.util.spec_from_file_location("iris_train", TRAINER / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train = load_train()


def run_main(capsys, *argv: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning, deprecations included, fails the test
        assert train.main(list(argv)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_prints_exactly_one_katib_metric_line(capsys):
    out = run_main(capsys, "--penalty=l2", "--tol=0.001", "--C=0.5", "--max-iter=10")
    assert re.fullmatch(r"accuracy=[01]\.\d+\n", out), out
    (match,) = KATIB_DEFAULT_FILTER.findall(out)
    assert match[0] == "accuracy"
    assert 0.5 < float(match[1]) <= 1.0


@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet", "none"])
def test_every_penalty_trains_without_warnings_even_when_not_converged(capsys, penalty):
    out = run_main(capsys, f"--penalty={penalty}", "--tol=0.00001", "--C=0.01", "--max-iter=3")
    value = float(out.strip().split("=", 1)[1])
    assert 0.0 <= value <= 1.0


def test_same_arguments_same_accuracy(capsys):
    first = run_main(capsys, "--C=1.00", "--max-iter=5", "--random-state=7")
    second = run_main(capsys, "--C=1.00", "--max-iter=5", "--random-state=7")
    assert first == second


def test_regularisation_changes_the_model(capsys):
    strong = run_main(capsys, "--C=0.0001", "--max-iter=100")
    weak = run_main(capsys, "--C=100", "--max-iter=100")
    assert float(weak.split("=")[1]) > float(strong.split("=")[1])


def test_penalty_maps_onto_the_installed_api():
    # scikit-learn >= 1.8 spells the penalty as l1_ratio / C=inf; passing
    # penalty= there is deprecated.
    args = train.model_arguments("none", 0.5, 0.5)
    from sklearn.linear_model import LogisticRegression
    import inspect

    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
        assert "penalty" not in args and args["C"] == float("inf")
        assert train.model_arguments("l1", 0.5, 0.5)["l1_ratio"] == 1.0
        assert train.model_arguments("elasticnet", 0.5, 0.3)["l1_ratio"] == 0.3
    else:
        assert args["penalty"] is None


def test_command_line_run_is_clean_under_warnings_as_errors():
    result = subprocess.run(
        [sys.executable, "-W", "error", "train.py", "--penalty=l2", "--tol=0.001",
         "--C=0.01", "--max-iter=3"],
        cwd=TRAINER, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert re.fullmatch(r"accuracy=[01]\.\d+\n", result.stdout)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--C=-1"], "argument --C: must be a positive finite number, got '-1'"),
        (["--C=abc"], "argument --C: not a number: 'abc'"),
        (["--tol=0"], "argument --tol: must be a positive finite number"),
        (["--max-iter=0"], "argument --max-iter: must be at least 1"),
        (["--max-iter=2.5"], "argument --max-iter: not an integer: '2.5'"),
        (["--penalty=l3"], "argument --penalty: invalid choice: 'l3'"),
        (["--l1-ratio=2"], "argument --l1-ratio: must be between 0 and 1"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_clear_message(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        train.main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert needle in err


def test_requirements_pin_the_installed_versions():
    pins = {}
    for line in (TRAINER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"not pinned: {line}"
            pins[name] = pinned
    assert "scikit-learn" in pins and "numpy" in pins and "scipy" in pins
    for name, pinned in pins.items():
        assert version(name) == pinned, name


def test_containerfile_is_slim_non_root_and_installs_the_pins():
    text = (TRAINER / "Containerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines()
                    if line and not line.startswith(("#", " ", "\t"))]
    keywords = [i[0] for i in instructions]
    assert re.match(r"python:3\.\d+-slim$", instructions[keywords.index("FROM")][1])
    assert ["WORKDIR", "/app"] in instructions
    assert ["COPY", "requirements.txt ."] in instructions
    assert "pip install --no-cache-dir -r requirements.txt" in text
    assert ["COPY", "train.py ."] in instructions
    # The last USER wins; it must be the numeric non-root uid.
    users = [i[1] for i in instructions if i[0] == "USER"]
    assert users and users[-1] == "1000"
    assert keywords.index("RUN") < len(keywords) - 1 - keywords[::-1].index("USER")
