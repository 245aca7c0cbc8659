"""The review loop against live state shaped like `kubectl get -o yaml` / `-o json`: validate --live, check --live
and plan --live compare the live Experiment with what Argo CD or Flux apply (the deployed overlay as kustomize
builds it), Katib's defaults on both sides, Katib's semantic comparison; a sync Katib refuses fails the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, cli
from katib_gitops.build.kustomize import build
from katib_gitops.live.state import load_live
from katib_gitops.live.updates import refusals, same_spec
from katib_gitops.spec.defaults import as_stored
from live_support import FIXTURE, JSON_FIXTURE, as_deployed, item, live_file


def built(root: Path, profile: str) -> dict:
    (exp,) = [d for d in yaml.safe_load_all(build(root / "overlays" / profile)) if d and d["kind"] == "Experiment"]
    return exp


@pytest.fixture
def deployed(committed_iris: Path) -> Path:
    """The repository's iris (cpu and gpu), rendered and committed: what Argo CD and Flux sync."""
    return committed_iris


def cluster(root: Path, tmp_path: Path, state: str, fmt: str = "yaml", spec_edit=None) -> Path:
    """Live state holding both of the repository's Experiments in state, each as its overlay deployed it (render
    writes what Katib's mutating webhook stores, so that is also the stored object)."""
    cpu, gpu = built(root, "cpu"), built(root, "gpu")
    path = live_file(tmp_path, fmt, **{cpu["metadata"]["name"]: state, gpu["metadata"]["name"]: state})
    for exp in (cpu, gpu):
        if spec_edit:
            spec_edit(exp["spec"])
        as_deployed(path, exp["metadata"]["name"], exp)
    return path


def run(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    status = cli(*argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out + err


# --------------------------------------------------------------------------- the fixtures


def test_fixtures_look_like_kubectl_output():
    text = FIXTURE.read_text()
    data = yaml.safe_load(text)
    assert (data["apiVersion"], data["kind"], data["metadata"]) == ("v1", "List", {"resourceVersion": ""})
    kinds = [it["kind"] for it in data["items"]]
    assert {"Trial", "Suggestion"} <= set(kinds) and kinds.count("Experiment") == 10
    running = item("running")
    meta = running["metadata"]
    assert {"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "finalizers"} <= set(meta)
    assert {m["manager"] for m in meta["managedFields"]} == {"argocd-controller", "katib-controller"}
    assert any(m.get("subresource") == "status" for m in meta["managedFields"])
    assert 'value: "1"' in text and 'status: "True"' in text and 'startTime: "2026-' in text  # quoted as kubectl does
    # as Katib's mutating webhook stores it (no zero value of an omitempty field), which is what was applied
    assert as_stored(running["spec"]) == running["spec"]
    applied = json.loads(meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["spec"] == running["spec"]


def test_yaml_and_json_output_read_the_same():
    from_yaml, from_json = load_live(str(FIXTURE)), load_live(str(JSON_FIXTURE))
    assert set(from_json.experiments) == {("kubeflow", f"iris-{s}") for s in ("running", "goal-reached", "max-trials")}
    assert len(from_yaml.experiments) == 10  # the Trial and the Suggestion are not Experiments
    for key, e in from_json.experiments.items():
        y = from_yaml.experiments[key]
        assert (e.spec, e.status, e.labels, e.annotations) == (y.spec, y.status, y.labels, y.annotations)
        assert e.completion_time == y.completion_time


def test_the_recorded_spec_is_what_overlays_cpu_deploys_today():
    """Re-record tests/live/fixtures when this fails: render changed what the repository's iris deploys.
    render writes the Experiment as Katib stores it, so the stored spec is the built one, key for key."""
    exp = built(REPO_ROOT, "cpu")
    live = item("running")["spec"]
    assert live == exp["spec"] and same_spec(live, exp["spec"])


# --------------------------------------------------------------------------- Katib's comparison


def test_defaults_and_omitted_zero_values_are_no_change():
    full = item("running")["spec"]
    bare = json.loads(json.dumps(full))
    del bare["parallelTrialCount"], bare["resumePolicy"], bare["objective"]["metricStrategies"]
    del bare["metricsCollectorSpec"]
    for p in bare["parameters"]:
        del p["feasibleSpace"]["distribution"]
    del bare["trialTemplate"]["successCondition"], bare["trialTemplate"]["failureCondition"]
    bare["trialTemplate"]["retain"] = False
    full["resumePolicy"] = "Never"  # the default, written out
    assert same_spec(bare, full)


@pytest.mark.parametrize("edit", [
    lambda s: s["objective"].__setitem__("goal", 0.98),
    lambda s: s["objective"].pop("goal"),  # a pointer: absent is not 0
    lambda s: s["trialTemplate"]["trialSpec"]["spec"]["template"].__setitem__("metadata", {}),  # unstructured
    lambda s: s["trialTemplate"]["trialSpec"]["spec"].__setitem__("backoffLimit", 0),
    lambda s: s["parameters"][0]["feasibleSpace"]["list"].append("l1"),
])
def test_real_changes_are_changes(edit):
    live, new = item("running")["spec"], item("running")["spec"]
    edit(new)
    assert not same_spec(live, new)


def test_numbers_compare_by_value_as_json_has_one_number_type():
    live, new = item("running")["spec"], item("running")["spec"]
    new["objective"]["goal"] = 0.99
    live["trialTemplate"]["trialSpec"]["spec"]["backoffLimit"] = 2
    new["trialTemplate"]["trialSpec"]["spec"]["backoffLimit"] = 2.0
    assert same_spec(live, new)


def test_a_semantically_unchanged_spec_is_never_refused():
    state = load_live(str(FIXTURE))
    for name in ("goal-reached", "failed", "max-trials-never", "suggestion-end"):
        e = state.get(f"iris-{name}")
        spec = json.loads(json.dumps(e.spec))
        spec["trialTemplate"]["retain"] = False  # e.g. from a team's component; Katib would store it without
        assert refusals(e, spec) == [], name


# --------------------------------------------------------------------------- the commands


@pytest.mark.parametrize("state,fmt", [("goal-reached", "yaml"), ("goal-reached", "json"), ("max-trials-never", "yaml"),
                                       ("failed", "json"), ("running", "yaml"), ("created", "yaml")])
def test_an_unchanged_tree_is_no_alarm(deployed: Path, tmp_path: Path, capsys, fmt: str, state: str):
    """The false alarms of comparing with base/: a completed Experiment under a profile looked changed."""
    live = cluster(deployed, tmp_path, state, fmt)
    status, out = run(capsys, "validate", "-C", str(deployed), "--live", str(live))
    assert status == 0 and "katib-update" not in out, out
    status, out = run(capsys, "check", "-C", str(deployed), "--live", str(live))
    assert status == 0 and "in sync and valid" in out, out
    status, out = run(capsys, "plan", "-C", str(deployed), "--base", "HEAD", "--live", str(live))
    assert status == 0 and "REFUSED" not in out and "pass --live" not in out and "= 2 unchanged" in out, out


def _line(root: Path, fragment: str) -> int:
    lines = (root / "experiments" / "iris.yaml").read_text().splitlines()
    return next(i for i, ln in enumerate(lines, 1) if fragment in ln)


def test_check_live_refuses_more_trials_for_an_experiment_that_reached_its_goal(deployed: Path, tmp_path: Path,
                                                                               capsys):
    live = cluster(deployed, tmp_path, "goal-reached", "json")
    spec = deployed / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("max: 12", "max: 24"))
    assert cli("render", "-C", str(deployed), "-q") == 0
    status, out = run(capsys, "check", "-C", str(deployed), "--live", str(live))
    refused = [ln for ln in out.splitlines() if "[katib-update-completed]" in ln]
    assert status == 1 and len(refused) == 2, out  # the cpu and the gpu Experiment
    assert all(ln.startswith(f"experiments/iris.yaml:{_line(deployed, 'resumePolicy:')}:") for ln in refused)
    assert "ExperimentGoalReached" in refused[0]
    status, out = run(capsys, "check", "-C", str(deployed), "--live", str(live), "--output", "github")
    assert status == 1 and "::error file=experiments/iris.yaml" in out
    status, out = run(capsys, "plan", "-C", str(deployed), "--base", "HEAD", "--live", str(live))
    assert status == 3 and out.count("REFUSED by Katib") == 2 and "pass --live" not in out


def test_check_live_refuses_a_completed_never_resuming_experiment(iris_repo: Path, tmp_path: Path, capsys):
    spec = iris_repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("resumePolicy: LongRunning", "resumePolicy: Never"))
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    live = cluster(iris_repo, tmp_path, "max-trials-never")
    assert cli("check", "-C", str(iris_repo), "--live", str(live)) == 0
    spec.write_text(spec.read_text().replace("parallel: 3", "parallel: 2"))
    assert cli("render", "-C", str(iris_repo), "-q") == 0
    status, out = run(capsys, "check", "-C", str(iris_repo), "--live", str(live), "--output", "json")
    findings = json.loads(out[:out.rindex("]") + 1])
    rules = sorted(f["rule"] for f in findings if f["severity"] == "error")
    # 12 trials already: a maxTrialCount of 12 is refused too (a restart needs it above status.trials)
    assert status == 1 and rules == ["katib-update-completed"] * 2 + ["katib-update-max-trials"] * 2, findings
    (completed,) = {(f["file"], f["line"], f["path"]) for f in findings if f["rule"] == "katib-update-completed"}
    assert completed == ("experiments/iris.yaml", _line(iris_repo, "resumePolicy:"), "spec.resumePolicy")
    assert all("(it has Never)" in f["message"] for f in findings if f["rule"] == "katib-update-completed")
    (trials,) = {(f["line"], f["path"]) for f in findings if f["rule"] == "katib-update-max-trials"}
    assert trials == (_line(iris_repo, "max: 12"), "spec.maxTrialCount")


def test_an_immutable_difference_is_refused_at_the_spec_field(deployed: Path, tmp_path: Path, capsys):
    """The cluster's Experiment differs in an immutable field from what git deploys under the same name (edited on
    the cluster): the next sync is refused, at the spec's trial line; plan shows it although git did not change."""
    live = cluster(deployed, tmp_path, "running",
                   spec_edit=lambda s: s["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
                   .__setitem__("image", "registry.example/tuner:hotfix"))
    status, out = run(capsys, "check", "-C", str(deployed), "--live", str(live))
    immutable = [ln for ln in out.splitlines() if "[katib-update-immutable]" in ln]
    assert status == 1 and len(immutable) == 2 and "spec.trialTemplate" in immutable[0], out
    assert all(ln.startswith(f"experiments/iris.yaml:{_line(deployed, 'trial:')}:") for ln in immutable)
    status, out = run(capsys, "plan", "-C", str(deployed), "--base", "HEAD", "--live", str(live))
    assert status == 3 and "unchanged: iris-" in out and "the next sync is refused" in out


def test_a_count_raised_on_the_cluster_is_reverted_by_the_sync_and_refused(deployed: Path, tmp_path: Path, capsys):
    """iris was restarted on the cluster with maxTrialCount 16 (14 trials now); git still says 12, so the next
    sync sets 12, which Katib refuses (not above status.trials): at the spec's trials.max line."""
    live = cluster(deployed, tmp_path, "resumed", spec_edit=lambda s: s.__setitem__("maxTrialCount", 16))
    status, out = run(capsys, "check", "-C", str(deployed), "--live", str(live))
    refused = [ln for ln in out.splitlines() if "[katib-update-max-trials]" in ln]
    assert status == 1 and len(refused) == 2 and "(14)" in refused[0], out
    assert all(ln.startswith(f"experiments/iris.yaml:{_line(deployed, 'max: 12')}:") for ln in refused)


def test_unreadable_live_state_is_a_usage_error_for_every_command(deployed: Path, tmp_path: Path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"items": [')
    for argv in (["check", "-C", str(deployed)], ["plan", "-C", str(deployed), "--base", "HEAD"],
                 ["validate", "-C", str(deployed)]):
        status, out = run(capsys, *argv, "--live", str(bad))
        assert status == 2 and "bad.json:" in out, (argv, out)
