"""Overlays built in shards: byte for byte what the whole build prints, or the whole build itself.

The shards are small here (``SHARD_SIZE`` lowered) so that a repository of a few dozen specs has many;
each comparison builds the overlays both ways with real kustomize.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import cli
from katib_gitops.build import kustomize, shards
from katib_gitops.build.builds import start_builds
from katib_gitops.io.findings import UserError

SETTINGS = """\
namespace: team-a
createNamespace: true
flux: {enabled: false}
profiles:
  gpu-a100:
    from: gpu
    gpus: 2
    nodeSelector: {nvidia.com/gpu.product: A100}
"""


def spec(name: str, i: int, namespace: str | None = None, hash_name: bool = True) -> str:
    out = {"name": name, "objective": {"maximize": "accuracy"}, "algorithm": "random",
           "trials": {"max": 4 + i % 5, "parallel": 2},
           "parameters": {"lr": {"double": [0.001 * (1 + i % 3), 0.1]}},
           "trial": {"image": "docker.io/example/trainer:1.0", "command": ["python3", "train.py"]}}
    if i % 3 == 1:
        out["profile"] = ["cpu", "gpu"]
    elif i % 5 == 2:
        out["profile"] = "gpu-a100"
    if i % 4 == 3:
        out["profiles"] = {"cpu": {"env": {"OMP_NUM_THREADS": "4"}}}
    if namespace:
        out["namespace"] = namespace
    if not hash_name:
        out["hashName"] = False
    return yaml.safe_dump(out, sort_keys=False)


def make_repo(root: Path, names: list[str]) -> Path:
    (root / "experiments").mkdir(parents=True)
    (root / "katib-gitops.yaml").write_text(SETTINGS)
    for i, name in enumerate(names):
        # Other namespaces, unhashed names and names that are prefixes of others test the order kustomize sorts in.
        (root / "experiments" / f"{name}.yaml").write_text(
            spec(name, i, namespace=("team-b", "default", None)[i % 3], hash_name=i % 6 != 5))
    assert cli("render", "-q", "--no-validate", "-C", str(root)) == 0
    return root


def built_both_ways(root: Path) -> dict[str, tuple[str, str]]:
    builds = start_builds(root)
    try:
        return {d.name: (builds.get(d, d.name), kustomize.build(d)) for d in sorted((root / "overlays").iterdir())}
    finally:
        builds.close()


@pytest.fixture
def small_shards(monkeypatch):
    monkeypatch.setattr(shards, "SHARD_SIZE", 4)


NAMES = ["a", "a-b", "a-b-c", "ab", "b", "b-a", "z", "z9", "zz", "m-1", "m-10", "m-2"] + [f"exp-{i:02d}" for i in range(24)]


def test_sharded_output_is_the_whole_builds_byte_for_byte(tmp_path: Path, small_shards):
    root = make_repo(tmp_path, NAMES)
    sizes = {p.parent.name: len(yaml.safe_load(p.read_text())["resources"]) for p in (root / "base").glob("*/kustomization.yaml")}
    assert min(sizes.values()) > shards.SHARD_SIZE, "every overlay must be built in shards here"
    for overlay, (sharded, whole) in built_both_ways(root).items():
        assert sharded == whole, overlay
    assert "kind: Namespace" in built_both_ways(root)["cpu"][0].split("---\n")[0]  # first, as kustomize sorts it


def test_the_plan_shards_only_render_s_own_layout(tmp_path: Path, small_shards):
    root = make_repo(tmp_path, NAMES)
    scratch = tmp_path / "scratch"
    cpu = root / "overlays" / "cpu"
    plan = shards.plan(cpu, scratch / "1")
    assert plan is not None and len(plan.shards) >= 3
    kust = cpu / "kustomization.yaml"
    original = kust.read_text()
    for edit in ["components: [custom]\n", "commonLabels: {a: b}\n", "namePrefix: x-\n", "sortOptions: {order: fifo}\n"]:
        kust.write_text(original + edit)
        assert shards.plan(cpu, scratch / edit[:4]) is None, edit
    kust.write_text(original)
    (cpu / "Kustomization").write_text(original)  # two kustomization files: kustomize refuses, let it say so
    assert shards.plan(cpu, scratch / "2") is None
    (cpu / "Kustomization").unlink()
    base_file = next((root / "base" / "cpu").glob("a*.yaml"))
    moved = root / "elsewhere.yaml"
    shutil.move(base_file, moved)
    base_file.symlink_to(moved)
    assert shards.plan(cpu, scratch / "3") is None


def test_a_shard_that_fails_means_the_whole_build_and_its_own_error(tmp_path: Path, small_shards):
    root = make_repo(tmp_path, NAMES)
    broken = root / "base" / "cpu" / "exp-07.yaml"
    broken.write_text(broken.read_text().replace("kind: Experiment", "kind: [Experiment"))
    with pytest.raises(UserError) as whole:
        kustomize.build(root / "overlays" / "cpu", "overlays/cpu (kustomize build)")
    builds = start_builds(root)
    try:
        with pytest.raises(UserError) as sharded:
            builds.get(root / "overlays" / "cpu", "overlays/cpu (kustomize build)")
    finally:
        builds.close()
    def without_klog_stamp(message: str) -> str:  # kubectl prefixes its error with the time and its pid
        return re.sub(r"E\d{4} [\d:.]+ +\d+ ", "", message)

    assert without_klog_stamp(sharded.value.finding.message) == without_klog_stamp(whole.value.finding.message)
    assert sharded.value.finding.file == whole.value.finding.file == "overlays/cpu (kustomize build)"
    assert "katib-gitops-shards" not in sharded.value.finding.message


def test_two_documents_with_one_identity_are_left_to_the_whole_build(tmp_path: Path, small_shards):
    root = make_repo(tmp_path, NAMES)
    first, last = root / "base" / "cpu" / "a.yaml", root / "base" / "cpu" / "zz.yaml"
    data = yaml.safe_load(last.read_text())
    data["metadata"].update({k: yaml.safe_load(first.read_text())["metadata"][k] for k in ("name", "namespace")})
    last.write_text(yaml.safe_dump(data))
    builds = start_builds(root)
    try:
        with pytest.raises(UserError, match="already registered id"):
            builds.get(root / "overlays" / "cpu", "overlays/cpu (kustomize build)")
    finally:
        builds.close()


def test_the_order_is_kustomize_s_legacy_order():
    def doc(api: str, kind: str, name: str, namespace: str = "") -> str:
        ns = f"  namespace: {namespace}\n" if namespace else ""
        return f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}spec:\n  x: 1\n"

    docs = [doc("kubeflow.org/v1beta1", "Experiment", "b", "x"), doc("v1", "ConfigMap", "c"),
            doc("kubeflow.org/v1beta1", "Experiment", "a", "x-y"), doc("v1", "Namespace", "x"),
            doc("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "w"),
            doc("apps/v1", "Deployment", "d", "x"), doc("kubeflow.org/v1beta1", "Experiment", "c", "x")]
    merged = shards.merge(["---\n".join(docs[:3]), "---\n".join(docs[3:])])
    order = [(d.split("kind: ")[1].split("\n")[0], d.split("name: ")[1].split("\n")[0]) for d in merged.split("---\n")]
    # Namespace, ConfigMap and Deployment in kustomize's fixed order, the kind it does not list (Experiment)
    # after them by namespace, then name ("x-y|a" < "x|b": '-' sorts before '|'), webhooks last.
    assert order == [("Namespace", "x"), ("ConfigMap", "c"), ("Deployment", "d"), ("Experiment", "a"),
                     ("Experiment", "b"), ("Experiment", "c"), ("ValidatingWebhookConfiguration", "w")]
    assert sorted(merged.split("---\n")) == sorted(docs)
    with pytest.raises(shards.NotShardable):  # one identity twice: only the whole build may say what it says
        shards.merge(["---\n".join(docs), docs[0]])


@settings(max_examples=int(os.environ.get("KATIB_GITOPS_FUZZ_EXAMPLES", "80")) // 16, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          derandomize="KATIB_GITOPS_FUZZ_EXAMPLES" not in os.environ)
@given(names=st.lists(st.from_regex(r"[a-z]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True), min_size=3, max_size=14,
                      unique=True))
def test_any_set_of_specs_builds_the_same_in_shards(tmp_path_factory, small_shards, names: list[str]):
    root = make_repo(tmp_path_factory.mktemp("shards"), names)
    for overlay, (sharded, whole) in built_both_ways(root).items():
        assert sharded == whole, (overlay, names)


def test_render_rebuilds_only_the_shards_a_change_touches(tmp_path: Path, small_shards, monkeypatch):
    import subprocess

    from katib_gitops.build import stamp

    root = make_repo(tmp_path, NAMES)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    built: list[str] = []
    real = kustomize.build

    def counting(directory, *args, **kwargs):
        built.append(Path(directory).name)
        return real(directory, *args, **kwargs)

    monkeypatch.setattr(kustomize, "build", counting)
    assert cli("render", "-q", "-C", str(root)) == 0
    first = [b for b in built if b.startswith(("cpu-", "gpu-"))]
    assert len(first) >= 6
    spec = root / "experiments" / "exp-07.yaml"
    spec.write_text(spec.read_text().replace("train.py", "train2.py"))  # a new Experiment, same patches
    built.clear()
    assert cli("render", "-q", "-C", str(root)) == 0
    again = [b for b in built if b.startswith(("cpu-", "gpu-"))]
    assert 1 <= len(again) <= 3, again  # the shard holding exp-07 in each overlay it deploys under
    # What the gate validated is what a whole build gives, and check (which never reuses) agrees.
    assert cli("check", "-q", "-C", str(root)) == 0
    cache = stamp.shard_cache(root)
    entries = sorted(cache.directory.iterdir())
    assert len(entries) == len(first), "entries of the older tree are pruned"
    # An entry that does not match its digest is a miss: built again, not trusted.
    victim = next(e for e in entries if b"exp-07" not in e.read_bytes())  # a shard the next change leaves alone
    victim.write_bytes(victim.read_bytes().replace(b"kind: Experiment", b"kind: Experimen", 1))
    spec.write_text(spec.read_text().replace("train2.py", "train.py"))
    built.clear()
    assert cli("render", "-q", "-C", str(root)) == 0
    rebuilt = [b for b in built if b.startswith(("cpu-", "gpu-"))]
    assert len(rebuilt) >= 2, rebuilt  # exp-07's shards, and the one whose entry was spoilt
    cache.used.clear()
    assert cache.get(victim.name) is not None and b"kind: Experimen\n" not in victim.read_bytes()
