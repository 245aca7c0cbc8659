"""The run's results as an Optuna study in an RDB storage: ``<out>/study.db`` (SQLite).

So the tools people already use for Optuna read a local run:
``optuna-dashboard sqlite:///runs/<name>/study.db``, ``optuna.load_study``.
One Optuna trial per finished Katib trial, with its parameters (Optuna
distributions of the spec's search space), its objective value, a state
(Succeeded with a number: COMPLETE; EarlyStopped: PRUNED; anything else: FAIL)
and user attributes ``trial`` (the Katib trial name), ``status``, ``log``.

Writing SQLite costs a few tens of milliseconds per trial and SQLAlchemy takes
a quarter of a second to import, so a background thread does it, in the order
trials finish, while the next trials run; ``close`` waits for it. trials.jsonl
stays the journal the runner itself resumes from; on ``--resume`` the study is
loaded (a file that is not an Optuna study is an error), and trials that a
killed runner recorded in trials.jsonl but not here yet are added, so the
storage always ends up with every finished trial.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import warnings
from pathlib import Path

from ..io.findings import Finding, UserError
from .lifecycle import EARLY_STOPPED, SUCCEEDED
from .experiment_view import Plan
from .run_records import TrialRecord

STUDY_FILE = "study.db"
# What Optuna's RDB storage creates (optuna.storages._rdb.models, and Alembic's own table).
OPTUNA_TABLES = frozenset({"studies", "study_directions", "study_system_attributes", "study_user_attributes",
                           "trial_heartbeats", "trial_intermediate_values", "trial_params", "trial_system_attributes",
                           "trial_user_attributes", "trial_values", "trials", "version_info", "alembic_version"})


def storage_url(path: Path) -> str:
    """``sqlite:///relative/path`` under the working directory, else ``sqlite:////absolute``."""
    try:
        return "sqlite:///" + path.absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return "sqlite:///" + path.absolute().as_posix()


class StudyStore:
    def __init__(self, plan: Plan, out: Path):
        self.plan = plan
        self.path = out / STUDY_FILE
        self.url = "sqlite:///" + self.path.absolute().as_posix()
        self.queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.closed = False
        self.errors: list[str] = []
        self.known: set[str] = set()
        self.checked = False  # names_in_storage found the existing file a study this Optuna can use

    def names_in_storage(self) -> set[str]:
        """Trial names the existing study holds; exit status 2 when the file is not an Optuna study.

        A study.db that a killed runner was still creating (an empty file, or only some of Optuna's tables
        and no study in them) is this run's own half-made copy: it is removed, and the storage is rebuilt
        from trials.jsonl as the run goes on."""
        if not self.path.exists():
            return set()
        if self._half_made():
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return set()
        self._check_tables()
        try:
            study = self._study(create=False)
            self.checked = True
            return {str(t.user_attrs.get("trial")) for t in study.get_trials(deepcopy=False)}
        except UserError:
            raise
        except Exception as exc:  # sqlite3/SQLAlchemy/Optuna each raise their own kinds
            raise UserError(Finding(f"not an Optuna study this run can continue: "
                                    f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                                    file=str(self.path)), exit_code=2) from None

    def _half_made(self) -> bool:
        """Whether the file is what Optuna leaves when killed while creating a storage (see above)."""
        import sqlite3

        if self.path.is_symlink() or not self.path.is_file():
            return False
        if self.path.stat().st_size == 0:
            return True
        try:
            # Read-write: SQLite rolls back a hot journal a killed writer left, as any opener would.
            with contextlib.closing(sqlite3.connect(self.path.absolute().as_uri(), uri=True)) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not tables <= OPTUNA_TABLES:
                    return False
                return "studies" not in tables or db.execute("SELECT COUNT(*) FROM studies").fetchone()[0] == 0
        except sqlite3.Error:
            return False

    def _check_tables(self) -> None:
        """Read-only look first: Optuna would add its tables to any SQLite file it is given."""
        import sqlite3

        def refuse(why: str) -> UserError:
            return UserError(Finding(f"not an Optuna study this run can continue: {why}",
                                     file=str(self.path)), exit_code=2)

        try:
            with contextlib.closing(sqlite3.connect(self.path.absolute().as_uri() + "?mode=ro", uri=True)) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not {"studies", "trials", "version_info"} <= tables:
                    raise refuse("no Optuna tables in it")
                names = {row[0] for row in db.execute("SELECT study_name FROM studies")}
        except sqlite3.Error as exc:
            raise refuse(str(exc)) from None
        if self.plan.name not in names:
            raise refuse(f"it holds no study named {self.plan.name!r}")

    def start(self) -> None:
        """Open (or create) the study in the background and write what ``add`` queued, in order; once (later
        calls do nothing)."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name="optuna-storage", daemon=True)
            self.thread.start()

    def add(self, record: TrialRecord) -> None:
        """Queue record; written once the thread runs (``start``)."""
        self.queue.put(record)

    def close(self, timeout: float = 60.0) -> None:
        """Let the writer finish what is queued, waiting at most timeout; once (later calls do nothing)."""
        if self.thread is None or self.closed:
            return
        self.closed = True
        self.queue.put(None)
        self.thread.join(timeout)

    # -- the writer thread ---------------------------------------------------
    def _study(self, create: bool):
        import optuna
        from sqlalchemy import event

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if not create and self.path.stat().st_size == 0:
            raise UserError(Finding("not an Optuna study: the file is empty", file=str(self.path)),
                            exit_code=2)
        # Whether the file's schema suits this Optuna (Alembic reads its migration scripts for it, twice):
        # needless for a file this Optuna is about to create, or one names_in_storage has just checked.
        fresh = create and (self.checked or not self.path.exists())
        storage = optuna.storages.RDBStorage(self.url, skip_compatibility_check=fresh)
        # The file is this run's own record, rebuilt from trials.jsonl if lost:
        # no fsync per write (it would cost more than the rest of a trial's bookkeeping).
        event.listen(storage.engine, "connect",
                     lambda conn, _: conn.execute("PRAGMA synchronous=OFF"))
        storage.engine.dispose()
        direction = "maximize" if self.plan.objective.maximize else "minimize"
        if create:
            return optuna.create_study(storage=storage, study_name=self.plan.name, direction=direction,
                                       load_if_exists=True)
        return optuna.load_study(storage=storage, study_name=self.plan.name)

    def _work(self) -> None:
        try:
            from .suggest import optuna_distributions

            study = self._study(create=True)
            distributions = optuna_distributions(self.plan, [])
        except Exception as exc:  # a run must not fail for its dashboard copy
            self.errors.append(f"{self.path}: not written ({type(exc).__name__}: {exc})")
            while self.queue.get() is not None:
                pass
            return
        while True:
            record = self.queue.get()
            if record is None:
                return
            try:
                self._write(study, distributions, record)
            except Exception as exc:
                self.errors.append(f"{self.path}: trial {record.name} not recorded ({type(exc).__name__}: {exc})")

    def _write(self, study, distributions, record: TrialRecord) -> None:
        from optuna.trial import TrialState, create_trial

        plan = self.plan
        params = {}
        for p in plan.parameters:
            text = record.parameters.get(p.name)
            if text is None:
                continue
            params[p.name] = int(text) if p.type == "int" else float(text) if p.type == "double" else text
        if record.status == SUCCEEDED and record.objective is not None:
            state, value = TrialState.COMPLETE, record.objective
        elif record.status == EARLY_STOPPED:
            state, value = TrialState.PRUNED, None
        else:
            state, value = TrialState.FAIL, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = create_trial(
                state=state, value=value, params=params,
                distributions={n: distributions[n] for n in params},
                user_attrs={"trial": record.name, "status": record.status, "log": record.log,
                            **({"message": record.message} if record.message else {})},
            )
            study.add_trial(trial)
