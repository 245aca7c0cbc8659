"""Profiles: repo-level settings, per-spec choice and overrides, roles in training kinds, conflicts, team patches."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import cli
from katib_gitops.build import kustomize

TRAINJOB_SPEC = """\
name: {name}
objective: {{minimize: loss}}
algorithm: random
parameters:
  lr: {{double: [0.01, 0.1]}}
trial:
  primaryContainer: node
  template:
    apiVersion: trainer.kubeflow.org/v1alpha1
    kind: TrainJob
    spec:
      runtimeRef: {{name: torch-distributed}}
      trainer:
        command: [python3, train.py, "--lr=${{trialParameters.lr}}"]
{profiles}"""

MPIJOB_SPEC = """\
name: mpi
profile: gpu
objective: {minimize: loss}
algorithm: random
parameters:
  lr: {double: [0.01, 0.1]}
trial:
  primaryContainer: mpi
  template:
    apiVersion: kubeflow.org/v2beta1
    kind: MPIJob
    spec:
      slotsPerWorker: 1
      mpiReplicaSpecs:
        Launcher:
          replicas: 1
          template:
            spec:
              containers:
                - name: mpi
                  image: mpi:1
                  command: [mpirun, python3, train.py, "--lr=${trialParameters.lr}"]
        Worker:
          replicas: 2
          template:
            spec:
              containers:
                - name: mpi
                  image: mpi:1
"""

SHORT = """\
name: {name}
{extra}objective: {{maximize: accuracy}}
algorithm: random
parameters:
  lr: {{double: [0.01, 0.1]}}
trial:
  image: trainer:1
  command: [python3, train.py]
{trial}"""


def write(repo: Path, name: str, text: str) -> None:
    (repo / "experiments").mkdir(exist_ok=True)
    (repo / "experiments" / f"{name}.yaml").write_text(text)


def built(repo: Path, overlay: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(kustomize.build(repo / "overlays" / overlay)) if d]


def render_error(repo: Path, capsys) -> str:
    assert cli("render", "-C", str(repo)) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert not (repo / "base").exists(), "nothing may be written when the render stops"
    return line


def test_trainjob_gets_what_its_template_exposes(tmp_path: Path):
    write(tmp_path, "tj", TRAINJOB_SPEC.format(name="tj", profiles="profile: gpu\n"))
    assert cli("render", "-C", str(tmp_path), "-q", "--no-validate") == 0
    (exp,) = built(tmp_path, "gpu")
    body = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]
    assert body["trainer"]["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "1"
    (override,) = body["podSpecOverrides"]
    assert override["targetJobs"] == [{"name": "node"}]
    assert override["tolerations"][0]["key"] == "feature.node.kubernetes.io/type"
    assert override["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    assert override["containers"] == [{"name": "node", "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]}]


def test_trainjob_refuses_what_it_cannot_take(tmp_path: Path, capsys):
    (tmp_path / "katib-gitops.yaml").write_text("profiles:\n  gpu: {runtimeClassName: nvidia}\n")
    write(tmp_path, "tj", TRAINJOB_SPEC.format(name="tj", profiles="profile: gpu\n"))
    line = render_error(tmp_path, capsys)
    assert line.startswith("experiments/tj.yaml:8:3: trial.template: profile 'gpu' sets runtimeClassName")
    assert "TrainingRuntime" in line


def test_mpijob_launcher_gets_placement_but_no_gpus(tmp_path: Path):
    write(tmp_path, "mpi", MPIJOB_SPEC)
    assert cli("render", "-C", str(tmp_path), "-q", "--no-validate") == 0
    (exp,) = built(tmp_path, "gpu")
    roles = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["mpiReplicaSpecs"]
    launcher, worker = roles["Launcher"]["template"]["spec"], roles["Worker"]["template"]["spec"]
    assert launcher["tolerations"] == worker["tolerations"] and launcher["tolerations"][0]["value"] == "gpu"
    assert "resources" not in launcher["containers"][0] and "volumes" not in launcher
    assert worker["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker["volumes"][0]["emptyDir"] == {"medium": "Memory"}


def test_configmap_trial_needs_its_profile_switched_off(tmp_path: Path, capsys):
    text = SHORT.format(name="cm", extra="", trial="").replace(
        "  image: trainer:1\n  command: [python3, train.py]\n",
        "  configMap: {name: t, namespace: kubeflow, templatePath: job.yaml}\n")
    write(tmp_path, "cm", text)
    assert "ConfigMap the tool cannot see" in render_error(tmp_path, capsys)
    write(tmp_path, "cm", text + "profiles: {cpu: null}\n")
    assert cli("render", "-C", str(tmp_path), "-q", "--no-validate") == 0
    assert "patches" not in (tmp_path / "overlays" / "cpu" / "kustomization.yaml").read_text()


@pytest.mark.parametrize("extra, trial, where, words", [
    # a GPU limit that contradicts gpus, in the spec's own profile override
    ("profile: gpu\n", "profiles:\n  gpu: {limits: {nvidia.com/gpu: 0.5}}\n",
     "experiments/x.yaml:11:18: profiles.gpu.limits.nvidia.com/gpu:", "but gpus is 1"),
    # the same env name in the trial and (differently) in the profile
    ("profile: gpu\n", "  env: {NCCL_DEBUG: INFO}\nprofiles:\n  gpu: {env: {NCCL_DEBUG: WARN}}\n",
     "experiments/x.yaml:10:9: trial.env.NCCL_DEBUG:", "env NCCL_DEBUG is set by the trial"),
    # a mount on /dev/shm in the trial and the profile's shm
    ("profile: gpu\n", "  volumes: [{name: cache, emptyDir: {}}]\n  volumeMounts: [{name: cache, mountPath: /dev/shm}]\n",
     "experiments/x.yaml:11:3: trial.volumeMounts:", "already mounts 'cache' on /dev/shm"),
    # the trial's own resources against a profile's explicit value
    ("", "  resources: {limits: {cpu: '0.5'}}\nprofiles:\n  cpu: {limits: {cpu: '4'}}\n",
     "experiments/x.yaml:9:24: trial.resources.limits.cpu:", "is 0.5 in the trial but 4 in profile 'cpu'"),
    # an unknown profile
    ("profile: gpu-a10\n", "", "experiments/x.yaml:2:1: profile:", "no profile 'gpu-a10'"),
])
def test_conflicts_are_errors_at_the_spec_line(tmp_path: Path, capsys, extra: str, trial: str, where: str, words: str):
    write(tmp_path, "x", SHORT.format(name="x", extra=extra, trial=trial))
    line = render_error(tmp_path, capsys)
    assert line.startswith(where) and words in line, line


def test_trial_resources_keep_their_values_under_built_in_defaults(tmp_path: Path):
    write(tmp_path, "x", SHORT.format(name="x", extra="profile: gpu\n",
                                      trial="  resources: {limits: {cpu: '0.5', memory: 1Gi}}\n"))
    assert cli("render", "-C", str(tmp_path), "-q") == 0
    (exp,) = built(tmp_path, "gpu")
    res = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res == {"limits": {"cpu": "0.5", "memory": "1Gi", "nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}


FULL_TRIAL = """\
  serviceAccountName: trainer
  imagePullSecrets: [registry]
  volumes:
    - {name: data, persistentVolumeClaim: {claimName: datasets, readOnly: true}}
    - {name: settings, configMap: {name: trainer-settings}}
    - {name: token, secret: {secretName: hub-token}}
  volumeMounts:
    - {name: data, mountPath: /data, readOnly: true}
    - {name: settings, mountPath: /etc/trainer}
    - {name: token, mountPath: /var/run/token, readOnly: true}
  priorityClassName: research
  resources: {limits: {cpu: '1', memory: 2Gi}, requests: {cpu: '1', memory: 2Gi}}
  affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1, preference: {matchExpressions: [{key: zone, operator: In, values: [a]}]}}]}}
  nodeSelector: {pool: ml}
"""


def test_short_form_covers_what_teams_need_and_stays_restricted(tmp_path: Path, capsys):
    write(tmp_path, "x", SHORT.format(name="x", extra="profile: [cpu, gpu]\n", trial=FULL_TRIAL))
    assert cli("render", "-C", str(tmp_path), "-q") == 0
    for overlay in ("cpu", "gpu"):
        (exp,) = built(tmp_path, overlay)
        pod = exp["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "trainer" and pod["priorityClassName"] == "research"
        assert pod["imagePullSecrets"] == [{"name": "registry"}] and pod["nodeSelector"] == {"pool": "ml"}
        assert [v["name"] for v in pod["volumes"]][:3] == ["data", "settings", "token"]
        assert pod["containers"][0]["resources"]["limits"]["memory"] == "2Gi"
        capsys.readouterr()
        # (with katib-config's injectSecurityContext, which Katib's collector sidecar needs under restricted)
        assert cli("validate", "--pod-security", "restricted", "--inject-security-context",
                   str(tmp_path / "overlays" / overlay)) == 0, capsys.readouterr().out


def test_team_component_is_included_and_never_touched(tmp_path: Path):
    write(tmp_path, "x", SHORT.format(name="x", extra="", trial=""))
    custom = tmp_path / "overlays" / "cpu" / "custom"
    custom.mkdir(parents=True)
    mine = {"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                  "commonAnnotations: {team.example.com/owner: vision}\n"}
    for name, text in mine.items():
        (custom / name).write_text(text)
    assert cli("render", "-C", str(tmp_path), "-q") == 0
    assert "components:\n- custom\n" in (tmp_path / "overlays" / "cpu" / "kustomization.yaml").read_text()
    (exp,) = built(tmp_path, "cpu")
    assert exp["metadata"]["annotations"]["team.example.com/owner"] == "vision"
    assert cli("render", "-C", str(tmp_path), "-q") == 0 and cli("check", "-C", str(tmp_path)) == 0
    assert {p.name: p.read_text() for p in custom.iterdir()} == mine


def test_run_needs_a_profile_the_spec_deploys_under(tmp_path: Path):
    from katib_gitops.io.findings import UserError
    from katib_gitops.build.render import load_for_run

    write(tmp_path, "x", SHORT.format(name="x", extra="profile: gpu\n", trial=""))
    assert load_for_run(tmp_path / "experiments" / "x.yaml").gpus_per_trial == 1  # its only profile, by default
    with pytest.raises(UserError, match="not deployed under profile 'cpu'; it deploys under gpu"):
        load_for_run(tmp_path / "experiments" / "x.yaml", "cpu")


def test_name_with_hash_must_fit_katibs_limit(tmp_path: Path, capsys):
    name = "a" * 32  # + "-" + 8 hex characters = 41 > 40
    write(tmp_path, name, TRAINJOB_SPEC.format(name=name, profiles="profiles: {cpu: null}\n"))
    assert cli("render", "-C", str(tmp_path)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"experiments/{name}.yaml:1:1: name: Experiment name '{name}-")
    assert "Katib allows 40" in err


def _readme_profiles() -> str:
    """The katib-gitops.yaml example of README's Profiles section, verbatim."""
    import re

    from conftest import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Profiles"):]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


def test_readme_gpu_a100_starts_from_the_repositorys_gpu(tmp_path: Path):
    """README's gpu-a100 ("a new one, starting from gpu") gets what the repository's gpu sets (its own
    toleration, a 1Gi /dev/shm) and adds its own: 2 GPUs, the A100 node selector, classes, the queue label."""
    (tmp_path / "katib-gitops.yaml").write_text(_readme_profiles())
    write(tmp_path, "a100", SHORT.format(name="a100", extra="profile: [gpu, gpu-a100]\n", trial=""))
    assert cli("render", "-C", str(tmp_path), "-q") == 0
    gpu, a100 = (built(tmp_path, p)[0]["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]
                 for p in ("gpu", "gpu-a100"))
    assert a100["spec"]["tolerations"] == gpu["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert a100["spec"]["volumes"] == gpu["spec"]["volumes"] == [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}]
    assert a100["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert a100["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert a100["spec"]["runtimeClassName"] == "nvidia" and a100["spec"]["priorityClassName"] == "research"
    assert a100["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "research"


def test_from_names_any_repository_profile_and_a_spec_profile_starts_there_too(tmp_path: Path):
    (tmp_path / "katib-gitops.yaml").write_text(
        "profiles:\n"
        "  gpu: {env: {NCCL_DEBUG: WARN}}\n"
        "  a100: {from: gpu, gpus: 2, nodeSelector: {gpu: a100}}\n"   # named freely: from: says where it starts
        "  a100-big: {from: a100, gpus: 8}\n")
    write(tmp_path, "e", SHORT.format(name="e", extra="profile: [a100-big, mine]\n",
                                      trial="profiles:\n  mine: {from: a100, env: {X: '1'}}\n"))
    assert cli("render", "-C", str(tmp_path), "-q") == 0
    big, mine = (built(tmp_path, p)[0]["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
                 for p in ("a100-big", "mine"))
    assert big["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert big["nodeSelector"] == mine["nodeSelector"] == {"gpu": "a100"}
    assert {e["name"] for e in big["containers"][0]["env"]} == {"NCCL_DEBUG"}
    assert {e["name"] for e in mine["containers"][0]["env"]} == {"NCCL_DEBUG", "X"}
    assert mine["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"


@pytest.mark.parametrize("settings,where,words", [
    ("profiles:\n  a: {from: b}\n  b: {from: a}\n", "katib-gitops.yaml:3:", "cycle"),
    ("profiles:\n  a: {from: nowhere}\n", "katib-gitops.yaml:2:", "'nowhere' names no profile"),
])
def test_from_errors_are_at_the_settings_line(tmp_path: Path, capsys, settings: str, where: str, words: str):
    (tmp_path / "katib-gitops.yaml").write_text(settings)
    write(tmp_path, "e", SHORT.format(name="e", extra="", trial=""))
    line = render_error(tmp_path, capsys)
    assert line.startswith(where) and "profiles." in line and words in line, line


def test_a_spec_profile_from_nowhere_is_an_error_even_when_unused(tmp_path: Path, capsys):
    write(tmp_path, "e", SHORT.format(name="e", extra="", trial="profiles:\n  mine: {from: nowhere}\n"))
    line = render_error(tmp_path, capsys)
    assert line.startswith("experiments/e.yaml:10:") and "profiles.mine.from" in line, line
