"""The ``local`` target: runs jobs on this machine, with no account and no server to start.

State lives in one SQLite database under ``$LAKEFLOW_HOME`` (default: the per-user data
directory), private to the user. Each trigger queues a run; detached per-job supervisors (see
``supervisor.py``) start queued runs in trigger order, at most ``max_concurrent_runs``
(default: ``max_workers``) at once, each in its own session and a fresh working directory, with
a minimal environment and its output, secrets redacted, captured to a capped log. Runs execute
the job package's ``lakeflow-task`` entry point in a venv made once per uploaded artifact set.
POSIX only (sessions, ``fcntl`` locks); Linux for subreaping.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from lakeflow_host import LakeflowError, Run, RunLogs, RunState, TargetInfo, hookimpl, lazy_module

if TYPE_CHECKING:
    from lakeflow_host import Artifact, Job, JobSpec, PruneReport, RemoteArtifact
from lakeflow_local_target import procs, safety
from lakeflow_local_target.safety import environment_errors

# Loaded on first use: a command on another target pays for none of them, nor for sqlite3;
# listing and reading runs need only the store.
store = lazy_module("lakeflow_local_target.store")
envs = lazy_module("lakeflow_local_target.envs")
jobs_admin = lazy_module("lakeflow_local_target.jobs_admin")
slots = lazy_module("lakeflow_local_target.slots")
output = lazy_module("lakeflow_local_target.output")

NAME = "local"
# A slot is a process; far more than a machine runs at once, far less than SQLite's integers.
_MAX_SLOTS = 10_000


@hookimpl
def targets() -> list[TargetInfo]:
    from lakeflow_local_target.options import OPTIONS

    # SQLite serializes the inserts anyway; one trigger at a time keeps run ids in input order.
    return [
        TargetInfo(
            NAME, OPTIONS, "runs on this machine: no account, no server", triggers_in_flight=1, poll_interval=0.2
        )
    ]


@hookimpl
@environment_errors
def upload_artifact(artifact: Artifact) -> RemoteArtifact:
    root = store.home()
    store.connect(root).close()  # the home checked before anything lands in it
    with safety.private_umask():
        return envs.upload(root, artifact)


def _in_range(value: int | None, flag: str) -> None:
    if value is not None and value > _MAX_SLOTS:
        raise LakeflowError(f"{flag} {value} is out of range for the local target; pass at most {_MAX_SLOTS}")


@hookimpl
@environment_errors
def create_job(spec: JobSpec, options: Mapping[str, object]) -> Job:
    _in_range(spec.max_workers, "--max-workers")
    _in_range(spec.max_concurrent_runs, "--max-concurrent-runs")
    env = safety.check_env(spec.env)
    settings = dict(options)  # converted, with defaults, by the host
    root = store.home()
    db = store.connect(root)
    main, companions = envs.artifact_files(root, spec.artifact)
    kind = "pex" if main.suffix == ".pex" else "wheel"
    if kind == "wheel":
        envs.check_wheel(main, spec.package)
        envs.check_python(main)
        with safety.private_umask():
            safety.seal_env(envs.prepare_env(root, main, companions))  # fail at create time, not in every run
    cap = spec.max_concurrent_runs or spec.max_workers
    with store.transaction(db):
        job_id = store.insert_job(
            db, spec.name, spec.package, str(main), kind, spec.max_workers, cap, sorted(env), settings
        )
        envs.write_secrets(store.secrets_path(root, job_id), env)
    return store.to_job(store.job_row(db, job_id))


@hookimpl
@environment_errors
def update_job(job_id: str, spec: JobSpec, options: Mapping[str, object]) -> Job:
    _in_range(spec.max_workers, "--max-workers")
    _in_range(spec.max_concurrent_runs, "--max-concurrent-runs")
    return jobs_admin.update_job(store.home(), job_id, spec, dict(options))  # converted by the host


@hookimpl
@environment_errors
def delete_job(job_id: str, cancel_runs: bool) -> Job:
    return jobs_admin.delete_job(store.home(), job_id, cancel_runs)


@hookimpl
@environment_errors
def prune(older_than_days: float) -> PruneReport:
    from lakeflow_local_target import pruning

    return pruning.prune(store.home(), older_than_days)


@hookimpl
@environment_errors
def get_job(job_id: str) -> Job:
    return store.to_job(store.job_row(store.connect(store.home()), job_id))


@hookimpl
@environment_errors
def list_jobs(name: str | None) -> list[Job]:
    db = store.connect(store.home())
    if name is not None:
        return [
            store.to_job(row) for row in store.rows(db, "SELECT * FROM jobs WHERE name = ? ORDER BY id DESC", (name,))
        ]
    return [store.to_job(row) for row in store.rows(db, "SELECT * FROM jobs ORDER BY id DESC")]


@hookimpl
@environment_errors
def trigger_run(job_id: str, args: Sequence[str]) -> Run:
    checked = safety.check_args(args)  # before anything is stored: the supervisor would only fail later
    root = store.home()
    db = store.connect(root)
    job = store.job_row(db, job_id)
    run_id = slots.dispatch(root, job["id"], db, checked)
    return store.to_run(store.run_row(db, run_id))


def _fresh_rows(sql: str, params: tuple) -> list:
    root = store.home()
    db = store.connect(root)
    found = store.rows(db, sql, params)
    # Settle runs nobody watches any more and start what free slots can take.
    stale = {
        row["job_id"]
        for row in found
        if row["state"] == "QUEUED"
        or (row["state"] == "RUNNING" and not procs.alive(row["sup_pid"], row["sup_started"]))
    }
    if stale:
        for job_id in stale:
            slots.dispatch(root, job_id, db)
        found = store.rows(db, sql, params)
    return found


@hookimpl
@environment_errors
def list_job_runs(job_id: str | None, active_only: bool, limit: int | None, since: float | None) -> list[Run]:
    # Filtered and limited in SQL: a home keeps every run until pruned, and the default listing
    # shows the newest 100 of them.
    where, params = [], []
    if job_id is not None:
        where.append("job_id = ?")
        params.append(store.job_row(store.connect(store.home()), job_id)["id"])
    if active_only:
        where.append("state IN ('QUEUED', 'RUNNING')")
    if since is not None:
        where.append("queued_at >= ?")
        params.append(since)
    sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    found = _fresh_rows(sql, tuple(params))
    return jobs_admin.with_artifacts(store.home(), [store.to_run(r) for r in found])


@hookimpl
@environment_errors
def get_run(run_id: str) -> Run:
    row = store.run_row(store.connect(store.home()), run_id)
    run = store.to_run(_fresh_rows("SELECT * FROM runs WHERE id = ?", (row["id"],))[0])
    return jobs_admin.with_artifacts(store.home(), [run])[0]


@hookimpl
@environment_errors
def get_run_logs(run_id: str) -> RunLogs:
    root = store.home()
    run = get_run(run_id)
    text, truncated = output.read_log(store.run_dir(root, run.run_id))
    note = None
    if run.state is RunState.QUEUED:
        note = "the run is queued and has not started yet"
    elif run.state is RunState.CANCELED and run.start_time is None:
        note = "the run was canceled before it started"
    error = run.message if run.state in (RunState.FAILED, RunState.CANCELED) else None
    return RunLogs(run.run_id, run.state, text, error, None, truncated, note)


@hookimpl
@environment_errors
def cancel_run(run_id: str) -> Run:
    db = store.connect(store.home())
    with store.transaction(db):
        row = store.run_row(db, run_id)
        if row["state"] == "QUEUED":
            store.finish_run(db, row["id"], RunState.CANCELED, None, "canceled before it started")
        elif row["state"] == "RUNNING":
            store.finish_run(db, row["id"], RunState.CANCELED, None, "canceled by the user")
    if row["state"] == "RUNNING":
        if procs.alive(row["sup_pid"], row["sup_started"]):
            os.kill(row["sup_pid"], signal.SIGUSR1)  # it kills every process of the run, and waits for them
        elif procs.alive(row["pid"], row["pid_started"]):
            procs.kill_tree(row["pid"])  # its supervisor is gone: what is still in the task's tree
    return store.to_run(store.run_row(db, row["id"]))
