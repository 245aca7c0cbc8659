"""The runner's progress: a live table on a terminal (rich), plain lines in a pipe, a file or CI."""

from __future__ import annotations

import io
import os
import pty

import pytest

from katib_gitops.runner import progress as progress_module
from katib_gitops.runner.lifecycle import Counts
from katib_gitops.runner.progress import Progress, live_wanted, under_ci


def drive(progress: Progress) -> None:
    progress.note("algorithm random, seed 1")
    progress.trial_started("t-001", {"lr": "0.01", "opt": "[bold red]sgd[/]"})
    progress.trial_started("t-002", {"lr": "0.1", "opt": "adam\x1b[31m"}, devices=("0",))
    progress.update(Counts(running=2), None)
    progress.trial_finished("t-001", "Succeeded", 0.9, 1.25)
    progress.update(Counts(succeeded=1, running=1), ("t-001", 0.9))
    progress.trial_finished("t-002", "Failed", None, 2.0, "exit status 1")
    progress.trial_output(["Traceback: boom"], [])
    progress.update(Counts(succeeded=1, failed=1), ("t-001", 0.9))
    progress.close()


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    drive(Progress(out, total=4, tty=False, metric="accuracy"))
    assert out.getvalue().splitlines() == [
        "note: algorithm random, seed 1",
        "trial t-001 started: lr=0.01 opt=[bold red]sgd[/]",
        "trial t-002 started: lr=0.1 opt=adam\\u001b[31m CUDA_VISIBLE_DEVICES=0",  # escaped: safetext.clean
        "trial t-001 Succeeded accuracy=0.9 in 1.2s",
        "trial t-002 Failed in 2.0s (exit status 1)",
        "  | Traceback: boom",
    ]


def test_a_live_table_of_running_trials_on_a_terminal(monkeypatch):
    monkeypatch.setattr(progress_module, "REDRAW_S", 0.0)  # every update drawn
    out = io.StringIO()
    progress = Progress(out, total=4, tty=True, metric="accuracy")
    progress.trial_started("t-001", {"lr": "0.01", "opt": "[bold red]sgd[/]"})
    progress.trial_started("t-002", {"lr": "0.1", "opt": "adam\x1b[31m"}, devices=("0",))
    progress.update(Counts(succeeded=1, running=2), ("t-000", 0.75))
    drawn = out.getvalue()
    assert "\x1b[" in drawn  # cursor movement: a view drawn in place
    for text in ("trial", "parameters", "running", "t-001", "lr=0.01", "t-002", "GPU 0", "1/4", "running 2",
                 "best accuracy=0.75 (t-000)"):
        assert text in drawn, text
    assert "[bold red]sgd[/]" in drawn, "a parameter value is shown as it is, never read as markup"
    assert "adam\x1b[31m" not in drawn and "adam\\u001b[31m" in drawn, "a control sequence in a value is shown escaped"
    progress.trial_finished("t-001", "Succeeded", 0.9, 1.25)
    progress.close()
    final = out.getvalue()
    assert "trial t-001 Succeeded accuracy=0.9 in 1.2s\n" in final  # a line above the view, kept
    assert "trial t-001 started" not in final  # the view shows the running trials instead


def test_the_same_events_draw_the_same_lines_in_both_modes():
    live, plain = io.StringIO(), io.StringIO()
    drive(Progress(live, total=4, tty=True, metric="accuracy"))
    drive(Progress(plain, total=4, tty=False, metric="accuracy"))
    for line in plain.getvalue().splitlines():
        if " started: " not in line:
            assert line.split("\x1b")[0] in live.getvalue(), line


@pytest.mark.parametrize("ci, live", [(None, True), ("true", False), ("1", False), ("false", True), ("", True)])
def test_a_pseudo_terminal_gets_the_live_view_unless_under_ci(monkeypatch, ci, live):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=True) as stream:
            progress = Progress(stream, total=2, metric="accuracy")
            assert progress.tty is live and live_wanted(stream) is live
            progress.trial_started("t-001", {"lr": "0.01"})
            progress.close()
            written = os.read(master, 65536).decode(errors="replace")
    finally:
        os.close(master)
    assert ("\x1b[" in written) is live
    assert ("trial t-001 started: lr=0.01" in written) is not live


def test_ci_is_read_as_ci_systems_set_it():
    assert under_ci({"CI": "true"}) and under_ci({"CI": "1"}) and under_ci({"CI": "yes"})
    assert not under_ci({}) and not under_ci({"CI": "false"}) and not under_ci({"CI": "0"})
