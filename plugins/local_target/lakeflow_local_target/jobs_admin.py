"""Updating and deleting local jobs, and which artifact each run uses.

A ``launch`` of a project that already has a job points that job at the new artifact. The runs
triggered before keep theirs, queued ones included: this module records, per job, the artifact
each earlier range of runs was triggered with (``job_artifacts``: runs up to ``last_run_id`` use
``artifact``), and the run's supervisor starts it with :func:`run_artifact`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lakeflow_host import LakeflowError, Run, lazy_module
from lakeflow_local_target import procs, safety, store

if TYPE_CHECKING:
    from lakeflow_host import Job, JobSpec

# Listing runs (the hot path) needs neither venvs nor shutil.
envs = lazy_module("lakeflow_local_target.envs")
shutil = lazy_module("shutil")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_artifacts (
    job_id INTEGER NOT NULL, last_run_id INTEGER NOT NULL, artifact TEXT NOT NULL,
    PRIMARY KEY (job_id, last_run_id)
);
"""
_ready: set[str] = set()  # database files whose table exists
#: How long a canceled run's processes may take to go (the supervisor's grace is 3 s).
_CANCEL_WAIT_S = 10.0


def _ensure(db: sqlite3.Connection) -> sqlite3.Connection:
    path = db.execute("PRAGMA database_list").fetchone()[2]
    if path not in _ready:
        db.executescript(_SCHEMA)
        _ready.add(path)
    return db


def _connect(root: Path) -> sqlite3.Connection:
    return _ensure(store.connect(root))


def _active(db: sqlite3.Connection, job_id: int) -> list[int]:
    found = store.rows(
        db, "SELECT id FROM runs WHERE job_id = ? AND state IN ('QUEUED', 'RUNNING') ORDER BY id", (job_id,)
    )
    return [row["id"] for row in found]


def _wait_for_processes(db: sqlite3.Connection, run_ids: list[int]) -> None:
    """Until the canceled runs' supervisors and tasks are gone, so that nothing writes into a
    folder being removed (bounded: a process that will not die is left to its supervisor)."""
    deadline = time.monotonic() + _CANCEL_WAIT_S
    for run_id in run_ids:
        row = store.run_row(db, run_id)
        while time.monotonic() < deadline and (
            procs.alive(row["sup_pid"], row["sup_started"]) or procs.alive(row["pid"], row["pid_started"])
        ):
            time.sleep(0.05)


def update_job(root: Path, job_id: str, spec: JobSpec, settings: dict) -> Job:
    """As create_job checks and prepares a new job, for an existing one."""
    env = safety.check_env(spec.env)
    main, companions = envs.artifact_files(root, spec.artifact)
    kind = "pex" if main.suffix == ".pex" else "wheel"
    if kind == "wheel":
        envs.check_wheel(main, spec.package)
        envs.check_python(main)
        with safety.private_umask():
            safety.seal_env(envs.prepare_env(root, main, companions))
    db = _connect(root)
    number = store.job_row(db, job_id)["id"]
    cap = spec.max_concurrent_runs or spec.max_workers
    with store.transaction(db):
        # Every run triggered so far, queued ones included, keeps the artifact it was triggered
        # with: the write lock orders this against concurrent triggers.
        job = store.job_row(db, number)
        last = db.execute("SELECT MAX(id) AS last FROM runs WHERE job_id = ?", (number,)).fetchone()["last"]
        if last is not None and job["artifact"] != str(main):
            db.execute(
                "INSERT OR REPLACE INTO job_artifacts (job_id, last_run_id, artifact) VALUES (?, ?, ?)",
                (number, last, job["artifact"]),
            )
        db.execute(
            "UPDATE jobs SET name = ?, package = ?, artifact = ?, kind = ?, max_workers = ?,"
            " max_concurrent_runs = ?, env_names = ?, options = ? WHERE id = ?",
            (
                spec.name,
                spec.package,
                str(main),
                kind,
                spec.max_workers,
                cap,
                _json(sorted(env)),
                _json(settings),
                number,
            ),
        )
        envs.write_secrets(store.secrets_path(root, number), env)
    return store.to_job(store.job_row(db, number))


def run_artifact(db: sqlite3.Connection, job_id: int, run_id: int) -> str:
    """The artifact run ``run_id`` of job ``job_id`` installs: the one the job had when the run
    was triggered."""
    _ensure(db)
    row = db.execute(
        "SELECT artifact FROM job_artifacts WHERE job_id = ? AND last_run_id >= ? ORDER BY last_run_id LIMIT 1",
        (job_id, run_id),
    ).fetchone()
    if row is not None:
        return row["artifact"]
    return store.job_row(db, job_id)["artifact"]


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def with_artifacts(root: Path, runs: Sequence[Run]) -> list[Run]:
    """``runs`` with the artifact each one used filled in."""
    import dataclasses

    if not runs:
        return list(runs)
    db = _connect(root)
    current: dict[str, str] = {}
    history: dict[str, list[tuple[int, str]]] = {}
    for job_id in {run.job_id for run in runs}:
        row = db.execute("SELECT artifact FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        current[job_id] = row["artifact"] if row else ""
        history[job_id] = [
            (r["last_run_id"], r["artifact"])
            for r in store.rows(db, "SELECT * FROM job_artifacts WHERE job_id = ? ORDER BY last_run_id", (int(job_id),))
        ]
    out = []
    for run in runs:
        number = int(run.run_id)
        used = next((art for last, art in history[run.job_id] if number <= last), current[run.job_id])
        out.append(dataclasses.replace(run, artifact=used or None))
    return out


def delete_job(root: Path, job_id: str, cancel_runs: bool) -> Job:
    from lakeflow_local_target import cancel_run

    db = _connect(root)
    row = store.job_row(db, job_id)
    number = row["id"]
    active = _active(db, number)
    if active and not cancel_runs:
        raise LakeflowError(
            f"job {number} has {len(active)} queued or running runs; wait for them, or pass --cancel-runs"
        )
    for run_id in active:
        cancel_run(str(run_id))
    _wait_for_processes(db, active)
    job = store.to_job(row)
    with store.transaction(db):
        run_ids = [r["id"] for r in store.rows(db, "SELECT id FROM runs WHERE job_id = ?", (number,))]
        mine = {row["artifact"]} | {
            r["artifact"] for r in store.rows(db, "SELECT artifact FROM job_artifacts WHERE job_id = ?", (number,))
        }
        db.execute("DELETE FROM runs WHERE job_id = ?", (number,))
        db.execute("DELETE FROM job_artifacts WHERE job_id = ?", (number,))
        db.execute("DELETE FROM jobs WHERE id = ?", (number,))
        still_used = {r["artifact"] for r in store.rows(db, "SELECT artifact FROM jobs")} | {
            r["artifact"] for r in store.rows(db, "SELECT artifact FROM job_artifacts")
        }
    for run_id in run_ids:
        shutil.rmtree(store.run_dir(root, run_id), ignore_errors=True)
    store.secrets_path(root, number).unlink(missing_ok=True)
    used_folders = {Path(path).parent for path in still_used}
    for path in mine:
        folder = Path(path).parent
        if folder in used_folders or folder.parent.name != "artifacts":
            continue
        shutil.rmtree(envs.env_dir(root, Path(path)), ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    return job
