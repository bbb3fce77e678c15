"""The ``dryrun`` target: a lakeflow target that runs nothing and shows what it would run.

``--target dryrun`` accepts the whole workflow. Its one option, ``--label TEXT`` (or
``-o label=TEXT``) on ``trigger-run`` and ``launch``, is recorded with each run and shown in its log. Jobs and runs are recorded in
``$LAKEFLOW_HOME/dryrun/state.json`` (default home: the per-user data directory, as for the local
target). Every run ends at once as SUCCEEDED, and its log shows the command a real target would
execute, the task's ``sys.argv[1:]`` and the names (never the values) of its environment variables.
Setting ``LAKEFLOW_DRYRUN=1`` makes it the default target.

It imports only the host's public names, as every lakeflow plugin must.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lakeflow_host import (
    TASK_ENTRY_POINT,
    Artifact,
    Job,
    JobSpec,
    LakeflowError,
    NotFoundError,
    Option,
    RemoteArtifact,
    Run,
    RunLogs,
    RunState,
    TargetInfo,
    atomic_write,
    hookimpl,
    lakeflow_home,
)

NAME = "dryrun"
DEFAULT_ENV = "LAKEFLOW_DRYRUN"
OPTIONS = (Option("label", "A label recorded with each run and shown in its log.", flag=True, stages=("run",)),)


def state_dir() -> Path:
    """``$LAKEFLOW_HOME/dryrun``."""
    return lakeflow_home() / NAME


def _empty() -> dict[str, Any]:
    return {"next_job": 1, "next_run": 1, "jobs": {}, "runs": {}}


@contextlib.contextmanager
def _state(*, write: bool) -> Iterator[dict[str, Any]]:
    """The state, under a file lock: several lakeflow processes, and the threads of a
    ``launch`` fan-out, may trigger runs at the same time."""
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "state.json"
    with open(folder / "state.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = _empty()
        except ValueError as exc:
            raise LakeflowError(f"{path} is corrupt ({exc}); delete it to start afresh") from None
        yield data
        if write:
            atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False))


def _job(data: Mapping[str, Any], job_id: str) -> Job:
    record = data["jobs"].get(job_id)
    if record is None:
        raise NotFoundError(f"unknown job id {job_id} on target dryrun; see `lakeflow list-jobs --target dryrun`")
    return Job(
        NAME,
        job_id,
        record["name"],
        record["package"],
        record["artifact"],
        record["max_workers"],
        record["max_concurrent_runs"],
        tuple(record["env_var_names"]),
        None,
        record["created_at"],
    )


def _run(data: Mapping[str, Any], run_id: str) -> Run:
    record = data["runs"].get(run_id)
    if record is None:
        raise NotFoundError(f"unknown run id {run_id} on target dryrun; see `lakeflow list-job-runs --target dryrun`")
    return Run(
        NAME,
        run_id,
        record["job_id"],
        RunState(record["state"]),
        tuple(record["args"]),
        record["at"],
        record["at"],
        record["at"],
        0,
        "dry run: nothing was executed",
        None,
    )


def _newest_first(ids: Iterable[str]) -> list[str]:
    return sorted(ids, key=lambda i: int(i.rsplit("-", 1)[1]), reverse=True)


@hookimpl
def targets() -> list[TargetInfo]:
    # Triggers take the state file's lock one at a time anyway; one request at a time also
    # numbers a fan-out's runs in input order.
    return [TargetInfo(NAME, OPTIONS, "runs nothing; shows what would run", triggers_in_flight=1)]


@hookimpl
def target_is_configured() -> bool:
    return os.environ.get(DEFAULT_ENV, "").lower() in ("1", "true", "yes")


@hookimpl
def upload_artifact(artifact: Artifact) -> RemoteArtifact:
    for path in artifact.files:
        if not path.is_file():
            raise LakeflowError(f"{path} does not exist; build it again with `lakeflow build-wheel`")
    # Nothing is sent: the "remote" path is the local file, so create_job can still check it.
    return RemoteArtifact(NAME, str(artifact.path), tuple(str(c) for c in artifact.companions), 0)


@hookimpl
def create_job(spec: JobSpec) -> Job:
    if not Path(spec.artifact).is_file():
        raise LakeflowError(
            f"no artifact at {spec.artifact}; pass the path that `lakeflow upload-wheel --target dryrun` printed"
        )
    with _state(write=True) as data:
        job_id = f"job-{data['next_job']}"
        data["next_job"] += 1
        data["jobs"][job_id] = {
            "name": spec.name,
            "package": spec.package,
            "artifact": spec.artifact,
            "max_workers": spec.max_workers,
            "max_concurrent_runs": spec.max_concurrent_runs or spec.max_workers,
            # Only the names: the values are secrets and this file is readable by job readers.
            "env_var_names": sorted(spec.env),
            "created_at": time.time(),
        }
        return _job(data, job_id)


@hookimpl
def get_job(job_id: str) -> Job:
    with _state(write=False) as data:
        return _job(data, job_id)


@hookimpl
def list_jobs(target: str) -> list[Job]:
    with _state(write=False) as data:
        return [_job(data, job_id) for job_id in _newest_first(data["jobs"])]


@hookimpl
def trigger_run(job_id: str, args: Sequence[str], options: Mapping[str, Any]) -> Run:
    with _state(write=True) as data:
        _job(data, job_id)  # an unknown job is an error here, as on a real target
        run_id = f"run-{data['next_run']}"
        data["next_run"] += 1
        data["runs"][run_id] = {
            "job_id": job_id,
            "args": list(args),
            "state": RunState.SUCCEEDED.value,
            "at": time.time(),
            "label": options.get("label"),
        }
        return _run(data, run_id)


@hookimpl
def list_job_runs(job_id: str | None) -> list[Run]:
    with _state(write=False) as data:
        if job_id is not None:
            _job(data, job_id)
        wanted = [r for r, rec in data["runs"].items() if job_id is None or rec["job_id"] == job_id]
        return [_run(data, run_id) for run_id in _newest_first(wanted)]


@hookimpl
def get_run(run_id: str) -> Run:
    with _state(write=False) as data:
        return _run(data, run_id)


@hookimpl
def get_run_logs(run_id: str) -> RunLogs:
    with _state(write=False) as data:
        run = _run(data, run_id)
        job = _job(data, run.job_id)
        label = data["runs"][run_id].get("label")
    env = {"DATABRICKS_RUN_ID": run_id, "LAKEFLOW_RUN_ID": run_id}
    env.update({name: "<secret>" for name in job.env_var_names})
    text = (
        f"dry run of job {job.job_id} ({job.name}): nothing was executed\n"
        f"would install: {job.artifact}\n"
        f"would run: {shlex.join([TASK_ENTRY_POINT, *run.args])}  (the {TASK_ENTRY_POINT} entry point of {job.package})\n"
        f"argv[1:]: {json.dumps(list(run.args), ensure_ascii=False)}\n"
        f"environment: {' '.join(f'{k}={v}' for k, v in env.items())}\n"
    )
    if label is not None:
        text += f"label: {label}\n"
    return RunLogs(run_id, run.state, text)


@hookimpl
def cancel_run(run_id: str) -> Run:
    # Every dry run has already ended, and cancelling an ended run changes nothing.
    return get_run(run_id)
