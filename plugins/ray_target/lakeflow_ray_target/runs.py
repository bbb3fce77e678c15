"""Runs of the ``ray`` target: submission, the job's concurrency cap, states, cancel, logs.

Each run is one Ray job. Its lakeflow run id (``lakeflow-<job id>-<random token>``) is chosen
before anything is sent and IS the Ray ``submission_id``: Ray refuses a second submission with
an id it already has, so retrying a submission whose answer was lost never starts a second run.

Ray has no per-job concurrency limit, so lakeflow keeps the queue: a run is submitted only while
fewer than the job's ``max_concurrent_runs`` (default ``max_workers``) of its runs are active on
the cluster; the others wait here as QUEUED, and a detached per-job pump
(:mod:`lakeflow_ray_target.pump`) submits them as slots free up.
"""

from __future__ import annotations

import secrets as _secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from lakeflow_host import TASK_ENTRY_POINT, LakeflowError, NotFoundError, Run, RunLogs, RunState
from lakeflow_ray_target import artifacts, client, store

_LOG_LIMIT = 10 * 1024 * 1024
_SUBMIT_ATTEMPTS = 3
_FINAL = {s.value for s in RunState if s.is_final}


def new_run_id(job_id: str) -> str:
    return f"lakeflow-{job_id}-{_secrets.token_hex(8)}"


def _record(rec: Mapping[str, Any], details: Any) -> None:
    """Copy what Ray says about a run into its record."""
    state = client.STATES.get(str(details.status), RunState.FAILED)
    rec["state"] = state.value
    if state is not RunState.QUEUED and details.start_time:
        rec["start_time"] = details.start_time / 1000
    if details.end_time:
        rec["end_time"] = details.end_time / 1000
    exit_code = getattr(details, "driver_exit_code", None)
    if exit_code is not None:
        rec["exit_code"] = exit_code
    # Ray's message on a run still pending or a success says nothing a state does not.
    # ...and on a failure it appends the log's tail, which get-run-logs shows whole.
    message = (details.message or "").split(", last available logs")[0].strip().splitlines()
    rec["message"] = message[0] if message and state in (RunState.FAILED, RunState.CANCELED) else None


def refresh(rec: dict[str, Any], run_id: str) -> None:
    """Ask the cluster for an active run's state."""
    if not rec.get("submitted") or rec["state"] in _FINAL:
        return
    details = client.info(rec["address"], run_id)
    if details is None:
        rec.update(
            state=RunState.FAILED.value,
            end_time=time.time(),
            message="the Ray cluster has no record of this run (was the cluster restarted?)",
        )
    else:
        _record(rec, details)


def _redact(text: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        if value:
            text = text.replace(value, f"[{name} redacted]")
    return text


def _env_vars(job_id: str, job: Mapping[str, Any], run_id: str) -> dict[str, str]:
    if job.get("env_from") == "cluster":
        # Ray expands ${NAME} from the node's own environment when it starts the run's
        # processes (ray/_private/utils.py, update_envs), so no value leaves the cluster.
        env = {name: "${" + name + "}" for name in job["env_var_names"]}
    else:
        env = store.secrets(job_id)
    return {**env, "DATABRICKS_RUN_ID": run_id, "LAKEFLOW_RUN_ID": run_id}


def submit(job_id: str, job: Mapping[str, Any], run_id: str, rec: dict[str, Any]) -> None:
    """Submit one queued run to Ray, retrying lost answers under the same submission id."""
    env = _env_vars(job_id, job, run_id)
    hidden = store.secrets(job_id)
    # The artifact the run was triggered with, even if the job was updated since.
    runtime_env = artifacts.runtime_env(rec.get("artifact", job["artifact"]), env)
    entrypoint = shlex.join([TASK_ENTRY_POINT, *rec["args"]])
    for attempt in range(_SUBMIT_ATTEMPTS):
        try:
            client.call(
                rec["address"],
                "submit_job",
                entrypoint=entrypoint,
                submission_id=run_id,
                runtime_env=runtime_env,
                entrypoint_num_cpus=job["num_cpus"],
                metadata={"lakeflow_job_id": job_id, "lakeflow_job_name": job["name"][:100]},
            )
            break
        except RuntimeError as exc:
            if client.is_duplicate(exc):
                break  # an earlier attempt got through: the run exists, once
            raise LakeflowError(
                _redact(f"the Ray cluster refused run {run_id}: {exc}".splitlines()[0], hidden)
            ) from None
        except LakeflowError:
            if attempt == _SUBMIT_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    rec["submitted"] = True
    rec["submitted_time"] = time.time()


def cap(job: Mapping[str, Any]) -> int:
    return int(job["max_concurrent_runs"])


def advance(job_id: str, job: Mapping[str, Any], data: dict[str, dict[str, Any]]) -> None:
    """Submit queued runs while fewer than the cap are active (call it under the job's lock)."""
    queued = [r for r, rec in data.items() if not rec.get("submitted") and rec["state"] == "QUEUED"]
    if not queued:
        return
    active = [r for r, rec in data.items() if rec.get("submitted") and rec["state"] not in _FINAL]
    if len(active) >= cap(job):
        refresh_all(data)  # only now ask the cluster which ones ended
        active = [r for r in active if data[r]["state"] not in _FINAL]
    for run_id in queued[: max(0, cap(job) - len(active))]:
        try:
            submit(job_id, job, run_id, data[run_id])
        except LakeflowError as exc:
            if "cannot reach" in str(exc):
                raise  # nothing was refused: the run stays queued
            data[run_id].update(state=RunState.FAILED.value, end_time=time.time(), message=str(exc))


def has_queued(data: Mapping[str, Mapping[str, Any]]) -> bool:
    return any(not rec.get("submitted") and rec["state"] == "QUEUED" for rec in data.values())


def ensure_pump(job_id: str) -> None:
    """Start the job's detached pump unless one is running."""
    import fcntl

    path = store.root() / "locks" / f"pump-{job_id}.lock"
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a pump holds it, and it checks for queued runs before it lets go
    with open(store.pump_log(job_id), "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "lakeflow_ray_target.pump", job_id],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=store.home_env(),
            close_fds=True,
        )


def trigger(job_id: str, args: Sequence[str], options: Mapping[str, Any]) -> Run:
    client.sdk()
    job = store.job(job_id)
    where = client.address(options)
    run_id = new_run_id(job_id)
    with store.runs(job_id) as data:
        data[run_id] = {
            "args": list(args),
            "state": "QUEUED",
            "submitted": False,
            "address": where,
            "artifact": job["artifact"],
            "queued_time": time.time(),
        }
        error: LakeflowError | None = None
        try:
            advance(job_id, job, data)
        except LakeflowError as exc:
            error = exc
        rec = data[run_id]
        if error is None and rec["state"] == RunState.FAILED.value and not rec.get("submitted"):
            error = LakeflowError(rec["message"])  # refused before it started
        if error is not None and not rec.get("submitted"):
            del data[run_id]  # nothing was started for this call; other runs' changes are kept
        else:
            error = None
        run = to_run(job_id, run_id, rec)
        leftover = has_queued(data)
    if leftover:
        ensure_pump(job_id)
    if error is not None:
        raise error
    return run


def to_run(job_id: str, run_id: str, rec: Mapping[str, Any]) -> Run:
    return Run(
        store.NAME,
        run_id,
        job_id,
        RunState(rec["state"]),
        tuple(rec["args"]),
        rec.get("queued_time"),
        rec.get("start_time"),
        rec.get("end_time"),
        rec.get("exit_code"),
        rec.get("message"),
        None,
    )


def _lookup(run_id: str) -> tuple[str, dict[str, Any]]:
    job_id = store.job_of_run(run_id)
    rec = store.read_runs(job_id).get(run_id) if (store.root() / "jobs" / f"{job_id}.json").is_file() else None
    if rec is None:
        raise NotFoundError(f"unknown run id {run_id} on target ray; see `lakeflow list-job-runs --target ray`")
    return job_id, rec


def get(run_id: str) -> Run:
    job_id, rec = _lookup(run_id)
    if rec["state"] in _FINAL:
        return to_run(job_id, run_id, rec)
    if not rec.get("submitted"):
        ensure_pump(job_id)  # e.g. after a reboot killed the pump
        return to_run(job_id, run_id, rec)
    fresh = dict(rec)
    refresh(fresh, run_id)
    with store.runs(job_id) as data:
        if data[run_id]["state"] not in _FINAL:
            data[run_id].update({k: v for k, v in fresh.items() if k != "submitted"})
        return to_run(job_id, run_id, data[run_id])


#: From this many active runs at one address on, one ``list_jobs`` beats a ``get_job_info`` each.
_LIST_THRESHOLD = 5


def refresh_all(data: dict[str, dict[str, Any]]) -> None:
    """Refresh every active run of ``data``, with one request per address when there are many."""
    by_address: dict[str, list[str]] = {}
    for run_id, rec in data.items():
        if rec.get("submitted") and rec["state"] not in _FINAL:
            by_address.setdefault(rec["address"], []).append(run_id)
    for where, ids in by_address.items():
        if len(ids) >= _LIST_THRESHOLD:
            listed = {d.submission_id: d for d in client.call(where, "list_jobs") if d.submission_id}
            for run_id in ids:
                if run_id in listed:
                    _record(data[run_id], listed[run_id])
            ids = [run_id for run_id in ids if run_id not in listed]
        for run_id in ids:
            refresh(data[run_id], run_id)


def list_runs(job_ids: Sequence[str]) -> list[Run]:
    found: list[Run] = []
    for job_id in job_ids:
        snapshot = store.read_runs(job_id)
        if any(rec.get("submitted") and rec["state"] not in _FINAL for rec in snapshot.values()):
            with store.runs(job_id) as data:
                refresh_all(data)
                snapshot = data
        if has_queued(snapshot):
            ensure_pump(job_id)
        found += [to_run(job_id, run_id, rec) for run_id, rec in snapshot.items()]
    return sorted(found, key=lambda run: run.queued_time or 0, reverse=True)


def cancel(run_id: str) -> Run:
    job_id, _ = _lookup(run_id)
    with store.runs(job_id) as data:
        rec = data[run_id]
        if rec["state"] in _FINAL:
            return to_run(job_id, run_id, rec)
        if not rec.get("submitted"):
            rec.update(state=RunState.CANCELED.value, end_time=time.time(), message="canceled before it started")
            return to_run(job_id, run_id, rec)
        where = rec["address"]
    try:
        client.call(where, "stop_job", run_id)
    except RuntimeError as exc:
        if not client.is_missing(exc):
            raise LakeflowError(f"the Ray cluster at {where} could not stop {run_id}: {exc}".splitlines()[0]) from None
    # Ray stops the entrypoint's process group at once and records STOPPED a moment later.
    deadline = time.monotonic() + 15
    run = get(run_id)
    while not run.state.is_final and time.monotonic() < deadline:
        time.sleep(0.2)
        run = get(run_id)
    return run


def logs(run_id: str) -> RunLogs:
    run = get(run_id)
    _, rec = _lookup(run_id)
    error = run.message if run.state in (RunState.FAILED, RunState.CANCELED) else None
    if not rec.get("submitted"):
        note = (
            "the run was canceled before it started"
            if run.state is RunState.CANCELED
            else ("the run is queued and has not started yet" if run.state is RunState.QUEUED else None)
        )
        return RunLogs(run_id, run.state, "", error, None, False, note)
    try:
        text = client.call(rec["address"], "get_job_logs", run_id)
    except RuntimeError as exc:
        if not client.is_missing(exc):
            raise LakeflowError(f"the Ray cluster could not give the logs of {run_id}: {exc}".splitlines()[0]) from None
        return RunLogs(run_id, run.state, "", error, None, False, "the Ray cluster has no logs of this run")
    raw = text.encode("utf-8", errors="replace")
    truncated = len(raw) > _LOG_LIMIT
    if truncated:
        text = raw[-_LOG_LIMIT:].decode("utf-8", errors="replace")
    note = "the run's environment is being set up on the cluster" if run.state is RunState.QUEUED else None
    return RunLogs(run_id, run.state, text, error, None, truncated, note)
