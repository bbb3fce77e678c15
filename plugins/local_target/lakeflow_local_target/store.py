"""The local target's state: one SQLite database under the lakeflow home.

Several ``lakeflow`` processes (CLI calls, the MCP server, the run supervisors) use it at once;
WAL mode and ``BEGIN IMMEDIATE`` transactions keep each state change atomic.
Env-var values are not here: they live in per-job files readable only by the user.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeflow_host import NotFoundError, Run, RunState, lakeflow_home

if TYPE_CHECKING:
    from lakeflow_host import Job
from lakeflow_local_target import safety

TARGET = "local"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL, package TEXT NOT NULL, artifact TEXT NOT NULL, kind TEXT NOT NULL,
    max_workers INTEGER NOT NULL, max_concurrent_runs INTEGER NOT NULL,
    env_names TEXT NOT NULL, created_at REAL NOT NULL, options TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs(id), args TEXT NOT NULL, state TEXT NOT NULL,
    queued_at REAL NOT NULL, started_at REAL, ended_at REAL, exit_code INTEGER, message TEXT,
    pid INTEGER, pid_started TEXT, sup_pid INTEGER, sup_started TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs(job_id, state, id);
CREATE TABLE IF NOT EXISTS supervisors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs(id), pid INTEGER, pid_started TEXT, created_at REAL NOT NULL
);
"""
# Columns added after the first release; a database made before them gets them on first use.
_ADDED = (("runs", "sup_pid", "INTEGER"), ("runs", "sup_started", "TEXT"), ("jobs", "options", "TEXT"))


def home() -> Path:
    """The host's lakeflow home, with a symlink the user made to it followed once, here."""
    return lakeflow_home().resolve()


def run_dir(root: Path, run_id: int | str) -> Path:
    return root / "runs" / str(run_id)


def make_run_dir(root: Path, run_id: int | str) -> Path:
    safety.private_dir(root / "runs")
    return safety.private_dir(run_dir(root, run_id))


def status_path(root: Path, run_id: int | str) -> Path:
    """Where the task's launcher writes its exit code, for when its supervisor is gone."""
    return run_dir(root, run_id) / "status"


def log_path(root: Path, run_id: int | str) -> Path:
    return run_dir(root, run_id) / "output.log"


def secrets_path(root: Path, job_id: int | str) -> Path:
    return root / "secrets" / f"job-{job_id}.json"


_initialized: set[Path] = set()


def connect(root: Path) -> sqlite3.Connection:
    """A connection in autocommit mode; use :func:`transaction` for changes that must be atomic."""
    path = root / "lakeflow.db"
    if root not in _initialized:
        safety.check_home(root)
        # Made 0600 before SQLite opens it: its -wal and -shm files copy the database's mode.
        for name in ("lakeflow.db", "lakeflow.db-wal", "lakeflow.db-shm"):
            os.close(safety.open_private(root / name, os.O_RDWR | os.O_CREAT))
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout = 30000")
    # In WAL mode this still never corrupts the database, and a commit is in the WAL file (the
    # kernel's page cache) once COMMIT returns, so killing any process, even mid-transaction,
    # loses nothing committed: only a power cut or kernel crash may lose the last commits, which
    # is beyond what lakeflow promises. It spares an fsync per state change (four per run),
    # which a 1000-run fan-out feels. (SQLite's PRAGMA synchronous and WAL docs.)
    db.execute("PRAGMA synchronous = NORMAL")
    if root not in _initialized:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(_SCHEMA)
        for table, column, kind in _ADDED:
            if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                with contextlib.suppress(sqlite3.OperationalError):  # added meanwhile by another process
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        _initialized.add(root)
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _int_id(value: str, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFoundError(
            f"unknown {what} id {value!r} on target local; "
            f"ids are numbers (see `lakeflow {'list-jobs' if what == 'job' else 'list-job-runs'}`)"
        ) from None


def insert_job(
    db: sqlite3.Connection,
    name: str,
    package: str,
    artifact: str,
    kind: str,
    max_workers: int,
    max_concurrent_runs: int,
    env_names: list[str],
    options: dict[str, Any] | None = None,
) -> int:
    cursor = db.execute(
        "INSERT INTO jobs (name, package, artifact, kind, max_workers, max_concurrent_runs, env_names, created_at,"
        " options) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            package,
            artifact,
            kind,
            max_workers,
            max_concurrent_runs,
            json.dumps(env_names),
            time.time(),
            json.dumps(options or {}),
        ),
    )
    return int(cursor.lastrowid)


def job_row(db: sqlite3.Connection, job_id: str | int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM jobs WHERE id = ?", (_int_id(str(job_id), "job"),)).fetchone()
    if row is None:
        raise NotFoundError(f"unknown job id {job_id} on target local; see `lakeflow list-jobs`")
    return row


def run_row(db: sqlite3.Connection, run_id: str | int) -> sqlite3.Row:
    row = db.execute("SELECT * FROM runs WHERE id = ?", (_int_id(str(run_id), "run"),)).fetchone()
    if row is None:
        raise NotFoundError(f"unknown run id {run_id} on target local; see `lakeflow list-job-runs`")
    return row


def insert_run(db: sqlite3.Connection, job_id: int, args: list[str]) -> int:
    cursor = db.execute(
        "INSERT INTO runs (job_id, args, state, queued_at) VALUES (?, ?, ?, ?)",
        (job_id, json.dumps(args), RunState.QUEUED.value, time.time()),
    )
    return int(cursor.lastrowid)


def finish_run(
    db: sqlite3.Connection,
    run_id: int,
    state: RunState,
    exit_code: int | None,
    message: str | None,
    *,
    only_if_active: bool = True,
) -> bool:
    """Record a run's end; never overwrites an end already recorded (a cancel wins over an exit)."""
    where = " AND state IN ('QUEUED', 'RUNNING')" if only_if_active else ""
    cursor = db.execute(
        "UPDATE runs SET state = ?, ended_at = ?, exit_code = ?, message = ? WHERE id = ?" + where,
        (state.value, time.time(), exit_code, message, run_id),
    )
    return cursor.rowcount == 1


def to_job(row: sqlite3.Row) -> Job:
    from lakeflow_host import Job  # the result types load when first needed: listing runs needs none

    return Job(
        TARGET,
        str(row["id"]),
        row["name"],
        row["package"],
        row["artifact"],
        row["max_workers"],
        row["max_concurrent_runs"],
        tuple(json.loads(row["env_names"])),
        None,
        row["created_at"],
    )


def to_run(row: sqlite3.Row) -> Run:
    return Run(
        TARGET,
        str(row["id"]),
        str(row["job_id"]),
        RunState(row["state"]),
        tuple(json.loads(row["args"])),
        row["queued_at"],
        row["started_at"],
        row["ended_at"],
        row["exit_code"],
        row["message"],
        None,
    )


def job_options(row: sqlite3.Row) -> dict[str, Any]:
    """The job's own settings (``inherit_env``, ``max_log_bytes``); ``{}`` for older jobs."""
    try:
        value = json.loads(row["options"] or "{}")
    except (IndexError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def rows(db: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    return db.execute(sql, params).fetchall()
