"""What the round-3 hostile tests share: running the CLI in-process, the promises each case checks, fake tools.

Every refusal is checked for the same promises (``refused``): the exit status, one ``FILE:LINE:COL`` line
naming the user's file, no traceback, the repository unchanged (content, mode, mtime), nothing outside it
touched, and no process left behind (``no_process_left``).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import psutil

from test_corpus import SHAPED, snapshot
from test_untrusted_inputs import run  # noqa: F401 (the in-process CLI every hostile test uses)

# Everything the sanitiser must neutralise, in one value: ANSI colour and cursor codes, a carriage return,
# bidi overrides and isolates, zero-width characters, a C1 control, workflow commands at the start of a
# line (also after a newline inside the value), the old ##[ command form, and markdown that would escape a
# code span or a table cell.
HOSTILE = ("\x1b[31mred\x1b[0m\r::error::forged\u202eevil\u2066x\u2069\u200bzw\u200dj\x85c1"
           "\n::add-mask::secret\n  ::stop-commands::tok ##[warning]old"
           "</details><!-- @octocat ![i](http://x/i.png) [l](http://x) `tick` |pipe|")
UNSAFE_CHARS = "\x1b\r\u202e\u2066\u2069\u200b\u200d\x85"


def safe_output(text: str, github: bool = False) -> None:
    """No terminal control, hidden character or workflow command survives in text (github: the workflow
    commands are katib-gitops's own, one per finding: nothing of a value may add one)."""
    assert not any(ch in text for ch in UNSAFE_CHARS), repr(text)
    for line in text.splitlines():
        if github and line.startswith(("::error file=", "::warning file=")):
            assert line.count(",title=") == 1 and "\n" not in line, line
            continue
        assert not line.lstrip().startswith("::"), line
        assert "##[" not in line, line


def error_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and ": warning: " not in ln]


def refused(code: int, err: str, want: int, fragment: str, repo: Path | None = None, before=None,
            outside: Path | None = None, before_outside=None) -> str:
    """The promises for one refused command; the line."""
    assert "Traceback" not in err
    assert code == want, f"exit {code}, want {want}:\n{err}"
    lines = error_lines(err)
    assert len(lines) == 1, lines
    assert SHAPED.match(lines[0]), lines[0]
    assert fragment in lines[0], lines[0]
    if repo is not None:
        assert snapshot(repo) == before, "the repository changed"
    if outside is not None:
        assert snapshot(outside) == before_outside, "something outside the repository changed"
    no_process_left()
    return lines[0]


def no_process_left(pids: list[int] = (), timeout: float = 5.0) -> None:
    """No child of this test process is left (a tool, a trial), nor any of pids."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in psutil.Process().children(recursive=True) if _running(p)]
        left += [psutil.Process(p) for p in pids if psutil.pid_exists(p) and _running(psutil.Process(p))]
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"processes left: {[(p.pid, p.cmdline()) for p in left]}")
        time.sleep(0.02)


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def fake_tool(bin_dir: Path, name: str, script: str) -> Path:
    """An executable `name` in bin_dir running the sh script (put bin_dir first on PATH to use it)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def use_tools(monkeypatch, bin_dir: Path) -> None:
    """bin_dir's tools first on PATH; kustomize looked up again (its choice is cached)."""
    from katib_gitops.build import kustomize

    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    kustomize.kustomize_command.cache_clear()
    monkeypatch.setattr(kustomize, "kustomize_command", _uncached(kustomize))


def _uncached(kustomize):
    import shutil

    def command() -> tuple[str, ...]:
        return ("kustomize", "build") if shutil.which("kustomize") else ("kubectl", "kustomize")
    return command
