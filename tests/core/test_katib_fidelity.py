"""render against Katib's deeper behaviours (issue 9): what it writes is what Katib's webhook keeps."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from conftest import cli

SPEC = """\
name: fidelity
objective: {maximize: accuracy}
algorithm: random
parameters:
  lr: {double: [0.01, 0.1]}
trial:
  image: registry.example.com/trainer:1.0
  command: [python3, train.py]
"""


def _kubeflow_trial(kind: str, replicas: str, role: str) -> str:
    """A spec with a one-replica Kubeflow training job as its trial template."""
    return SPEC.replace("""  image: registry.example.com/trainer:1.0
  command: [python3, train.py]
""", f"""  template:
    apiVersion: kubeflow.org/v1
    kind: {kind}
    spec:
      {replicas}:
        {role}:
          replicas: 1
          template:
            spec:
              containers:
                - name: training-container
                  image: registry.example.com/trainer:1.0
                  command: [python3, train.py, "--lr=${{trialParameters.lr}}"]
""")


def _repo(tmp_path: Path, spec: str) -> Path:
    (tmp_path / "experiments").mkdir(parents=True)
    (tmp_path / "experiments" / "fidelity.yaml").write_text(spec)
    return tmp_path


def test_profile_shm_size_is_written_in_go_canonical_form(tmp_path: Path) -> None:
    """Katib's Job round trip refuses `1024Mi` outside resources (Go writes `1Gi`): render writes `1Gi`."""
    repo = _repo(tmp_path, SPEC + "profile: gpu\nprofiles:\n  gpu:\n    shm: {sizeLimit: 1024Mi}\n")
    assert cli("render", "-C", str(repo), "-q") == 0
    (shm,) = [p.read_text() for p in (repo / "overlays" / "gpu" / "patches").glob("*.yaml")]
    assert "sizeLimit: 1Gi" in shm and "1024Mi" not in shm


def test_template_that_never_uses_a_parameter_fails_render_at_the_spec_line(tmp_path: Path, capsys) -> None:
    spec = SPEC.replace("""  image: registry.example.com/trainer:1.0
  command: [python3, train.py]
""", """  template:
    apiVersion: batch/v1
    kind: Job
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: training-container
              image: registry.example.com/trainer:1.0
              command: [python3, train.py]
""")
    repo = _repo(tmp_path, spec)
    assert cli("render", "-C", str(repo)) == 1
    out = capsys.readouterr().err
    assert "experiments/fidelity.yaml:5:" in out  # the line of `lr:`
    assert "parameter lr is never passed to the trial: use ${trialParameters.lr}" in out
    assert not (repo / "base").exists()


def test_kind_without_default_conditions_fails_render_naming_them(tmp_path: Path, capsys) -> None:
    spec = _kubeflow_trial("PaddleJob", "paddleReplicaSpecs", "Worker")
    repo = _repo(tmp_path, spec)
    assert cli("render", "-C", str(repo)) == 1
    out = capsys.readouterr().err
    assert "successCondition and failureCondition must be specified" in out
    assert "not for PaddleJob" in out
    assert not (repo / "base").exists()


def test_empty_primary_pod_labels_get_the_kubeflow_default(tmp_path: Path) -> None:
    """experiment_defaults.go replaces an empty primaryPodLabels for Kubeflow kinds: render writes the default."""
    spec = _kubeflow_trial("PyTorchJob", "pytorchReplicaSpecs", "Master").replace(
        "  template:\n", "  primaryPodLabels: {}\n  template:\n", 1) + "profiles: {cpu: null, gpu: null}\n"
    repo = _repo(tmp_path, spec)
    assert cli("render", "-C", str(repo), "-q") == 0
    exp = yaml.safe_load((repo / "base" / "cpu" / "fidelity.yaml").read_text())
    assert exp["spec"]["trialTemplate"]["primaryPodLabels"] == {"training.kubeflow.org/job-role": "master"}


def test_spec_check_does_not_import_the_validation_engine() -> None:
    """Imports run one way: validation -> spec_check -> render (no spec_check <-> validation cycle)."""
    import ast

    import katib_gitops.validation.spec_lines as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any("validation" in name for name in imported)


def test_validate_names_the_namespaces_that_need_the_injection_label(capsys) -> None:
    """No Namespace manifest among the files: the summary says which namespaces Katib requires the label on."""
    iris = Path(__file__).parents[1] / "validation" / "iris.yaml"
    assert cli("validate", str(iris)) == 0
    err = capsys.readouterr().err
    assert "namespace(s) kubeflow must carry the label katib.kubeflow.org/metrics-collector-injection: enabled" in err


def test_validate_checks_a_spec_file_as_a_spec(tmp_path: Path, capsys) -> None:
    """A file under experiments/ gets the findings `render` would report, not "not a Kubernetes object"."""
    repo = _repo(tmp_path, SPEC.replace("algorithm: random", "algorithm: randm"))
    assert cli("validate", str(repo / "experiments" / "fidelity.yaml")) == 1
    out = capsys.readouterr().out
    assert f"{repo / 'experiments' / 'fidelity.yaml'}:3:" in out and "randm" in out
    assert "not a Kubernetes object" not in out
    good = _repo(tmp_path / "good", SPEC)
    assert cli("validate", str(good / "experiments" / "fidelity.yaml")) == 0


def test_prometheus_port_zero_is_written_as_katibs_default(tmp_path: Path) -> None:
    """experiment_defaults.go turns a port printing "0" into 8080; `metricsCollectors:` declares the kind."""
    repo = _repo(tmp_path, SPEC + "metricsCollector:\n  kind: PrometheusMetric\n  httpGet: {port: 0}\n")
    (repo / "katib-gitops.yaml").write_text("metricsCollectors: [PrometheusMetric]\n")
    assert cli("render", "-C", str(repo), "-q") == 0
    (base,) = (repo / "base").rglob("fidelity.yaml")
    http = yaml.safe_load(base.read_text())["spec"]["metricsCollectorSpec"]["source"]["httpGet"]
    assert http == {"port": 8080, "path": "/metrics"}


# Experiments Katib accepts that never start a trial: render, check and validate refuse them at the spec line.

NEVER_STARTS = SPEC.replace("algorithm: random", "algorithm: bayesianoptimization").replace(
    "lr: {double: [0.01, 0.1]}", "lr: {double: [0, 0.1]}")


def test_render_check_and_validate_report_an_experiment_that_never_starts_at_its_spec_line(tmp_path, capsys) -> None:
    """skopt/base_service.py create_optimizer gives a double a log-uniform prior, which refuses a range holding 0."""
    repo = _repo(tmp_path, NEVER_STARTS)
    assert cli("render", "-C", str(repo)) == 1
    err = capsys.readouterr().err
    assert "experiments/fidelity.yaml:5:" in err and "spec.parameters[0].feasibleSpace.min" in err
    assert "no trial is ever created" in err and not (repo / "base").exists()
    assert cli("validate", "--output=json", str(repo / "experiments" / "fidelity.yaml")) == 1
    [finding] = [f for f in json.loads(capsys.readouterr().out) if f["severity"] == "error"]
    assert (finding["rule"], finding["line"]) == ("never-starts-service", 5)
    good = _repo(tmp_path / "good", SPEC)
    assert cli("render", "-C", str(good), "-q") == 0
    (good / "experiments" / "fidelity.yaml").write_text(NEVER_STARTS)
    capsys.readouterr()
    assert cli("check", "-C", str(good)) == 1
    out = capsys.readouterr()
    assert "[never-starts-service]" in out.out + out.err


def test_what_katibs_webhook_drops_is_not_written(tmp_path: Path) -> None:
    """Katib's mutating webhook stores json.Marshal of the typed Experiment (mutate_webhook.go Handle): the zero
    values of omitempty fields (`retain: false`, an empty description) are gone from the cluster's copy, so a
    base that kept them would never match it (Argo CD OutOfSync for good). render writes the stored form."""
    from katib_gitops.spec.defaults import as_stored

    spec = SPEC.replace("lr: {double: [0.01, 0.1]}", "lr: {double: [0.01, 0.1], description: ''}")
    repo = _repo(tmp_path, spec + "  retain: false\n")
    assert cli("render", "-C", str(repo), "-q") == 0
    (base,) = (repo / "base").rglob("fidelity.yaml")
    experiment = yaml.safe_load(base.read_text())
    template = experiment["spec"]["trialTemplate"]
    assert "retain" not in template
    assert all("description" not in tp for tp in template["trialParameters"])
    assert as_stored(experiment["spec"]) == experiment["spec"]
    # `retain: true` is no zero value: it stays
    repo = _repo(tmp_path / "kept", SPEC + "  retain: true\n")
    assert cli("render", "-C", str(repo), "-q") == 0
    (base,) = (repo / "base").rglob("fidelity.yaml")
    assert yaml.safe_load(base.read_text())["spec"]["trialTemplate"]["retain"] is True


def test_every_rendered_experiment_is_what_katib_stores() -> None:
    """This repository's base/ and every golden case's: nothing in them is dropped by Katib's re-encoding."""
    from conftest import REPO_ROOT
    from katib_gitops.spec.defaults import as_stored

    files = [*(REPO_ROOT / "base").rglob("*.yaml"), *(REPO_ROOT / "tests" / "core" / "cases").glob("*/expected/*.yaml")]
    experiments = [d for f in files for d in yaml.safe_load_all(f.read_text())
                   if isinstance(d, dict) and d.get("kind") == "Experiment"]
    assert len(experiments) >= 7
    for experiment in experiments:
        assert as_stored(experiment["spec"]) == experiment["spec"], experiment["metadata"]["name"]
