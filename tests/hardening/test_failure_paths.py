"""New code paths, no traceback: render's gate (staging in a scratch directory) and its writing (staging in
the repository, then the swap) under failing file systems and a hostile environment.

What cannot be made for real in a test (a full disk, no inodes, a read-only or immutable folder, a file
unreadable to root) is injected as the OSError the kernel would raise, in-process; `ulimit -f`, a deleted
current directory, PYTHONIOENCODING=ascii and a PATH without git are real (a subprocess). Each case: the
exit status, one FILE:LINE:COL line naming the user's path (never a scratch or staging file), no
traceback, the repository unchanged, nothing outside touched, no process left (``refused``).
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from hostile_support import refused, run
from test_corpus import SHAPED, fresh_repo, rendered_template, snapshot  # noqa: F401 (fixture)

from katib_gitops.pipeline import render_gate
from katib_gitops.repo import writer

INTERNAL = ("katib-gitops-gate", ".katib-gitops-stage", ".katib-gitops-txn", "katib-gitops-build")


@pytest.fixture
def repo(rendered_template: Path, tmp_path: Path) -> Path:
    """A rendered repository whose next render rewrites the Experiments (a spec changed)."""
    root = fresh_repo(rendered_template, tmp_path)
    spec = root / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("max: 12", "max: 13"))
    return root


def user_path_only(line: str) -> None:
    assert not any(name in line for name in INTERNAL), line


def cli_process(argv: list[str], cwd: Path, env: dict | None = None, preexec=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "generator"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "katib_gitops", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=preexec)


# --------------------------------------------------------------------------- a full or failing file system


def _oserror(err: int, filename: str | None = None):
    def fail(*args, **kwargs):
        raise OSError(err, os.strerror(err), filename)
    return fail


def test_ulimit_f_stops_the_render_with_one_line_and_no_change(repo: Path):
    before = snapshot(repo)

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))  # the generated Experiments are larger

    proc = cli_process(["render", "-C", str(repo)], repo, preexec=small_files)
    assert "Traceback" not in proc.stderr and proc.returncode == 2, proc.stderr
    line = refused(proc.returncode, proc.stderr, 2, "File too large", repo, before)
    user_path_only(line)
    assert line.split(":")[0].startswith(("base/", "overlays/", "deploy/", "katib-gitops.generated.yaml"))


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG])
def test_writing_the_tree_fails_cleanly_naming_the_users_file(repo: Path, monkeypatch, err: int, capsys):
    internal = str(repo / ".katib-gitops-stage-x" / "new" / "3")
    monkeypatch.setattr(writer, "_write_staged", _oserror(err, internal))
    before = snapshot(repo)
    code, out, err_text = run(["render", "-C", str(repo)], capsys)
    line = refused(code, err_text, 2, f"cannot write the rendered files: {os.strerror(err)}", repo, before)
    user_path_only(line)
    assert line.startswith("base/")  # the file being written, as the user knows it


def test_a_failing_swap_puts_the_old_tree_back(repo: Path, monkeypatch, capsys):
    real = os.replace
    calls = []

    def replace_then_fail(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # half-way through swapping files in: a read-only or immutable folder
            raise OSError(errno.EPERM, os.strerror(errno.EPERM), str(src))
        return real(src, dst)

    monkeypatch.setattr(writer.os, "replace", replace_then_fail)
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    line = refused(code, err, 2, "Operation not permitted", repo, {**before})
    user_path_only(line)


def test_no_inodes_for_the_scratch_directory(repo: Path, monkeypatch, capsys):
    monkeypatch.setattr(render_gate.tempfile, "TemporaryDirectory", _oserror(errno.ENOSPC, "/tmp/katib-gitops-gate-x"))
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    line = refused(code, err, 2, "TMPDIR:0:0: cannot make a scratch directory to validate the render in: "
                   "No space left on device", repo, before)
    user_path_only(line)


def test_staging_fails_naming_the_users_file(repo: Path, monkeypatch, capsys):
    real = Path.write_text

    def full(self, *args, **kwargs):
        if "katib-gitops-gate" in str(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    line = refused(code, err, 2, "cannot stage it to validate the render: No space left on device", repo, before)
    user_path_only(line)


# --------------------------------------------------------------------------- the tree is not shaped as expected


@pytest.mark.parametrize("make,fragment", [
    (lambda r: (shutil.rmtree(r / "overlays" / "gpu"), (r / "overlays" / "gpu").write_text("x\n")),
     "overlays/gpu:0:0: a file stands where render needs a directory"),
    (lambda r: ((r / "base" / "gpu").rename(r / "gpu-away"), (r / "base" / "gpu").write_text("x\n")),
     "base/gpu:0:0: a file stands where render needs a directory"),
    (lambda r: ((r / "base" / "cpu" / "iris.yaml").unlink(), (r / "base" / "cpu" / "iris.yaml").mkdir(),
                (r / "base" / "cpu" / "iris.yaml" / "notes.yaml").write_text("a: 1\n")),
     "base/cpu/iris.yaml:0:0: a directory stands where a generated file belongs"),
    (lambda r: (shutil.rmtree(r / "deploy" / "argocd"), os.mkfifo(r / "deploy" / "argocd")),
     "deploy/argocd:0:0: a FIFO stands where render needs a directory"),
    (lambda r: ((r / "kustomization.yaml").unlink(), (r / "kustomization.yaml").mkdir()),
     "kustomization.yaml:0:0: a directory stands where a generated file belongs"),
])
def test_a_file_where_a_folder_goes_or_the_reverse(repo: Path, make, fragment: str, capsys):
    from test_untrusted_inputs import no_hang

    make(repo)
    before = snapshot(repo)
    with no_hang():
        code, out, err = run(["render", "-C", str(repo)], capsys)
    user_path_only(refused(code, err, 1, fragment, repo, before))


def test_an_unreadable_experiments_folder(repo: Path, monkeypatch, capsys):
    real = Path.iterdir

    def denied(self):
        if self.name == "experiments":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", denied)  # root reads anything: as root without CAP_DAC_OVERRIDE
    before = snapshot(repo)
    for command in ("render", "check"):
        code, out, err = run([command, "-C", str(repo)], capsys)
        refused(code, err, 2, "experiments:0:0: cannot list it: Permission denied", repo, before)


def test_a_read_only_git_directory_for_the_lock(repo: Path, monkeypatch, capsys):
    from katib_gitops.repo import locks

    (repo / ".git").mkdir()

    class ReadOnly:
        def __init__(self, path, **kwargs):
            self.path = path

        def acquire(self):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), self.path)

    monkeypatch.setattr(locks, "FileLock", ReadOnly)
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    refused(code, err, 2, "cannot create the render lock .git/katib-gitops.lock: Read-only file system", repo, before)


# --------------------------------------------------------------------------- the environment


def test_a_deleted_current_directory(repo: Path, tmp_path: Path):
    gone = tmp_path / "gone"
    gone.mkdir()
    before = snapshot(repo)

    def in_a_deleted_directory():
        os.chdir(gone)
        os.rmdir(gone)

    proc = cli_process(["render", "-C", str(repo)], tmp_path, preexec=in_a_deleted_directory)
    refused(proc.returncode, proc.stderr, 2, ".:0:0: the current directory no longer exists", repo, before)


def test_an_ascii_terminal_gets_escapes_not_a_traceback(repo: Path):
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("algorithm: random", "algorithm: rändöm→×"))
    before = snapshot(repo)
    proc = cli_process(["render", "-C", str(repo)], repo, env={"PYTHONIOENCODING": "ascii", "LC_ALL": "C"})
    line = refused(proc.returncode, proc.stderr, 1, "r\\xe4nd\\xf6m\\u2192\\xd7", repo, before)
    assert line.isascii()
    proc = cli_process(["plan", "-C", str(repo), "--base", "HEAD"], repo, env={"PYTHONIOENCODING": "ascii"})
    assert "Traceback" not in proc.stderr and proc.returncode == 2  # not a git repository: one line
    assert SHAPED.match(proc.stderr.strip())


def test_no_git_on_path(repo: Path, tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kubectl", "kustomize", "sh"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    (repo / ".git").mkdir()  # a work tree, as far as the lock knows: render needs no git to find it
    env = {"PATH": str(bin_dir)}
    before = snapshot(repo)
    proc = cli_process(["plan", "-C", str(repo), "--base", "main"], repo, env=env)
    refused(proc.returncode, proc.stderr, 2, "git is not on PATH", repo, before)
    proc = cli_process(["render", "-q", "-C", str(repo)], repo, env=env)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert (repo / ".git" / "katib-gitops.lock").exists() and not (repo / ".katib-gitops-lock").exists()


def test_kustomize_errors_in_the_gate_name_the_repository_not_the_scratch_copy(repo: Path, capsys):
    custom = repo / "overlays" / "cpu" / "custom"
    custom.mkdir()
    (custom / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                               "patches:\n- path: patch.yaml\n")
    (custom / "patch.yaml").write_text("not: [a patch\n")
    before = snapshot(repo)
    code, out, err = run(["render", "-C", str(repo)], capsys)
    assert code == 1 and snapshot(repo) == before
    assert err and all(SHAPED.match(ln) for ln in err.splitlines())
    for line in err.splitlines():
        user_path_only(line)
