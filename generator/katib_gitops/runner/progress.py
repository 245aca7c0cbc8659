"""Progress while trials run: a live bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from ..safetext import clean
from .lifecycle import SUCCEEDED, Counts


def _params(assignments: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in assignments.items())


class Progress:
    def __init__(self, stream: TextIO | None = None, total: int | None = None,
                 tty: bool | None = None, metric: str = ""):
        self.stream = stream or sys.stderr
        self.total = total
        self.tty = self.stream.isatty() if tty is None else tty
        self.metric = metric
        self.started = time.monotonic()
        self.counts = Counts()
        self.best: tuple[str, float] | None = None
        self.last_draw = 0.0
        self.drawn = False

    def _line(self, text: str) -> None:
        """One line of output: a parameter value, a message or a line of a trial's log may hold anything
        (``safetext.clean``); only the bar itself writes terminal controls."""
        self.stream.write(clean(text) + "\n")

    # -- events ---------------------------------------------------------
    def note(self, message: str) -> None:
        self._clear()
        self._line(f"note: {message}")
        self._redraw()

    def trial_started(self, name: str, assignments: Mapping[str, str], devices=()) -> None:
        if not self.tty:
            gpu = f" CUDA_VISIBLE_DEVICES={','.join(devices)}" if devices else ""
            self._line(f"trial {name} started: {_params(assignments)}{gpu}")
            self.stream.flush()
        self._redraw(force=True)

    def trial_finished(self, name: str, status: str, objective: float | None,
                       duration: float, message: str = "") -> None:
        value = f" {self.metric}={objective!r}" if objective is not None else ""
        why = f" ({message})" if message and status != SUCCEEDED else ""
        self._clear()
        self._line(f"trial {name} {status}{value} in {duration:.1f}s{why}")
        self.stream.flush()
        self._redraw(force=True)

    def trial_output(self, lines: Sequence[str], logs: Sequence[Path]) -> None:
        """A failed trial's last lines and where its whole output is."""
        self._clear()
        for line in lines:
            self._line(f"  | {line}")
        for log in logs:
            self._line(f"  log: {log}")
        self.stream.flush()
        self._redraw(force=True)

    def update(self, counts: Counts, best: tuple[str, float] | None) -> None:
        self.counts = counts
        self.best = best
        self._redraw()

    def tick(self) -> None:
        self._redraw()

    def close(self) -> None:
        self._clear()
        self.stream.flush()

    # -- drawing ----------------------------------------------------------
    def line(self) -> str:
        c = self.counts
        done = c.completed
        width = 20
        if self.total:
            filled = min(width, round(width * done / self.total))
            bar = "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{self.total}"
        else:
            bar = f"{done} done"
        failed = c.failed + c.metrics_unavailable
        best = f"  best {self.metric}={self.best[1]!r} ({self.best[0]})" if self.best else ""
        elapsed = time.monotonic() - self.started
        return f"{bar}  running {c.running}  failed {failed}{best}  {elapsed:.0f}s"

    def _redraw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < 0.2:
            return
        self.last_draw = now
        columns = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r\x1b[2K" + clean(self.line())[: columns - 1])
        self.stream.flush()
        self.drawn = True

    def _clear(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\r\x1b[2K")
            self.drawn = False
