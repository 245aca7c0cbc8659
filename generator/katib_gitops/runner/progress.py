"""Progress while trials run: a live table on a terminal, plain lines otherwise.

On a terminal (and not under CI, whose logs keep every byte) ``rich`` draws a live view below the log
lines: how many trials are done out of the budget, how many run and failed, the best value so far and
the elapsed time, and a table of the running trials with their parameters and how long each has run.
Notes and finished trials are printed above it as lines, so the scroll-back keeps them; the view itself
is wiped when the run ends. Elsewhere (a pipe, a file, CI) the same events are plain lines, one each,
and rich is never imported (it costs the runner's start-up some 0.1 s).

Everything shown comes partly from the spec and the trials (parameter values, messages): in the live
view it is passed to rich as plain ``Text``, never as markup, and everywhere it goes through the one
sanitiser (``safetext.clean``: control characters such as an escape sequence or a carriage return, bidi
and zero-width characters are shown escaped, a workflow command neutralised), so a value like ``[bold]``
or ``\x1b[2J`` is shown, not obeyed, and cannot break the view.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

from ..io.safetext import clean
from .lifecycle import SUCCEEDED, Counts

REDRAW_S = 0.2  # at most five redraws a second, unless something happened


def _params(assignments: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in assignments.items())


def _shown(text: str) -> Any:
    """text for the live view: cleaned (``safetext.clean``, the one sanitiser), and plain Text, never markup."""
    from rich.text import Text

    return Text(clean(text))


def under_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """CI=true (GitHub Actions, GitLab, most others): its log is a file, redrawing would fill it."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def live_wanted(stream: TextIO) -> bool:
    try:
        return stream.isatty() and not under_ci()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


@dataclass
class _Running:
    assignments: Mapping[str, str]
    devices: Sequence[str]
    started: float = field(default_factory=time.monotonic)


class Progress:
    def __init__(self, stream: TextIO | None = None, total: int | None = None,
                 tty: bool | None = None, metric: str = ""):
        self.stream = stream or sys.stderr
        self.total = total
        self.tty = live_wanted(self.stream) if tty is None else tty
        self.metric = metric
        self.started = time.monotonic()
        self.counts = Counts()
        self.best: tuple[str, float] | None = None
        self.running: dict[str, _Running] = {}
        self.last_draw = 0.0
        self._live: Any = None  # rich.live.Live, once there is something to show

    # -- events ---------------------------------------------------------
    def note(self, message: str) -> None:
        self._print(f"note: {message}")

    def trial_started(self, name: str, assignments: Mapping[str, str], devices=()) -> None:
        self.running[name] = _Running(dict(assignments), tuple(devices))
        if not self.tty:
            gpu = f" CUDA_VISIBLE_DEVICES={','.join(devices)}" if devices else ""
            self._print(f"trial {name} started: {_params(assignments)}{gpu}")
        self._redraw(force=True)

    def trial_finished(self, name: str, status: str, objective: float | None,
                       duration: float, message: str = "") -> None:
        self.running.pop(name, None)
        value = f" {self.metric}={objective!r}" if objective is not None else ""
        why = f" ({message})" if message and status != SUCCEEDED else ""
        self._print(f"trial {name} {status}{value} in {duration:.1f}s{why}")
        self._redraw(force=True)

    def trial_output(self, lines: Sequence[str], logs: Sequence[Path]) -> None:
        """A failed trial's last lines and where its whole output is."""
        for line in lines:
            self._print(f"  | {line}")
        for log in logs:
            self._print(f"  log: {log}")

    def update(self, counts: Counts, best: tuple[str, float] | None) -> None:
        self.counts = counts
        self.best = best
        self._redraw()

    def tick(self) -> None:
        self._redraw()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()  # transient: the view is wiped, the printed lines stay
            self._live = None
        self.stream.flush()

    # -- what is shown ----------------------------------------------------
    def line(self) -> str:
        """The summary: done of the budget, running, failed, the best so far, the elapsed time."""
        c = self.counts
        done = f"{c.completed}/{self.total}" if self.total else f"{c.completed} done"
        failed = c.failed + c.metrics_unavailable
        best = f"  best {self.metric}={self.best[1]!r} ({self.best[0]})" if self.best else ""
        elapsed = time.monotonic() - self.started
        return f"{done}  running {c.running}  failed {failed}{best}  {elapsed:.0f}s"

    def renderable(self) -> Any:
        """The live view: a bar and the summary, then a table of the running trials."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        head = Table.grid(padding=(0, 2))
        if self.total:
            head.add_row(ProgressBar(total=self.total, completed=min(self.counts.completed, self.total), width=24),
                         _shown(self.line()))
        else:
            head.add_row(_shown(self.line()))
        if not self.running:
            return head
        now = time.monotonic()
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        table.add_column("trial", no_wrap=True)
        table.add_column("parameters", overflow="fold")
        table.add_column("running", justify="right", no_wrap=True)
        for name, r in sorted(self.running.items()):
            gpu = f"  GPU {','.join(r.devices)}" if r.devices else ""
            table.add_row(_shown(name), _shown(_params(r.assignments) + gpu), _shown(f"{now - r.started:.0f}s"))
        return Group(head, table)

    # -- drawing ----------------------------------------------------------
    def _print(self, text: str) -> None:
        """One line of output: a parameter value, a message or a line of a trial's log may hold anything."""
        if self._live is None:
            self.stream.write(clean(text) + "\n")
            self.stream.flush()
            return
        self._live.console.print(_shown(text), soft_wrap=True)  # above the view, which is drawn again below

    def _redraw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < REDRAW_S:
            return
        self.last_draw = now
        if self._live is None:
            self._live = self._start_live()
        self._live.update(self.renderable(), refresh=True)

    def _start_live(self) -> Any:
        from rich.console import Console
        from rich.live import Live

        # Drawn on request only (auto_refresh off): no thread of rich's own is left to stop.
        console = Console(file=self.stream, force_terminal=True, highlight=False, soft_wrap=False)
        live = Live(self.renderable(), console=console, auto_refresh=False, transient=True,
                    redirect_stdout=False, redirect_stderr=False)
        live.start()
        return live
