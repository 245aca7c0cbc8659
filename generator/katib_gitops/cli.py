"""Command line: parse arguments into typed options and call plain functions.

Each subcommand lives in ``katib_gitops.commands.<name>`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed namespace and returning an exit status.
"""

from __future__ import annotations

import argparse
import errno
import gc
import importlib
import sys
from typing import NoReturn, Sequence

from . import __version__
from .io.findings import UserError

# Order here is the order in --help.
COMMANDS = ("render", "validate", "check", "plan", "status", "results", "import_", "run", "init", "new")


def _requested(argv: Sequence[str] | None) -> str | None:
    """The module of the subcommand argv names, when it names one (then only that one is loaded)."""
    if not argv:
        return None
    first = next((a for a in argv if not a.startswith("-")), None)
    return next((name for name in COMMANDS if name.rstrip("_") == first), None)


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors quote what the user typed: printed through the sanitiser too."""

    def error(self, message: str) -> NoReturn:
        from .io.safetext import clean

        self.print_usage(sys.stderr)
        self.exit(2, clean(f"{self.prog}: error: {message}") + "\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with argv naming a subcommand, only that subcommand's module is imported (a per-file
    `validate` in a pre-commit hook should not pay for the others), else all of them (--help)."""
    parser = _Parser(
        prog="katib-gitops",
        description="Turn experiment specs into a validated GitOps repository for Kubeflow Katib.",
    )
    parser.add_argument("--version", action="version", version=f"katib-gitops {__version__}")
    # prog given: argparse would otherwise build a help formatter (and import shutil) to work it out.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="katib-gitops", parser_class=_Parser)
    requested = _requested(argv)
    for name in (requested,) if requested else COMMANDS:
        try:
            module = importlib.import_module(f"katib_gitops.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"katib_gitops.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


# What writing to a full disk, /dev/full or a closed terminal raises (no file name: it is stdout's own write).
_OUTPUT_ERRORS = (errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EBADF, errno.EDQUOT)
DEBUG_ENV = "KATIB_GITOPS_DEBUG"  # set (to anything): an unexpected exception shows its traceback
INTERNAL_ERROR = 70  # EX_SOFTWARE (sysexits.h): 3 is plan's "Katib will refuse a sync"


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as Ctrl-C stops (every cleanup that handles KeyboardInterrupt runs), exit 143."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def _prepare_process(saved: dict) -> str | None:
    """What every command needs before it starts; a one-line reason when it cannot run at all.

    - Output that the terminal's encoding cannot show (PYTHONIOENCODING=ascii, a C locale) is escaped
      instead of failing with a traceback half-way through a report.
    - A write past ``ulimit -f`` fails with EFBIG (reported, the tree left as it was) instead of the
      default SIGXFSZ killing the process in the middle of a render.
    - SIGTERM stops the command as Ctrl-C does: tools it runs are killed with their process groups.
    - A deleted current directory is named, not a FileNotFoundError from deep inside.
    """
    import signal

    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    try:
        import threading

        if threading.current_thread() is threading.main_thread():
            if hasattr(signal, "SIGXFSZ"):
                saved[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass
    import os

    try:
        os.getcwd()
    except OSError:
        return ".:0:0: the current directory no longer exists (deleted?): cd to an existing directory"
    return None


def _stop_tools() -> None:
    """Kill every tool (kustomize, kubectl, git) still running, with its process group (``procs``)."""
    procs = sys.modules.get("katib_gitops.io.procs")
    if procs is not None:
        procs.stop_all()


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    argv = list(sys.argv[1:] if argv is None else argv)
    saved: dict = {}
    procs = sys.modules.get("katib_gitops.io.procs")
    if procs is not None:
        procs.reset()
    try:
        problem = _prepare_process(saved)
        if problem is not None:
            print(problem, file=sys.stderr)
            return 2
        return _main(argv)
    except BaseException as exc:
        if not isinstance(exc, SystemExit):  # argparse's exit runs no tool
            _stop_tools()
        raise
    finally:
        for sig, handler in saved.items():  # main() called in-process (tests, hooks) leaves no handler behind
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _main(argv: list[str]) -> int:
    # A command builds a great many small objects that live until it exits (parsed YAML, rendered
    # Experiments) and makes almost no reference cycles. Python's cycle collector would walk them over and
    # over as they pile up, some 10 % of a large check's time: collect far less often (gen0 every 50,000
    # allocations instead of 700), and never walk what import left behind.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a full or closed stdout fails here, inside the handlers below
        return status
    except UserError as exc:  # SpecErrors carries several findings: one line each
        for finding in getattr(exc, "findings", (exc.finding,)):
            print(finding.one_line(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        _stop_tools()
        terminated = isinstance(exc, Terminated)
        print(f"katib-gitops: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        _drop_stdout()
        return 0
    except OSError as exc:
        if exc.filename is None and exc.errno in _OUTPUT_ERRORS:
            _drop_stdout()
            print(f"<stdout>:0:0: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
            return 2
        # A file the command needed and could not read or write, wherever it was: named, one line.
        from .io.findings import Finding

        where = exc.filename if exc.filename is not None else "."
        print(Finding(f"{exc.strerror or exc}", file=_shown(str(where))).one_line(), file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not a user's mistake: one line (the traceback on request)
        _stop_tools()
        import os

        if os.environ.get(DEBUG_ENV):
            raise
        from .io.safetext import clean

        print(clean(f"katib-gitops: internal error: {type(exc).__name__}: {exc} (please report it; "
                    f"{DEBUG_ENV}=1 shows where)"), file=sys.stderr)
        return INTERNAL_ERROR


def _shown(path: str) -> str:
    """A path as the user knows it: relative to the current directory when it is below it."""
    import os

    try:
        rel = os.path.relpath(path)
    except (ValueError, OSError):
        return path
    return path if rel.startswith("..") else rel


def _drop_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again (with a traceback)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run() -> NoReturn:
    """The `katib-gitops` program: main(), then a quick exit.

    Tearing the interpreter down frees every module and object one by one: a third of a second after
    `run` (Optuna, SQLAlchemy loaded), less after a large `check`, and nothing anyone waits
    for. So once what exit must do is done (no thread left running, atexit handlers run, output flushed),
    the process ends at once. A thread still running (none is expected) gets the normal exit.
    """
    import atexit
    import os
    import threading

    status = main()
    if any(t is not threading.main_thread() and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
