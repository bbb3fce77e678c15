"""A job's slots: at most ``max_concurrent_runs`` supervisors (see ``supervisor.py``), plus any
task that outlived its supervisor, which keeps its slot until it ends, so the cap holds across
crashes. Whoever finds a queued run and a free slot (a trigger, any ``lakeflow`` command that
looks at the job) starts a supervisor unless one is starting; supervisors fork the others
(``reserve_free_slots``). The same look settles runs whose supervisor and task are both gone.
"""

from __future__ import annotations

import os
import pwd
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lakeflow_host import LakeflowError, RunState
from lakeflow_local_target import output, procs, safety, store

BASE_ENV = ("PATH", "HOME", "LANG", "TMPDIR", "USER", "SHELL", "TERM")
# A slot whose supervisor was spawned but has not said so yet counts as busy this long.
_SPAWN_GRACE = 30.0
# A supervisor fills the job's other free slots itself, with copies of itself (a fork costs a
# fraction of an interpreter start and its imports), when it claims a run. So while one is
# starting, a dispatch spawns nothing; one that has not said so after this long is presumed
# dead for that purpose (its slot still counts as busy for _SPAWN_GRACE).
_STARTING = 5.0
_BOOT = "import sys\nfrom lakeflow_local_target.supervisor import main\nmain(sys.argv[1:])\n"
# Supervisors this process started, in their own sessions and never waited for: a trigger
# returns once the supervisor exists (no double fork: that costs an interpreter start and a
# wait). The parent may exit at any time (the supervisor is then init's); a long-lived one
# (the MCP server, an API user) reaps those that ended at its next dispatch.
_started: list[subprocess.Popen] = []


def base_env(source: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The documented minimal environment, taken from ``source``, with sane defaults."""
    env = {k: v for k, v in source.items() if k in BASE_ENV or k.startswith("LC_")}
    try:
        user = pwd.getpwuid(os.getuid())
        env.setdefault("HOME", user.pw_dir)
        env.setdefault("USER", user.pw_name)
    except KeyError:
        pass
    env.setdefault("PATH", os.defpath)
    return env


def _supervisor_env(inherit: bool) -> dict[str, str]:
    env = dict(os.environ) if inherit else base_env(os.environ)
    env.pop("LAKEFLOW_HOME", None)
    if "PYTHONPATH" in os.environ:  # it may be how lakeflow itself is found
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def _settle(db: sqlite3.Connection, root: Path, row: sqlite3.Row) -> None:
    """Record the end of a RUNNING run whose supervisor and task are both gone."""
    code = read_status(root, row["id"])
    if code is not None:
        state = RunState.SUCCEEDED if code == 0 else RunState.FAILED
        store.finish_run(db, row["id"], state, code, describe_exit(code))
    elif row["pid"] is None:
        store.finish_run(
            db, row["id"], RunState.FAILED, None, "its supervisor was killed before the task started; trigger it again"
        )
    else:
        store.finish_run(
            db,
            row["id"],
            RunState.FAILED,
            None,
            "its supervisor and its task were both killed (or the machine restarted) before the end was recorded",
        )


def read_status(root: Path, run_id: int) -> int | None:
    try:
        text = safety.read_private(store.status_path(root, run_id)).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def busy_slots(db: sqlite3.Connection, root: Path, job_id: int) -> int:
    """Live supervisors plus tasks that outlived theirs; settles runs nobody watches any more.

    Call inside a transaction.
    """
    now = time.time()
    live = 0
    # A running run's supervisor is nearly always one of the rows just checked: asked once.
    checked: dict[tuple[int, str | None], bool] = {}
    for sup in store.rows(db, "SELECT id, pid, pid_started, created_at FROM supervisors WHERE job_id = ?", (job_id,)):
        if sup["pid"] is None:
            alive = now - sup["created_at"] < _SPAWN_GRACE
        else:
            alive = checked[sup["pid"], sup["pid_started"]] = procs.alive(sup["pid"], sup["pid_started"])
        if alive:
            live += 1
        else:
            db.execute("DELETE FROM supervisors WHERE id = ?", (sup["id"],))
    orphans = 0
    for run in store.rows(db, "SELECT * FROM runs WHERE job_id = ? AND state = 'RUNNING'", (job_id,)):
        key = (run["sup_pid"], run["sup_started"])
        if checked[key] if key in checked else procs.alive(*key):
            continue
        if procs.alive(run["pid"], run["pid_started"]):
            orphans += 1
        else:
            _settle(db, root, run)
    return live + orphans


def dispatch(
    root: Path, job_id: int, db: sqlite3.Connection | None = None, args: list[str] | None = None
) -> int | None:
    """Start a supervisor if a queued run finds a free slot and none is starting (the one that
    starts fills the other free slots); with ``args``, queue a run first, in the same
    transaction, and return its id."""
    db = db or store.connect(root)
    run_id = None
    with store.transaction(db):
        job = store.job_row(db, job_id)
        if args is not None:
            run_id = store.insert_run(db, job_id, args)
        free = job["max_concurrent_runs"] - busy_slots(db, root, job_id)
        slot = None
        if free > 0 and not _starting(db, job_id) and _queued(db, job_id):
            slot = _reserve(db, job_id)
    if slot is not None:
        try:
            _spawn(root, job_id, slot, flag(store.job_options(job).get("inherit_env")))
        except OSError as exc:
            db.execute("DELETE FROM supervisors WHERE id = ?", (slot,))
            queued_note = f"run {run_id} is stored and stays queued; " if run_id is not None else ""
            raise LakeflowError(
                f"could not start a supervisor for job {job_id} ({exc}); {queued_note}"
                f"see {root / 'supervisor.log'}, then retry any lakeflow command on the job"
            ) from None
    return run_id


def reserve_free_slots(db: sqlite3.Connection, job_id: int, cap: int, busy: int) -> list[int]:
    """Slots for the queued runs that no supervisor will take (a starting one takes one each),
    as far as the cap allows; the caller starts a supervisor for each. Call inside a
    transaction, with ``busy`` from :func:`busy_slots` in it."""
    wanted = min(_queued(db, job_id) - _starting(db, job_id), cap - busy)
    return [_reserve(db, job_id) for _ in range(max(0, wanted))]


def _queued(db: sqlite3.Connection, job_id: int) -> int:
    return db.execute("SELECT count(*) FROM runs WHERE job_id = ? AND state = 'QUEUED'", (job_id,)).fetchone()[0]


def _starting(db: sqlite3.Connection, job_id: int) -> int:
    return db.execute(
        "SELECT count(*) FROM supervisors WHERE job_id = ? AND pid IS NULL AND created_at > ?",
        (job_id, time.time() - _STARTING),
    ).fetchone()[0]


def _reserve(db: sqlite3.Connection, job_id: int) -> int:
    return int(
        db.execute("INSERT INTO supervisors (job_id, created_at) VALUES (?, ?)", (job_id, time.time())).lastrowid
    )


def _spawn(root: Path, job_id: int, slot: int, inherit: bool) -> None:
    _started[:] = [proc for proc in _started if proc.poll() is None]
    log = safety.open_private(root / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, str(root), str(job_id), str(slot)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=_supervisor_env(inherit),
            start_new_session=True,
            cwd="/",
        )
    finally:
        os.close(log)
    _started.append(proc)


def flag(value: object) -> bool:
    # Options arrive as strings until the host converts them to their declared type.
    return value is True or (isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"))


def log_cap(options: dict[str, Any]) -> int:
    try:
        return max(output.MIN_LOG_BYTES, int(options.get("max_log_bytes") or output.DEFAULT_MAX_LOG_BYTES))
    except (TypeError, ValueError):
        return output.DEFAULT_MAX_LOG_BYTES


def describe_exit(code: int) -> str | None:
    if code == 0:
        return None
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"the task exited with code {code}"
