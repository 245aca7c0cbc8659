"""Tools and live state are untrusted too: kustomize's output, kustomizations that reach outside the
repository, `--live` input and kubectl, what `results --write` writes, and the API server's size limits.

Fake tools (a `kustomize` or `kubectl` first on PATH) stand for a broken or hostile binary; everything else
is the real kustomize. Each refusal: exit status, one FILE:LINE:COL line naming the user's file, no
traceback, the repository and the directory outside it unchanged, no process left (``refused``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT
from hostile_support import fake_tool, no_process_left, refused, run, use_tools
from test_corpus import rendered_template, snapshot  # noqa: F401 (fixture)
from test_untrusted_inputs import outside, repo  # noqa: F401 (fixtures)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live"))
from live_support import item  # noqa: E402

SAFETY_NET_S = 20  # not a speed goal: catches a hang or a blow-up


@pytest.fixture
def secrets_outside(outside: Path) -> Path:
    """A directory outside the repository holding what a hostile kustomization would read."""
    (outside / "secret.env").write_text("TOKEN=hunter2\n")
    (outside / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\ndata: {a: b}\n")
    return outside


def _kustomize_that(tmp_path: Path, monkeypatch, gpu_behaviour: str) -> None:
    """A kustomize that misbehaves (gpu_behaviour, sh) when building overlays/gpu; the real one otherwise."""
    fake_tool(tmp_path / "bin", "kustomize", f'case "$2" in\n  */overlays/gpu) {gpu_behaviour} ;;\n'
              f'  *) exec kubectl kustomize "$2" ;;\nesac\n')
    use_tools(monkeypatch, tmp_path / "bin")


# --------------------------------------------------------------------------- what kustomize prints


@pytest.mark.parametrize("behaviour,fragment", [
    ("exit 0", "the build printed no objects; lacks the Experiment(s) iris-"),
    ('kubectl kustomize "$2"; printf -- "---\\napiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: stray}\\n"',
     "the build holds a ConfigMap 'stray' (an overlay's build holds exactly the Experiments rendered to it)"),
    ('printf "apiVersion: v1\\nkind: List\\nitems: []\\n"', "the build holds a List; lacks the Experiment(s) iris-"),
    ('printf -- "- a\\n- b\\n"', "the build printed a list where an object belongs"),
    ('kubectl kustomize "$2" | sed "s/name: iris-/name: other-/"', "that no spec renders to this overlay"),
    ('printf "kind: Experiment\\n\\377\\376\\n"', "kustomize build printed output that is not UTF-8"),
    ('printf "a: [\\n"', "invalid YAML"),
])
def test_a_build_that_does_not_hold_its_overlay_is_an_error_naming_it(repo: Path, tmp_path: Path, monkeypatch,
                                                                       behaviour: str, fragment: str, capsys):
    _kustomize_that(tmp_path, monkeypatch, behaviour)
    before = snapshot(repo)
    code, out, err = run(["check", "-C", str(repo)], capsys)
    refused(code, out, 1, fragment, repo, before)
    assert out.startswith("overlays/gpu (kustomize build):")
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("max: 12", "max: 13"))  # render's gate builds the same way
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 1 and fragment in err and snapshot(repo) == before  # never writes what check rejects


def test_a_hanging_kustomize_is_killed_with_what_it_started(repo: Path, tmp_path: Path, monkeypatch, capsys):
    from katib_gitops.build import kustomize

    pids = tmp_path / "pids"
    _kustomize_that(tmp_path, monkeypatch, f'sleep 600 & echo $! > {pids}; echo $$ >> {pids}; wait')
    monkeypatch.setattr(kustomize, "TIMEOUT_S", 1)
    before = snapshot(repo)
    started = time.monotonic()
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert time.monotonic() - started < SAFETY_NET_S
    refused(code, out, 1, "overlays/gpu (kustomize build):0:0: kustomize build did not finish within 1 s", repo,
            before)
    no_process_left([int(p) for p in pids.read_text().split()])


def test_a_kustomize_that_prints_without_end_is_stopped(repo: Path, tmp_path: Path, monkeypatch, capsys):
    from katib_gitops.build import kustomize

    _kustomize_that(tmp_path, monkeypatch, "yes 'apiVersion: v1'")
    monkeypatch.setattr(kustomize, "MAX_OUTPUT", 1024 * 1024)
    before = snapshot(repo)
    code, out, err = run(["check", "-C", str(repo)], capsys)
    refused(code, out, 1, "overlays/gpu (kustomize build):0:0: kustomize build printed more than 1 MiB", repo,
            before)


def test_an_error_elsewhere_stops_the_builds_at_once(repo: Path, tmp_path: Path, monkeypatch, capsys):
    pids = tmp_path / "pids"
    fake_tool(tmp_path / "bin", "kustomize", f'echo $$ >> {pids}; sleep 600\n')
    use_tools(monkeypatch, tmp_path / "bin")
    (repo / "experiments" / "iris.yaml").write_text("name: iris\nobjective: [\n")  # the spec cannot be read
    before = snapshot(repo)
    started = time.monotonic()
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert time.monotonic() - started < SAFETY_NET_S and code == 1 and "invalid YAML" in out
    assert snapshot(repo) == before
    no_process_left([int(p) for p in pids.read_text().split()] if pids.exists() else [])


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_or_ctrl_c_kills_the_running_builds(repo: Path, tmp_path: Path, sig, status):
    pids = tmp_path / "pids"
    fake_tool(tmp_path / "bin", "kustomize", f'sleep 600 & echo $! >> {pids}; echo $$ >> {pids}; wait\n')
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO_ROOT / "generator")}
    proc = subprocess.Popen([sys.executable, "-m", "katib_gitops", "check", "-C", str(repo)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + SAFETY_NET_S
    while (not pids.exists() or len(pids.read_text().split()) < 2) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=SAFETY_NET_S)
    assert proc.returncode == status and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] in ("katib-gitops: terminated", "katib-gitops: interrupted")
    no_process_left([int(p) for p in pids.read_text().split()])


# --------------------------------------------------------------------------- kustomizations may not reach outside


def _custom(repo: Path, body: str) -> Path:
    custom = repo / "overlays" / "cpu" / "custom"
    custom.mkdir()
    path = custom / "kustomization.yaml"
    path.write_text("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" + body)
    return path


@pytest.mark.parametrize("body,fragment", [
    ("configMapGenerator:\n- name: x\n  files:\n  - ../../../../outside/cm.yaml\n",
     "overlays/cpu/custom/kustomization.yaml:6:5: configMapGenerator[0].files[0]: refusing '../../../../outside/cm.yaml'"),
    ("configMapGenerator:\n- name: x\n  envs: [OUTSIDE_ENV]\n", "configMapGenerator[0].envs[0]: refusing"),
    ("resources:\n- ../../../../outside\n", "resources[0]: refusing '../../../../outside': it leads out"),
    ("resources:\n- github.com/kubeflow/katib//examples?ref=master\n", "refusing the remote base"),
    ("resources:\n- https://raw.githubusercontent.com/x/y/main/cm.yaml\n", "refusing the remote base"),
    ("patches:\n- path: ../../../../outside/cm.yaml\n", "patches[0].path: refusing"),
    ("components:\n- ../../../../outside/comp\n", "components[0]: refusing"),
    ("resources:\n- no-such-dir\n", "'no-such-dir' is not in the repository"),
])
def test_a_kustomization_reaching_outside_the_repository_is_refused(repo: Path, secrets_outside: Path, body: str,
                                                                     fragment: str, capsys):
    outside = secrets_outside
    body = body.replace("OUTSIDE_ENV", str(outside / "secret.env"))
    (outside / "comp").mkdir()
    (outside / "comp" / "kustomization.yaml").write_text("kind: Component\nresources: [../cm.yaml]\n")
    _custom(repo, body)
    code, out, err = run(["render", "-C", str(repo)], capsys)  # adds custom/ to the overlay: refused
    assert code == 1, err
    before, before_outside = snapshot(repo), snapshot(outside)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    line = refused(code, err, 1, fragment, repo, before, outside, before_outside)
    assert "hunter2" not in out + err and "stolen" not in out + err
    # check builds what is on disk: an overlay that lists the component (as an earlier render wrote it)
    kust = repo / "overlays" / "cpu" / "kustomization.yaml"
    kust.write_text(kust.read_text() + "components:\n- custom\n")
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert code == 1 and fragment.split(":", 3)[-1] in out and "stolen" not in out and "hunter2" not in out
    assert line


@pytest.mark.parametrize("field", ["envs: [data/secret.env]", "files: [data/cm.yaml]"])
def test_a_symlink_in_a_component_leading_outside_is_refused(repo: Path, secrets_outside: Path, field: str, capsys):
    _custom(repo, f"configMapGenerator:\n- name: x\n  {field}\n")
    (repo / "overlays" / "cpu" / "custom" / "data").symlink_to(secrets_outside)
    before, before_outside = snapshot(repo), snapshot(secrets_outside)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    refused(code, err, 1, "overlays/cpu/custom/data:0:0: refusing to follow a symlink out of the repository", repo,
            before, secrets_outside, before_outside)
    kust = repo / "overlays" / "cpu" / "kustomization.yaml"
    kust.write_text(kust.read_text() + "components:\n- custom\n")  # as an earlier render would have listed it
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert code == 1 and "refusing 'data/" in out and "hunter2" not in out + err and "stolen" not in out + err


def test_validate_of_an_overlay_reaching_outside_is_refused(repo: Path, secrets_outside: Path, capsys):
    outside = secrets_outside
    kust = repo / "overlays" / "cpu" / "kustomization.yaml"
    kust.write_text(kust.read_text().replace("resources:\n", f"resources:\n- {outside}/cm.yaml\n"))
    before, before_outside = snapshot(repo), snapshot(outside)
    code, out, err = run(["validate", str(repo / "overlays" / "cpu")], capsys)
    assert code == 1 and "stolen" not in out + err
    refused(code, out, 1, "resources[0]: refusing", repo, before, outside, before_outside)


# --------------------------------------------------------------------------- --live input


LIVE_DOCS = {
    "a ConfigMap": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "a ConfigMap, not an Experiment"),
    "a List of Pods": ("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n",
                       "items[0] is not a kubeflow.org Experiment (Pod)"),
    "empty": ("", "empty: expected the output of `kubectl get experiments -A -o yaml`"),
    "a scalar": ("just text\n", "not a str"),
    "items null": ("apiVersion: v1\nkind: List\nitems:\n", "a List without items"),
    "a mixed List": (None, "items[1] is not a kubeflow.org Experiment (Secret)"),
    "a duplicate": (None, "the Experiment kubeflow/iris-running is listed twice"),
}


@pytest.mark.parametrize("case", sorted(LIVE_DOCS))
@pytest.mark.parametrize("command", ["status", "results"])
def test_live_input_that_is_not_experiments_is_an_error(repo: Path, tmp_path: Path, case: str, command: str,
                                                        capsys):
    text, fragment = LIVE_DOCS[case]
    if text is None:
        items = [item("running"), {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}] \
            if case == "a mixed List" else [item("running"), item("running")]
        text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items})
    live = tmp_path / "live.yaml"
    live.write_text(text)
    before = snapshot(repo)
    code, out, err = run([command, "-C", str(repo), "--live", str(live), *(["--write"] if command == "results"
                                                                          else [])], capsys)
    refused(code, err, 2, fragment, repo, before)
    assert err.startswith(str(live))


def test_an_experiment_list_from_the_api_server_is_read(tmp_path: Path):
    from katib_gitops.live.state import parse_live

    it = item("running")
    del it["kind"], it["apiVersion"]  # the API server's list items carry neither
    state = parse_live(yaml.safe_dump({"apiVersion": "kubeflow.org/v1beta1", "kind": "ExperimentList",
                                       "items": [it]}), "f")
    assert state.get("iris-running") is not None


def _kubectl(tmp_path: Path, monkeypatch, get: str) -> None:
    fake_tool(tmp_path / "bin", "kubectl", f'case "$1" in config) echo ctx; exit 0;; esac\n{get}\n')
    use_tools(monkeypatch, tmp_path / "bin")


def test_kubectl_output_is_capped_as_files_are(repo: Path, tmp_path: Path, monkeypatch, capsys):
    from katib_gitops.io import yamlio

    monkeypatch.setattr(yamlio, "MAX_BYTES", 64 * 1024)
    _kubectl(tmp_path, monkeypatch, "yes 'apiVersion: v1'")
    before = snapshot(repo)
    code, out, err = run(["status", "-C", str(repo)], capsys)
    refused(code, err, 2, "--live kubectl:0:0: `kubectl get experiments.kubeflow.org --all-namespaces --output yaml` "
            "printed more than 0 MiB", repo, before)


def test_a_hanging_exec_plugin_is_killed_with_kubectl(repo: Path, tmp_path: Path, monkeypatch, capsys):
    from katib_gitops.live import state as live

    pids = tmp_path / "pids"
    # kubectl runs its exec credential plugin, which never answers.
    plugin = fake_tool(tmp_path / "plugin", "plugin", f"echo $$ >> {pids}; sleep 600\n")
    _kubectl(tmp_path, monkeypatch, f"echo $$ >> {pids}; {plugin} & wait")
    monkeypatch.setattr(live, "KUBECTL_TIMEOUT_S", 1)
    before = snapshot(repo)
    code, out, err = run(["plan", "-C", str(repo), "--live", "kubectl", "--base", "HEAD"], capsys)
    refused(code, err, 2, "did not answer within 1 s", repo, before)
    no_process_left([int(p) for p in pids.read_text().split()])


# --------------------------------------------------------------------------- results --write validates first


def _results_live(repo: Path, tmp_path: Path, **changes) -> Path:
    name = yaml.safe_load((repo / "base" / "cpu" / "iris.yaml").read_text())["metadata"]["name"]
    it = item("max-trials")
    it["metadata"]["name"] = changes.pop("name", name)
    it["metadata"]["labels"]["katib-gitops.dev/spec"] = "iris"
    it["status"].update(changes)
    live = tmp_path / "live.yaml"
    live.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [it]}))
    return live


@pytest.mark.parametrize("changes,fragment", [
    ({"trials": -3}, "experiments[0].trials.total: must be >= 0, not -3"),
    ({"trialsSucceeded": -1}, "experiments[0].trials.succeeded"),
    ({"trialsFailed": -7}, "experiments[0].trials.failed"),
    ({"name": "iris-" + "x" * 70}, "experiments[0].name"),
    ({"trialMetricsUnavailable": -2}, "experiments[0].trials.metricsUnavailable"),
])
def test_results_write_never_writes_what_check_rejects(repo: Path, tmp_path: Path, changes: dict, fragment: str,
                                                       capsys):
    live = _results_live(repo, tmp_path, **changes)
    before = snapshot(repo)
    code, out, err = run(["results", "-C", str(repo), "--live", str(live), "--write"], capsys)
    refused(code, err, 1, fragment, repo, before)
    assert err.startswith("results/iris.yaml:") and "nothing was written" in err


def test_a_fifo_results_file_never_blocks(repo: Path, tmp_path: Path, capsys):
    from test_untrusted_inputs import no_hang

    (repo / "results").mkdir()
    os.mkfifo(repo / "results" / "iris.yaml")
    live = _results_live(repo, tmp_path)
    before = snapshot(repo)
    with no_hang():
        code, out, err = run(["results", "-C", str(repo), "--live", str(live), "--write"], capsys)
        refused(code, err, 2, "results/iris.yaml:0:0: a FIFO stands where a results file belongs", repo, before)
        code, out, err = run(["check", "-C", str(repo)], capsys)
    assert code == 0 and "results/iris.yaml:0:0: warning: skipped: a FIFO" in out


# --------------------------------------------------------------------------- the API server's limits, at the spec


@pytest.mark.parametrize("edit,fragment", [
    (lambda t: t.replace("name: iris\n", "name: iris\nlabels: {team: " + "x" * 64 + "}\n", 1),
     "metadata.labels.team: `" + "x" * 64 + "` is not a valid label value"),
    (lambda t: t.replace("name: iris\n", 'name: iris\nlabels: {team: "a\\u200db"}\n', 1),
     "metadata.labels.team: `a\\u200db` is not a valid label value"),
    (lambda t: t.replace("name: iris\n", "name: iris\nlabels: {bad key: x}\n", 1),
     "metadata.labels.bad key: `bad key` is not a valid label key"),
    (lambda t: t.replace("name: iris\n", "name: iris\nannotations: {a: " + "y" * (257 * 1024) + "}\n", 1),
     "metadata.annotations: annotations total"),
    (lambda t: t.replace("  image:", "  podLabels: {queue: 'q\u200d'}\n  image:", 1),
     "is not a valid label value"),
])
def test_api_server_limits_are_errors_at_the_spec(repo: Path, edit, fragment: str, capsys):
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(edit(spec.read_text()))
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    line = refused(code, err, 1, fragment, repo, before)
    assert line.startswith("experiments/iris.yaml:")


def _wide_spec(params: int = 0, values: int = 0) -> str:
    if params:
        space = "\n".join(f"  p{i}: {{double: [0.0, 1.0]}}" for i in range(params))
    else:
        space = "  c: {categorical: [" + ", ".join(f"v{i}" for i in range(values)) + "]}"
    return (f"name: wide\nobjective: {{maximize: accuracy}}\nalgorithm: random\ntrials: {{max: 3, parallel: 1}}\n"
            f"parameters:\n{space}\ntrial:\n  image: x/y:1\n  command: [python3, train.py]\n")


@pytest.mark.parametrize("params,values,fragment", [
    (10_000, 0, "experiments/wide.yaml:5:1: parameters: the Experiment this spec renders to"),
    (0, 1_000_000, "experiments/wide.yaml:1:1: the spec holds"),
])
def test_a_spec_too_large_for_kubernetes_is_refused_at_the_spec_quickly(repo: Path, params: int, values: int,
                                                                        fragment: str, capsys):
    (repo / "experiments" / "wide.yaml").write_text(_wide_spec(params, values))
    before = snapshot(repo)
    started = time.monotonic()
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert time.monotonic() - started < SAFETY_NET_S
    line = refused(code, err, 1, fragment, repo, before)
    assert "1,572,864 bytes (1.5 MiB)" in line
