"""The validate command end to end: formats (golden files), inputs, exit codes, upstream examples.

Regenerate the golden files with ``UPDATE_GOLDEN=1 pytest tests/validation``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO_ROOT, cli, example_files, needs_shared
from katib_gitops.io.findings import ERROR, UserError
from katib_gitops.validation import ValidationOptions, validate_document, validate_paths
from katib_gitops.validation import katib_rules, kubernetes
from katib_gitops.io.yamlio import load_documents

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
IRIS = HERE / "iris.yaml"
GOLDEN_INPUT = GOLDEN / "broken.yaml"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli(*argv)
    return status, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------
# golden outputs


@pytest.mark.parametrize("output,suffix", [("text", "txt"), ("json", "json"), ("github", "github")])
def test_golden(output: str, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    status, out, _ = run_cli("validate", f"--output={output}", GOLDEN_INPUT.relative_to(REPO_ROOT).as_posix())
    assert status == 1
    golden = GOLDEN / f"broken.{suffix}"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(out)
    assert out == golden.read_text()


def test_output_is_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    rel = GOLDEN_INPUT.relative_to(REPO_ROOT).as_posix()
    assert run_cli("validate", "-o", "json", rel) == run_cli("validate", "-o", "json", rel)


def test_json_fields() -> None:
    status, out, _ = run_cli("validate", "--output=json", str(GOLDEN_INPUT))
    items = json.loads(out)
    assert status == 1 and items
    assert all(set(i) == {"file", "line", "column", "path", "message", "severity", "rule"} for i in items)
    assert {i["severity"] for i in items} == {"error", "warning"}


# ---------------------------------------------------------------------------
# inputs and exit codes


def test_valid_file_exits_0() -> None:
    status, out, err = run_cli("validate", str(IRIS))
    assert (status, out) == (0, "")
    assert "0 errors" in err


def test_a_symlinked_directory_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    shutil.copy(IRIS, tmp_path / "real" / "iris.yaml")
    (tmp_path / "link").symlink_to("real", target_is_directory=True)
    status, out, err = run_cli("validate", str(tmp_path))
    assert status == 0, err
    assert "link:0:0: warning: skipped: a symlinked directory (not followed) [symlink]" in out
    assert "Traceback" not in err


def test_missing_file_exits_2() -> None:
    status, _, err = run_cli("validate", str(HERE / "no-such.yaml"))
    assert status == 2 and "no such file or directory" in err


def test_unknown_kubernetes_version_exits_2() -> None:
    status, _, err = run_cli("validate", "--kubernetes-version", "1.9", str(IRIS))
    assert status == 2 and "--kubernetes-version 1.9" in err


def test_bad_output_format_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc, redirect_stderr(io.StringIO()):
        cli("validate", "--output=xml", str(IRIS))
    assert exc.value.code == 2


def test_yaml_syntax_error_is_reported_with_the_other_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n")
    shutil.copy(GOLDEN_INPUT, tmp_path / "b.yaml")
    report = validate_paths([str(tmp_path)])
    files = {f.file for f in report.errors}
    assert any(f.rule == "yaml" and f.file == str(tmp_path / "a.yaml") and f.line == 4 for f in report.errors)
    assert str(tmp_path / "b.yaml") in files


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    text = IRIS.read_text().replace("  maxTrialCount: 12\n", "  maxTrialCount: -1\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    status, out, _ = run_cli("validate", "-")
    assert status == 1
    assert out.startswith("<stdin>:9:3: spec.maxTrialCount: must be greater than 0")


def test_directory_walks_every_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    shutil.copy(IRIS, tmp_path / "nested" / "iris.yml")
    (tmp_path / "notes.txt").write_text("not yaml: [")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  n: 1\n")
    report = validate_paths([str(tmp_path)])
    assert report.documents == 2
    assert [(f.file, f.dotted, f.line) for f in report.errors] == [(str(tmp_path / "cm.yaml"), "data.n", 6)]


def test_kustomization_directory_is_built(tmp_path: Path, monkeypatch) -> None:
    """Lines then refer to kustomize's output, and the file is named after the directory."""
    monkeypatch.chdir(tmp_path)  # outside a repository, a build may read the current directory
    base = tmp_path / "base"
    base.mkdir()
    shutil.copy(IRIS, base / "iris.yaml")
    (base / "kustomization.yaml").write_text("resources:\n- iris.yaml\n")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources:\n- ../base\npatches:\n- target:\n    kind: Experiment\n  patch: |-\n"
        "    - op: replace\n      path: /spec/parallelTrialCount\n      value: 50\n")
    report = validate_paths([str(overlay)])
    [finding] = report.errors
    assert finding.file == f"{overlay} (kustomize build)"
    assert (finding.rule, finding.dotted) == ("katib-3", "spec.parallelTrialCount")
    built = load_documents(kustomize_output(overlay), "built")[0]
    assert finding.line == built.position(("spec", "parallelTrialCount"))[0]


def kustomize_output(directory: Path) -> str:
    from katib_gitops.validation.engine import kustomize_build

    return kustomize_build(directory, str(directory))


def test_repository_mode(iris_repo: Path) -> None:
    """No PATH: specs, base/, overlays and deploy/ of a rendered repository; a spec error names its line."""
    assert run_cli("render", "-q", "-C", str(iris_repo))[0] == 0
    status, out, err = run_cli("validate", "-C", str(iris_repo))
    assert (status, out) == (0, "")
    spec = iris_repo / "experiments" / "iris.yaml"
    lines = spec.read_text().splitlines()
    number = next(i for i, l in enumerate(lines, start=1) if l.startswith("resumePolicy:"))
    lines[number - 1] = "resumePolicy: LongRuning"
    spec.write_text("\n".join(lines) + "\n")
    status, out, _ = run_cli("validate", "-C", str(iris_repo))
    assert status == 1
    assert out.startswith(f"experiments/iris.yaml:{number}:")


def test_extra_algorithms() -> None:
    text = IRIS.read_text().replace("algorithmName: random", "algorithmName: my-nevergrad")
    doc = load_documents(text, "x.yaml")[0]
    assert [f.rule for f in validate_document(doc) if f.severity == ERROR] == ["katib-5"]
    assert validate_document(doc, ValidationOptions(extra_algorithms=("my-nevergrad",))) == []


# ---------------------------------------------------------------------------
# upstream examples

VERDICTS = REPO_ROOT / "docs" / "upstream-examples.md"
KATIB_VERDICTS = ("runs", "refused by the webhook", "fails after creation", "never starts", "trials refused")


def verdicts() -> dict[str, tuple[str, str, list[str]]]:
    """docs/upstream-examples.md's table: example -> (what Katib does, why, the rule ids validate reports)."""
    rows = {}
    for line in VERDICTS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0].endswith(".yaml`"):
            rules = re.findall(r"`([^`]+)`", cells[3])
            rows[cells[0].strip("`")] = (cells[1], cells[2], rules)
    return rows


def test_the_corpus_table_states_a_verdict_for_every_example() -> None:
    rows = verdicts()
    assert all(verdict in KATIB_VERDICTS for verdict, _, _ in rows.values())
    assert all(why for verdict, why, _ in rows.values() if verdict != "runs"), "every failure says why"
    assert all(bool(rules) == (verdict != "runs") for verdict, _, rules in rows.values())
    if example_files():
        assert sorted(rows) == [p.name for p in example_files()]


@needs_shared(EXAMPLES)
@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_upstream_example(path: Path) -> None:
    """What validate reports for each upstream example is what docs/upstream-examples.md says Katib does with it."""
    report = validate_paths([str(path)])
    assert report.documents >= 1
    _, _, rules = verdicts()[path.name]
    assert sorted({f.rule for f in report.errors}) == sorted(rules)


# ---------------------------------------------------------------------------
# pieces


@pytest.mark.parametrize("text,value", [("500m", "0.5"), ("8Gi", str(8 * 2 ** 30)), ("1e3", "1000"), ("2", "2"),
                                        (".5", "0.5"), ("-1", "-1"), ("1.5k", "1500")])
def test_quantities(text: str, value: str) -> None:
    assert kubernetes.parse_quantity(text) == kubernetes.Decimal(value)


@pytest.mark.parametrize("text", ["8 GiB", "8GB", "1gb", "", "Gi", "1.2.3", "0x10"])
def test_not_quantities(text: str) -> None:
    assert kubernetes.parse_quantity(text) is None


@pytest.mark.parametrize("pattern,problem", [
    (r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)", None),
    (r"(\w+)=(?P<v>\d+)", None),
    (r"\pL+(\w+)=(\d+)\z", None),  # Go-only syntax is accepted
    # Katib's rule is textual (validator.go: `.*\(.*\).*\(.*\).*`): nested or non-capturing pairs pass.
    (r"((\w+)=(\d+))", None),
    (r"(?:\w+)=(\d+)", None),
    (r"(?<name>\w+)=(\d+)", None),  # Go >= 1.22
    (r"\Q(\E(\w+)=(\d+)", None),
    (r"(\w+)=\d+", "two bracket pairs"),
    (r"(\w+)=(?=\d)(\d+)", "invalid perl operator"),
    (r"(\w+)=(\1)", "invalid escape sequence"),
    (r"(\w+=(\d+)", "not a valid Go (RE2) regular expression"),
    (r"(\w+)=(\d++)", "bad repetition operator"),
    (r"(?>\w+)=(\d+)(x)", "invalid perl operator"),
    (r"(?x)(\w+)=(\d+)", "invalid perl operator"),
    (r"(\w+)=(\d+)\Z", "invalid escape sequence"),
    (r"(\w{1001})=(\d+)", "invalid repetition size"),
    (r"(\w+)=(\d+)\C", "\\C"),  # RE2 accepts \C; Go does not
])
def test_metrics_format(pattern: str, problem: str | None) -> None:
    found = katib_rules.regex_problem(pattern)
    assert (found is None) if problem is None else (problem in found)


def test_versions() -> None:
    newest = kubernetes.bundled_versions()[-1]
    assert kubernetes.resolve_version(None) == newest
    assert kubernetes.resolve_version(f"v{newest}.3") == newest
    with pytest.raises(UserError) as exc:
        kubernetes.resolve_version("2.0")
    assert exc.value.exit_code == 2


def test_trial_template_is_checked_with_sample_values() -> None:
    """A placeholder standing where a number belongs stays a string after substitution, as in Katib."""
    text = IRIS.read_text().replace("            restartPolicy: Never\n",
                                    "            restartPolicy: Never\n            activeDeadlineSeconds: ${trialParameters.max_iter}\n")
    doc = load_documents(text, "x.yaml")[0]
    [finding] = [f for f in validate_document(doc) if f.severity == ERROR]
    assert finding.rule == "katib-14"
    assert finding.dotted == "spec.trialTemplate.trialSpec.spec.template.spec.activeDeadlineSeconds"
    assert "not a string (`3`)" in finding.message  # the first value of max_iter's list


def test_kubeflow_job_replicas_are_pod_templates() -> None:
    text = IRIS.read_text().split("    trialSpec:\n")[0] + """    trialSpec:
      apiVersion: kubeflow.org/v1
      kind: PyTorchJob
      spec:
        pytorchReplicaSpecs:
          Master:
            replicas: 1
            template:
              spec:
                containers:
                  - name: training-container
                    image: registry.example.com/t:1
                    command: ['--penalty=${trialParameters.penalty}', '--tol=${trialParameters.tol}']
                    args: ['--C=${trialParameters.C}', '--max-iter=${trialParameters.max_iter}']
          Worker:
            replicas: 2
            template:
              spec:
                containers:
                  - name: training-container
                    image: registry.example.com/t:1
                    resources: {limits: {memory: 4 GB}}
                    volumeMount: []
"""
    doc = load_documents(text, "x.yaml")[0]
    found = [(f.rule, f.dotted) for f in validate_document(doc) if f.severity == ERROR]
    worker = "spec.trialTemplate.trialSpec.spec.pytorchReplicaSpecs.Worker.template.spec.containers[0]"
    assert found == [("k8s-quantity", f"{worker}.resources.limits.memory"), ("k8s-schema", f"{worker}.volumeMount")]


def test_gitops_kinds_use_the_project_schemas() -> None:
    if not (REPO_ROOT / "schemas" / "argocd-application.schema.json").exists():
        pytest.skip("argocd-application.schema.json not written yet")
    text = ("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: a\n  namespace: argocd\n"
            "spec:\n  project: default\n  destinaton: {}\n")
    findings = validate_document(load_documents(text, "app.yaml")[0])
    assert ("gitops-schema", "spec.destinaton", 8) in {(f.rule, f.dotted, f.line) for f in findings}


def test_kustomize_config_is_skipped_and_unknown_kinds_warn() -> None:
    docs = load_documents("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n---\n"
                          "apiVersion: example.com/v1\nkind: Widget\n", "k.yaml")
    assert validate_document(docs[0]) == []
    [warning] = validate_document(docs[1])
    assert (warning.severity, warning.rule, warning.line) == ("warning", "no-schema", 6)
    [error] = validate_document(docs[1], ValidationOptions(strict=True))
    assert error.severity == "error"


def test_fast_and_full_schema_paths_agree() -> None:
    """jsonschema-rs only answers "valid?"; it must agree with python-jsonschema, which finds the errors."""
    from katib_gitops.validation.schema import experiment_validator

    exp = experiment_validator()
    job = kubernetes.kind_validator(kubernetes.resolve_version(None), "batch/v1", "Job")
    if exp._fast is None:
        pytest.skip("jsonschema-rs not installed: every document takes the full path")
    checked = 0
    for path in sorted((HERE / "cases").glob("*/*/*.yaml")):
        try:
            docs = load_documents(path.read_text(), str(path))
        except UserError:
            continue  # the YAML case
        for doc in docs:
            data = doc.data
            if not isinstance(data, dict) or data.get("kind") != "Experiment":
                continue  # the json6902 cases are lists, the github-workflow case no manifest
            assert exp._fast.is_valid(data) == exp.full.is_valid(data), path
            trial = kubernetes.trial_resource(data)
            if trial is not None and trial.get("kind") == "Job":
                assert job._fast.is_valid(trial) == job.full.is_valid(trial), path
            checked += 1
    assert checked > 50
