"""Turning a trial template into a local command: substitution, env, paths, GPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from katib_gitops.io.findings import UserError
from katib_gitops.runner import executor
from katib_gitops.runner.experiment_view import plan_from_experiment

from runner_helpers import experiment

META_PARAMS = [
    {"name": "x", "reference": "x"},
    {"name": "trialName", "reference": "${trialSpec.Name}"},
    {"name": "ns", "reference": "${trialSpec.Namespace}"},
    {"name": "kind", "reference": "${trialSpec.Kind}"},
    {"name": "api", "reference": "${trialSpec.APIVersion}"},
    {"name": "team", "reference": "${trialSpec.Labels[team]}"},
    {"name": "note", "reference": "${trialSpec.Annotations[example.com/note]}"},
]


AS_WRITTEN = {"collector": {"kind": "None"}}  # no pull collector: the command runs as written


def build(exp, assignments=None, **kw):
    plan = plan_from_experiment(exp)
    kw.setdefault("workdir", Path("/w"))
    kw.setdefault("trial_dir", Path("/o/trials/t-001"))
    kw.setdefault("base_env", {"PATH": "/usr/bin", "HOME": "/root"})
    return executor.build_command(plan, "t-001", assignments or {"x": "0.5"}, **kw)


def test_trial_parameters_and_trial_metadata_are_substituted():
    exp = experiment(
        ["python3", "train.py", "--x=${trialParameters.x}", "--name=${trialParameters.trialName}",
         "${trialParameters.ns}/${trialParameters.kind}/${trialParameters.api}",
         "--team=${trialParameters.team}", "--note=${trialParameters.note}"],
        trial_parameters=META_PARAMS,
        metadata={"labels": {"team": "vision"}, "annotations": {"example.com/note": "hi there"}},
        collector=AS_WRITTEN,
    )
    exp["metadata"]["namespace"] = "kubeflow"
    cmd = build(exp)
    assert cmd.argv == ("python3", "train.py", "--x=0.5", "--name=t-001", "kubeflow/Job/batch/v1",
                        "--team=vision", "--note=hi there")
    assert cmd.cwd == Path("/w")
    assert cmd.log_path == Path("/o/trials/t-001/output.log")


def test_command_and_args_concatenate_like_kubernetes():
    exp = experiment(["python3"], container_extra={"args": ["train.py", "--x=${trialParameters.x}"]},
                     collector=AS_WRITTEN)
    assert build(exp).argv == ("python3", "train.py", "--x=0.5")


def test_missing_label_reference_is_a_user_error():
    exp = experiment(["echo", "${trialParameters.team}", "${trialParameters.x}"],
                     trial_parameters=[{"name": "x", "reference": "x"},
                                       {"name": "team", "reference": "${trialSpec.Labels[team]}"}])
    with pytest.raises(UserError) as exc:
        build(exp)
    assert "no label 'team'" in exc.value.finding.message
    assert exc.value.finding.dotted == "spec.trialTemplate.trialParameters[1].reference"


def test_env_literals_profile_env_and_kubelet_expansion():
    exp = experiment(
        ["sh", "-c", "run $(DATA)/$(MISSING) $$(DATA)"],
        container_extra={"env": [
            {"name": "ROOT", "value": "/data"},
            {"name": "DATA", "value": "$(ROOT)/iris"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ]},
        collector=AS_WRITTEN,
    )
    cmd = build(exp, extra_env={"WANDB_MODE": "offline", "ROOT": "/override"})
    assert cmd.argv[2] == "run /data/iris/$(MISSING) $(DATA)"
    assert cmd.env["DATA"] == "/data/iris"
    assert cmd.env["WANDB_MODE"] == "offline"
    assert cmd.env["ROOT"] == "/override"  # the profile's env wins over the template's
    assert "TOKEN" not in cmd.env
    assert cmd.env["HOME"] == "/root"
    assert cmd.env["PYTHONUNBUFFERED"] == "1"
    assert "CUDA_VISIBLE_DEVICES" not in cmd.env


def test_file_collector_path_is_mapped_into_the_trial_directory():
    exp = experiment(["python3", "train.py", "--log-path=/var/log/katib/metrics.log"],
                     collector={"collector": {"kind": "File"}, "source": {"fileSystemPath": {
                         "path": "/var/log/katib/metrics.log", "kind": "File", "format": "TEXT"}}})
    cmd = build(exp)
    assert cmd.metrics_path == Path("/o/trials/t-001/var/log/katib/metrics.log")
    # File is a pull collector: wrapped in sh -c, no redirect, the completion mark in the file's directory.
    assert cmd.argv == ("sh", "-c", "python3 train.py --log-path=/o/trials/t-001/var/log/katib/metrics.log "
                        "&& echo completed > /o/trials/t-001/var/log/katib/$$.pid")


@pytest.mark.parametrize("path, inside", [
    ("/../../x/m.txt", "x/m.txt"),
    ("/var/log/../../../../etc/passwd", "etc/passwd"),
    ("/a/./b/../m.log", "a/m.log"),
    ("//double//slash.log", "double/slash.log"),
    ("/..", "metrics"),
])
def test_a_file_collector_path_never_leaves_the_trial_directory(path, inside):
    # As the container resolves it: /.. is /, so no spelling reaches outside.
    assert executor.mapped_metrics_path(Path("/o/trials/t-001"), path) == Path("/o/trials/t-001") / inside


@pytest.mark.parametrize("command, wrapped", [
    # pod/utils.go wrapWorkerContainer: joined with spaces into one sh -c string.
    (["python3", "-c", "print('accuracy=0.5')"],
     ["sh", "-c", "python3 -c print('accuracy=0.5') 1>/o/trials/t-001/output.log 2>&1 "
                  "&& echo completed > /o/trials/t-001/$$.pid"]),
    # An existing sh -c / bash -c is kept; the redirect applies to its last command only.
    (["sh", "-c", "echo a; echo accuracy=1"],
     ["sh", "-c", "echo a; echo accuracy=1 1>/o/trials/t-001/output.log 2>&1 "
                  "&& echo completed > /o/trials/t-001/$$.pid"]),
    (["bash", "-c", "train"],
     ["bash", "-c", "train 1>/o/trials/t-001/output.log 2>&1 && echo completed > /o/trials/t-001/$$.pid"]),
    # sh without -c is an ordinary command.
    (["sh", "run.sh"],
     ["sh", "-c", "sh run.sh 1>/o/trials/t-001/output.log 2>&1 && echo completed > /o/trials/t-001/$$.pid"]),
])
def test_stdout_trials_run_the_way_katibs_pod_webhook_rewrites_them(command, wrapped):
    cmd = build(experiment(command))
    assert list(cmd.argv) == wrapped
    assert cmd.container_log == Path("/o/trials/t-001/container.log")
    assert cmd.env["KATIB_TRIAL_NAME"] == "t-001"


def test_early_stopping_adds_katibs_failed_branch():
    exp = experiment(["train"], early_stopping={"algorithmName": "medianstop"})
    (script,) = build(exp).argv[2:]
    assert script.startswith("train 1>/o/trials/t-001/output.log 2>&1 || if test -f /o/trials/t-001/$$.pid")
    assert "else echo Training Container was Failed; exit 1; fi && echo completed" in script


def test_kubelet_expands_katib_trial_name_in_the_command():
    cmd = build(experiment(["echo", "$(KATIB_TRIAL_NAME)"], collector=AS_WRITTEN))
    assert cmd.argv == ("echo", "t-001")


def test_devices_become_cuda_visible_devices():
    cmd = build(experiment(["true"]), devices=["2", "3"])
    assert cmd.env["CUDA_VISIBLE_DEVICES"] == "2,3"


def test_a_container_without_command_cannot_run_locally():
    exp = experiment([], container_extra={"args": ["--x=${trialParameters.x}"]})
    with pytest.raises(UserError, match="no command"):
        build(exp)


def test_gpu_pool_hands_out_whole_disjoint_slots():
    pool = executor.GpuPool(["0", "1", "2", "3", "4"], per_trial=2)
    assert pool.slots == 2
    a, b = pool.acquire(), pool.acquire()
    assert set(a).isdisjoint(b) and len(a) == len(b) == 2
    with pytest.raises(RuntimeError):
        pool.acquire()
    pool.release(a)
    assert pool.acquire() == a


def test_gpu_profile_without_gpus_is_refused_unless_gpus_given(monkeypatch):
    monkeypatch.setattr(executor, "detect_gpus", lambda: [])
    with pytest.raises(UserError) as exc:
        executor.gpu_pool(1, None, "gpu", "experiments/iris.yaml")
    assert "profile gpu asks nvidia.com/gpu: 1 per trial, but no GPU was found" in exc.value.finding.message
    assert "--gpus" in exc.value.finding.message
    pool, note = executor.gpu_pool(2, 5, "gpu", "x")
    assert pool.slots == 2 and "at most 2 trial(s) at once" in note
    with pytest.raises(UserError, match="more than the 1 GPU"):
        executor.gpu_pool(2, 1, "gpu", "x")
    assert executor.gpu_pool(0, None, "cpu", "x") == (None, "")


def test_detect_gpus_counts_nvidia_smi_lines(monkeypatch, tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-a)'\necho 'GPU 1: NVIDIA H100 (UUID: GPU-b)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert executor.detect_gpus() == ["0", "1"]
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert executor.detect_gpus() == []


def test_trials_find_the_runners_python_first(monkeypatch):
    import sys

    cmd = build(experiment(["python3"]))
    assert cmd.env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
