"""The ``local`` target: runs jobs on this machine, with no account and no server to start.

State lives in one SQLite database under ``$LAKEFLOW_HOME`` (default: the per-user data
directory). Each trigger queues a run; a detached per-job worker starts queued runs in trigger
order, at most ``max_concurrent_runs`` (default: ``max_workers``) at once, each in its own
session with its output captured to a log file. Runs execute the job package's
``lakeflow-task`` entry point in a venv made once per uploaded artifact set.
POSIX only (process groups, ``fcntl`` locks).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lakeflow_host import (
    Artifact,
    Job,
    JobSpec,
    RemoteArtifact,
    Run,
    RunLogs,
    RunState,
    TargetInfo,
    hookimpl,
    lazy_module,
)
from lakeflow_local_target import procs, store

# Listing and reading runs need only the store; uploads, jobs and triggers load the rest.
envs = lazy_module("lakeflow_local_target.envs")
worker = lazy_module("lakeflow_local_target.worker")

NAME = "local"
_LOG_LIMIT = 10 * 1024 * 1024


@hookimpl
def targets() -> list[TargetInfo]:
    # SQLite serializes the inserts anyway; one trigger at a time keeps run ids in input order.
    return [
        TargetInfo(NAME, (), "runs on this machine: no account, no server", triggers_in_flight=1, poll_interval=0.2)
    ]


@hookimpl
def upload_artifact(artifact: Artifact) -> RemoteArtifact:
    return envs.upload(store.home(), artifact)


@hookimpl
def create_job(spec: JobSpec) -> Job:
    root = store.home()
    main, companions = envs.artifact_files(root, spec.artifact)
    kind = "pex" if main.suffix == ".pex" else "wheel"
    if kind == "wheel":
        envs.check_wheel(main, spec.package)
        envs.check_python(main)
        envs.prepare_env(root, main, companions)  # fail at create time, not in every run
    cap = spec.max_concurrent_runs or spec.max_workers
    db = store.connect(root)
    with store.transaction(db):
        job_id = store.insert_job(db, spec.name, spec.package, str(main), kind, spec.max_workers, cap, sorted(spec.env))
        envs.write_secrets(store.secrets_path(root, job_id), dict(spec.env))
    return store.to_job(store.job_row(db, job_id))


@hookimpl
def get_job(job_id: str) -> Job:
    return store.to_job(store.job_row(store.connect(store.home()), job_id))


@hookimpl
def list_jobs() -> list[Job]:
    db = store.connect(store.home())
    return [store.to_job(row) for row in store.rows(db, "SELECT * FROM jobs ORDER BY id DESC")]


@hookimpl
def trigger_run(job_id: str, args: Sequence[str]) -> Run:
    root = store.home()
    db = store.connect(root)
    job = store.job_row(db, job_id)
    run_id = store.insert_run(db, job["id"], list(args))
    worker.ensure_worker(root, job["id"])
    return store.to_run(store.run_row(db, run_id))


def _reconcile(root: Path, rows: list) -> None:
    """Report runs whose process was lost as FAILED, and restart a dead job's queue."""
    db = None
    for job_id in {row["job_id"] for row in rows if row["state"] in ("QUEUED", "RUNNING")}:
        if worker.worker_alive(root, job_id):
            continue
        db = db or store.connect(root)
        for row in rows:
            if (
                row["job_id"] == job_id
                and row["state"] == "RUNNING"
                and not procs.alive(row["pid"], row["pid_started"])
            ):
                with store.transaction(db):
                    store.finish_run(
                        db,
                        row["id"],
                        RunState.FAILED,
                        None,
                        "the run's process was lost (killed, or the machine restarted) before it recorded an end",
                    )
        if any(row["job_id"] == job_id and row["state"] == "QUEUED" for row in rows):
            worker.ensure_worker(root, job_id)


def _fresh_rows(sql: str, params: tuple) -> list:
    root = store.home()
    db = store.connect(root)
    found = store.rows(db, sql, params)
    if any(row["state"] in ("QUEUED", "RUNNING") for row in found):
        _reconcile(root, found)
        found = store.rows(db, sql, params)
    return found


@hookimpl
def list_job_runs(job_id: str | None) -> list[Run]:
    if job_id is None:
        return [store.to_run(r) for r in _fresh_rows("SELECT * FROM runs ORDER BY id DESC", ())]
    job = store.job_row(store.connect(store.home()), job_id)
    return [store.to_run(r) for r in _fresh_rows("SELECT * FROM runs WHERE job_id = ? ORDER BY id DESC", (job["id"],))]


@hookimpl
def get_run(run_id: str) -> Run:
    row = store.run_row(store.connect(store.home()), run_id)
    return store.to_run(_fresh_rows("SELECT * FROM runs WHERE id = ?", (row["id"],))[0])


@hookimpl
def get_run_logs(run_id: str) -> RunLogs:
    root = store.home()
    run = get_run(run_id)
    path = store.log_path(root, run.run_id)
    text, truncated = "", False
    if path.exists():
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            truncated = size > _LOG_LIMIT
            handle.seek(max(0, size - _LOG_LIMIT))
            text = handle.read().decode("utf-8", errors="replace")
    note = None
    if run.state is RunState.QUEUED:
        note = "the run is queued and has not started yet"
    elif run.state is RunState.CANCELED and run.start_time is None:
        note = "the run was canceled before it started"
    error = run.message if run.state in (RunState.FAILED, RunState.CANCELED) else None
    return RunLogs(run.run_id, run.state, text, error, None, truncated, note)


@hookimpl
def cancel_run(run_id: str) -> Run:
    db = store.connect(store.home())
    with store.transaction(db):
        row = store.run_row(db, run_id)
        if row["state"] == "QUEUED":
            store.finish_run(db, row["id"], RunState.CANCELED, None, "canceled before it started")
        elif row["state"] == "RUNNING":
            store.finish_run(db, row["id"], RunState.CANCELED, None, "canceled by the user")
    if row["state"] == "RUNNING" and procs.alive(row["pid"], row["pid_started"]):
        procs.kill_tree(row["pid"])
    return store.to_run(store.run_row(db, row["id"]))
