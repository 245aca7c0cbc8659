"""Hardening round two: what the corpus (one spec or manifest in a rendered repository) cannot express.

Every case asserts the exit status, one FILE:LINE:COL line, no traceback, and that nothing changed: the
repository (content, mode, mtime) and a directory outside it that the hostile input points at.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, cli
from test_corpus import SHAPED, fresh_repo, rendered_template, snapshot  # noqa: F401 (fixture)

from katib_gitops import __version__
from katib_gitops.repo import writer
from katib_gitops.repo.record import RECORD_FILE


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = cli(*argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def one_line(text: str, fragment: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert SHAPED.match(lines[0]), lines[0]
    assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def repo(rendered_template: Path, tmp_path: Path) -> Path:
    return fresh_repo(rendered_template, tmp_path)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim.yaml").write_text("precious: true\n")
    return d


class no_hang:
    """Fail instead of hanging (a FIFO opened by mistake blocks forever)."""

    def __enter__(self):
        def boom(signum, frame):
            raise TimeoutError("hung (opened a FIFO?)")

        self.old = signal.signal(signal.SIGALRM, boom)
        signal.alarm(30)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)


# --------------------------------------------------------------------------- special files: skipped, never opened


@pytest.mark.parametrize("where,commands", [
    ("base/fifo.yaml", ("validate", "check", "render")),
    ("overlays/gpu/fifo.yaml", ("check", "render")),
    ("deploy/argocd/fifo.yaml", ("validate", "check")),
    ("experiments/fifo.yaml", ("check", "render")),
    ("base/cpu/iris.yaml", ("check", "render")),  # where a generated file belongs
])
def test_a_fifo_never_hangs(repo: Path, where: str, commands: tuple[str, ...], capsys):
    target = repo / where
    generated = target.exists()
    if generated:
        target.unlink()
    os.mkfifo(target)
    before = snapshot(repo)
    for command in commands:
        with no_hang():
            code, out, err = run([command, "-C", str(repo)], capsys)
        lines = [ln for ln in (out + err).splitlines() if where in ln]
        assert lines, f"{command}: {where} not named\n{out}{err}"
        assert all(SHAPED.match(ln) for ln in lines)
        if generated:
            assert code == 1  # a FIFO cannot stand where a generated file belongs
        else:
            assert code == 0, out + err
            assert any("warning: skipped: a FIFO" in ln for ln in lines)
        assert snapshot(repo) == before


# --------------------------------------------------------------------------- the render record is untrusted


def record_text(repo: Path) -> str:
    return (repo / RECORD_FILE).read_text()


@pytest.mark.parametrize("edit,why", [
    (lambda t: t.replace("  base/cpu/iris.yaml:", "  ../outside/victim.yaml:"), "is not a path render writes"),
    (lambda t: t.replace("  base/cpu/iris.yaml:", "  /etc/passwd:"), "is not a path render writes"),
    (lambda t: t.replace("  base/cpu/iris.yaml:", "  experiments/iris.yaml:"), "is not a path render writes"),
    (lambda t: t + "<<<<<<< HEAD\n", "a merge conflict?"),
    (lambda t: t.replace("version: ", "version: [") , "a merge conflict?"),
    (lambda t: t.replace("sha256:", "md5:", 1), "is not sha256:HEX"),
    (lambda t: t.replace("generator: katib-gitops", "generator: katib-gitops\nrun: rm -rf /"), "unexpected shape"),
])
def test_a_hostile_record_is_ignored_with_a_warning(repo: Path, outside: Path, edit, why, capsys):
    (repo / RECORD_FILE).write_text(edit(record_text(repo)))
    before_outside = snapshot(outside)
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert code == 1  # the record itself is out of date
    warning = [ln for ln in out.splitlines() if "render record ignored" in ln]
    assert len(warning) == 1 and why in warning[0] and SHAPED.match(warning[0]), out
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 0, err
    assert f"changed {RECORD_FILE}" in out
    assert snapshot(outside) == before_outside
    assert (outside / "victim.yaml").read_text() == "precious: true\n"
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert code == 0, out


def test_a_file_with_the_exact_header_is_only_removed_when_the_record_lists_it(repo: Path, capsys):
    own = repo / "base" / "mine.yaml"
    header = "# Generated by katib-gitops from experiments/mine.yaml.\n" \
             "# Do not edit: change experiments/mine.yaml and run `katib-gitops render`.\n"
    own.write_text(header + "kind: ConfigMap\n")
    lookalike = repo / "base" / "notes.yaml"
    lookalike.write_text("# Generated by katib-gitops, then edited by hand\nkind: ConfigMap\n")
    before = {p: p.read_bytes() for p in (own, lookalike)}
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 1  # a copy of a generated file that the record does not list: reported, never deleted
    errors = [ln for ln in err.splitlines() if ": warning: " not in ln]
    assert len(errors) == 1 and SHAPED.match(errors[0]), err
    assert errors[0].startswith("base/mine.yaml:1:1: carries the generated header, but katib-gitops.generated.yaml")
    assert {p: p.read_bytes() for p in (own, lookalike)} == before  # neither is in the record
    # Without a record (a repository rendered before records existed), the exact header alone decides.
    (repo / RECORD_FILE).unlink()
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 0, err
    assert not own.exists() and lookalike.read_bytes() == before[lookalike]


def test_check_names_the_version_that_rendered_the_repository(repo: Path, capsys):
    (repo / RECORD_FILE).write_text(record_text(repo).replace(f"version: {__version__}", "version: 0.0.1"))
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert code == 1
    (line,) = [ln for ln in out.splitlines() if RECORD_FILE in ln]
    assert f"rendered by katib-gitops 0.0.1, but this is katib-gitops {__version__}" in line
    assert SHAPED.match(line)


def test_check_reports_leftover_stage_and_journal_directories(repo: Path, capsys):
    (repo / (writer.STAGE_PREFIX + "abc")).mkdir()
    (repo / writer.TXN_DIR).mkdir()
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert code == 1
    leftovers = [ln for ln in out.splitlines() if "left behind by an interrupted render" in ln]
    assert len(leftovers) == 2 and all(SHAPED.match(ln) for ln in leftovers)
    assert ".katib-gitops-*" in (REPO_ROOT / ".gitignore").read_text()


def test_a_transaction_symlinked_out_is_removed_not_followed(repo: Path, outside: Path, capsys):
    (outside / "journal.json").write_text('{"write": [], "remove": ["base/cpu/iris.yaml"]}')
    (repo / writer.TXN_DIR).symlink_to(outside)
    before_outside = snapshot(outside)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 0, err
    assert not (repo / writer.TXN_DIR).exists() and (repo / "base" / "cpu" / "iris.yaml").is_file()
    assert snapshot(outside) == before_outside


# --------------------------------------------------------------------------- names that collide


def test_hash_name_false_cannot_take_another_specs_hashed_name(repo: Path, capsys):
    import yaml

    hashed = yaml.safe_load((repo / "base" / "cpu" / "iris.yaml").read_text())["metadata"]["name"]
    twin = repo / "experiments" / f"{hashed}.yaml"
    text = (repo / "experiments" / "iris.yaml").read_text().replace("\nname: iris\n", f"\nname: {hashed}\nhashName: false\n")
    twin.write_text(re.sub(r"(?m)^profile:.*$", "profile: cpu", text))  # one profile: hashName: false is allowed
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 1
    one_line(err, f"renders the Experiment {hashed!r}")
    assert snapshot(repo) == before


@pytest.mark.parametrize("make", ["missing", "file", "symlink-to-file"])
def test_no_experiments_directory_is_an_error_not_an_empty_render(repo: Path, make: str, capsys):
    shutil.rmtree(repo / "experiments")
    if make == "file":
        (repo / "experiments").write_text("not a directory\n")
    elif make == "symlink-to-file":
        (repo / "notes.txt").write_text("x\n")
        (repo / "experiments").symlink_to(repo / "notes.txt")
    before = snapshot(repo)
    for command in ("render", "check"):
        code, out, err = run([command, "-C", str(repo)], capsys)
        assert code == 1
        one_line(err if command == "render" else out, "experiments/ ")
        assert snapshot(repo) == before


def test_an_empty_experiments_directory_renders_nothing_with_a_warning(repo: Path, capsys):
    for spec in (repo / "experiments").iterdir():
        spec.unlink()
    code, out, err = run(["render", "-q", "-C", str(repo)], capsys)
    assert code == 0
    one_line(err, "warning: no specs in experiments/")
    assert not list((repo / "base").glob("iris*.yaml"))


# --------------------------------------------------------------------------- what YAML means


def test_yaml11_booleans_in_categorical_values_are_a_warning(repo: Path, capsys):
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("categorical: [l2]", "categorical: [l2]\n  verbose:\n    categorical: [yes, no]"))
    code, out, err = run(["render", "-q", "-C", str(repo)], capsys)
    assert code == 0
    warnings = err.splitlines()
    assert len(warnings) == 2 and all(SHAPED.match(w) and "(YAML 1.1)" in w for w in warnings), err
    assert "quote it ('yes')" in warnings[0]


def test_run_as_root_is_a_warning_at_render(repo: Path, capsys):
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("  retain: false", "  retain: false\n  security: {runAsUser: 0}"))
    code, out, err = run(["render", "-q", "-C", str(repo)], capsys)
    assert code == 0
    one_line(err, "warning: trial.security: trial pods opt out of the Pod Security 'restricted' profile (runAsUser: 0")


# --------------------------------------------------------------------------- init: values stay text


@pytest.mark.parametrize("option,value", [
    ("--image", "registry.example.com/x/{{ 7 * 7 }}:1"),
    ("--git-url", "https://example.com/{{ cycler.__init__.__globals__.os.popen('id').read() }}.git"),
    ("--namespace", "{% for x in range(3) %}a{% endfor %}"),
    ("--experiment", "{{config}}"),
    ("--image", "trainer:1\nevil: true"),
])
def test_init_refuses_values_that_are_not_inert(tmp_path: Path, option: str, value: str, capsys):
    target = tmp_path / "new-repo"
    code, out, err = run(["init", str(target), option, value], capsys)
    assert code == 2
    one_line(err, "")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_init_keeps_a_jinja_directory_name_as_text(tmp_path: Path, capsys):
    target = tmp_path / "x{{ 7 * 7 }}"
    code, out, err = run(["init", str(target)], capsys)
    assert code == 0, err
    readme = (target / "README.md").read_text()
    assert "49" not in readme.splitlines()[0]
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no scratch directory left


def test_a_failed_init_leaves_nothing(tmp_path: Path, capsys, monkeypatch):
    import katib_gitops.build.render as render

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render, "render_repo", broken)
    code, out, err = run(["init", str(tmp_path / "new-repo")], capsys)
    assert code == 2
    one_line(err, "cannot create it: No space left on device")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x\n")
    code, out, err = run(["init", str(tmp_path / "file")], capsys)
    assert code == 2
    one_line(err, "exists and is not a directory")


# --------------------------------------------------------------------------- import -o and new --from


@pytest.mark.parametrize("make,fragment", [
    (lambda d: Path("/dev/null"), "is a character device: refusing to replace it"),
    (lambda d: d, "is a directory"),
    (lambda d: (os.mkfifo(d / "fifo"), d / "fifo")[1], "is a FIFO: refusing to replace it"),
    (lambda d: ((d / "exists.yaml").write_text("mine\n"), d / "exists.yaml")[1], "exists; pass --force"),
    (lambda d: ((d / "file").write_text("x\n"), d / "file" / "spec.yaml")[1], "cannot write"),
])
def test_import_writes_only_a_regular_file_or_a_new_path(repo: Path, tmp_path: Path, make, fragment, capsys):
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    target = make(out_dir)
    before = snapshot(out_dir)
    force = [] if "exists" in fragment else ["--force"]  # --force overwrites a file, never anything else
    with no_hang():
        code, out, err = run(["import", str(repo / "base" / "cpu" / "iris.yaml"), "-o", str(target), *force], capsys)
    assert code == 2
    one_line(err, fragment)
    assert snapshot(out_dir) == before


def test_import_from_stdin_names_stdin_and_leaves_no_temporary_file(tmp_path: Path, capsys, monkeypatch):
    import io
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"apiVersion: v1\nkind: [\n")))
    code, out, err = run(["import", "-"], capsys)
    assert code == 1
    one_line(err, "<stdin>:3:1: invalid YAML")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make,code_want,fragment", [
    (lambda d: ((d / "r.yaml").write_bytes(bytes(range(256))), d / "r.yaml")[1], 1, "not UTF-8"),
    (lambda d: ((d / "dup.yaml").write_text("name: a\nname: b\n"), d / "dup.yaml")[1], 1, "duplicate key 'name'"),
    (lambda d: d / "missing.yaml", 2, "cannot read"),
    (lambda d: d, 2, "not a regular file"),
    (lambda d: (os.mkfifo(d / "f.yaml"), d / "f.yaml")[1], 2, "not a regular file"),
    (lambda d: ((d / "list.yaml").write_text("- name: a\n"), d / "list.yaml")[1], 1, "not a spec"),
])
def test_new_from_broken_sources(repo: Path, tmp_path: Path, make, code_want: int, fragment: str, capsys):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    source = make(src_dir)
    before = snapshot(repo)
    with no_hang():
        code, out, err = run(["new", "copy", "--from", str(source), "-C", str(repo)], capsys)
    assert code == code_want
    one_line(err, fragment)
    assert snapshot(repo) == before


# --------------------------------------------------------------------------- output and names


@pytest.mark.parametrize("argv", [["validate", "base"], ["import", "base/cpu/iris.yaml"], ["check", "--output", "json"]])
def test_a_full_stdout_is_one_line_not_a_traceback(repo: Path, argv: list[str]):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "generator")}
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "katib_gitops", *argv], cwd=repo, env=env, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.returncode == 2
    one_line(proc.stderr, "<stdout>:0:0: cannot write the output")


def test_a_file_name_with_a_newline_is_quoted(tmp_path: Path, capsys):
    bad = tmp_path / "in\ncoming.yaml"
    bad.write_text("a: [\n")
    code, out, err = run(["validate", str(tmp_path)], capsys)
    assert code == 1
    line = one_line(out, "invalid YAML")
    assert line.startswith('"') and "\\n" in line


def test_plan_base_reads_a_spec_file_name_git_would_quote(repo: Path, capsys):
    """git quotes non-ASCII names (core.quotePath); plan --base must read them as stored, not crash."""
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    odd = repo / "experiments" / "é\tx.yaml"
    odd.write_text("name: odd\n")  # not a valid spec: the base side reports it, in one line
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e"}
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", "-C", str(repo), *argv], check=True, env=env, capture_output=True)
    odd.unlink()
    code, out, err = run(["plan", "-C", str(repo), "--base", "HEAD"], capsys)
    assert code in (0, 1, 2)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and all(SHAPED.match(ln) for ln in lines), err


def test_an_unreadable_spec_is_exit_2_not_a_content_error(repo: Path, capsys, monkeypatch):
    import builtins

    from katib_gitops.io import yamlio

    spec = str(repo / "experiments" / "iris.yaml")

    def guarded_open(path, *args, **kwargs):
        if str(path) == spec:
            raise PermissionError(13, "Permission denied", str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(yamlio, "open", guarded_open, raising=False)  # root reads anything: simulate EACCES
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 2
    one_line(err, "experiments/iris.yaml:0:0: cannot read: Permission denied")
    assert snapshot(repo) == before


def test_an_unreadable_generated_file_is_exit_2_not_hand_written(repo: Path, capsys, monkeypatch):
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("max: 12", "max: 13"))  # base/cpu/iris.yaml must be rewritten
    target = str(repo / "base" / "cpu" / "iris.yaml")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == target else real_access(p, mode, **k))
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 2
    one_line(err, "base/cpu/iris.yaml:0:0: cannot read it")
    assert snapshot(repo) == before


# --------------------------------------------------------------------------- a profile adjustment nothing deploys

UNUSED_ADJUSTMENT = """\
profiles:
  gpu-big:                                   # defined here, never deployed (profile: is cpu)
    limits: {memory: 8 GiB}                  # not a quantity
    podLabels: {"team/a b": x}               # not a label key
    tolerations: [{key: a, operator: Exists, value: b, effect: Sometimes}]
    env:
      GITHUB_TOKEN: ghp_abcdefghijklmnopqrstuvwxyz0123456789
"""


@pytest.mark.parametrize("command", ["render", "check", "validate"])
def test_an_unused_profile_adjustment_is_checked_not_dropped(repo: Path, capsys, command: str):
    """A spec's adjustment of a profile it does not deploy under renders into no overlay, so nothing built
    would ever see it: it is checked as if deployed, each mistake an error at its own spec line, and said to
    be unused; render writes nothing."""
    spec = repo / "experiments" / "iris.yaml"
    text = spec.read_text().replace("profile: [cpu, gpu]\n", "profile: cpu\n")
    text = text[:text.index("profiles:\n")] + UNUSED_ADJUSTMENT
    spec.write_text(text)
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, ln in enumerate(lines, 1) if fragment in ln)

    before = snapshot(repo)
    argv = [command, "-C", str(repo)] if command != "validate" else [command, str(spec)]
    code, out, err = run(argv, capsys)
    assert code == 1
    # check also says the generated files are out of date: the spec changed and render refused to write
    report = [ln for ln in (out + err).splitlines() if SHAPED.match(ln) and not ln.endswith("[sync]")]
    errors = {ln.split(":")[1] for ln in report if ": warning:" not in ln and "[profile-unused]" not in ln
              and "adjusts the profile" not in ln}
    assert errors >= {str(line_of("8 GiB")), str(line_of("team/a b")), str(line_of("Sometimes")),
                      str(line_of("GITHUB_TOKEN"))}, report
    assert all(ln.startswith(("experiments/iris.yaml:", str(spec) + ":")) for ln in report), report
    for fragment in ("is not a Kubernetes quantity", "is not a valid label", "is not a taint effect",
                     "looks like a secret"):
        assert any(fragment in ln for ln in report), (fragment, report)
    unused = [ln for ln in report if "adjusts the profile 'gpu-big'" in ln]
    assert len(unused) == 1 and "its profile: is cpu" in unused[0] and f":{line_of('gpu-big:')}:" in unused[0]
    assert snapshot(repo) == before


def test_an_unused_adjustment_that_is_fine_is_only_a_warning(repo: Path, capsys):
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("profile: [cpu, gpu]\n", "profile: cpu\n"))
    code, out, err = run(["render", "-C", str(repo), "-q"], capsys)
    assert code == 0
    (warning,) = [ln for ln in err.splitlines() if "adjusts the profile" in ln]
    assert "warning" in warning and "'gpu'" in warning and "profile: is cpu" in warning
    code, out, err = run(["check", "-C", str(repo)], capsys)
    assert code == 0 and "adjusts the profile 'gpu'" in out + err


def test_validate_of_the_whole_repository_warns_of_an_unused_adjustment(repo: Path, capsys):
    """`validate` with no PATH reports what render and check report: the adjustment nothing deploys."""
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("profile: [cpu, gpu]\n", "profile: cpu\n"))
    assert run(["render", "-C", str(repo), "-q"], capsys)[0] == 0
    monkey_cwd = os.getcwd()
    try:
        os.chdir(repo)
        code, out, err = run(["validate"], capsys)
    finally:
        os.chdir(monkey_cwd)
    assert code == 0, out + err
    (warning,) = [ln for ln in out.splitlines() if "adjusts the profile 'gpu'" in ln]
    assert warning.startswith("experiments/iris.yaml:") and warning.endswith("[profile-unused]")
