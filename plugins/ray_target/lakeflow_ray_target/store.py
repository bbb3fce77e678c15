"""The ``ray`` target's state on this machine: job definitions, runs, secrets, artifacts.

Ray keeps no job definitions (a Ray job is one submission), so lakeflow keeps them here, under
``lakeflow_home()/ray`` (folders 0700, files 0600):

- ``jobs/<job id>.json``: the definition (name, package, artifact, max workers, env var names);
- ``runs/<job id>.json``: the job's runs, each with its Ray submission id and last known state;
- ``secrets/<job id>.json``: the ``--env-var`` values, apart from everything else;
- ``artifacts/<digest>/``: uploaded artifact sets, content-addressed.

Several lakeflow processes (CLI calls, a fan-out's threads, the per-job pump) share a job's
runs file, so every change happens under that job's ``fcntl`` lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lakeflow_host import LakeflowError, NotFoundError, atomic_write, lakeflow_home

NAME = "ray"
_thread_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def root() -> Path:
    """``lakeflow_home()/ray``, created private."""
    folder = lakeflow_home() / NAME
    _private_dir(folder)
    return folder


def _private_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _read(path: Path, empty: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return empty
    except ValueError as exc:
        raise LakeflowError(f"{path} is corrupt ({exc}); delete it to start afresh") from None


def _write(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False), mode=0o600)


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """An exclusive lock between processes (``fcntl``) and between this process's threads
    (``flock`` locks belong to the open file, so two threads opening the file would both get it)."""
    with _guard:
        thread_lock = _thread_locks.setdefault(name, threading.Lock())
    with thread_lock:
        folder = _private_dir(root() / "locks")
        with open(folder / f"{name}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


# -- jobs -------------------------------------------------------------------------------------


def new_job(definition: dict[str, Any], secrets: dict[str, str]) -> str:
    """Store a job; returns its id (1, 2, ...)."""
    with locked("jobs"):
        jobs = _private_dir(root() / "jobs")
        counter = root() / "next_job"
        number = int(_read(counter, 1))
        job_id = str(number)
        if secrets:
            _write(_private_dir(root() / "secrets") / f"{job_id}.json", secrets)
        _write(jobs / f"{job_id}.json", definition)
        _write(counter, number + 1)
    return job_id


def replace_job(job_id: str, definition: dict[str, Any], secrets: dict[str, str]) -> None:
    with locked(f"job-{job_id}"):
        path = _private_dir(root() / "secrets") / f"{job_id}.json"
        if secrets:
            _write(path, secrets)
        else:
            path.unlink(missing_ok=True)
        _write(root() / "jobs" / f"{job_id}.json", definition)


def remove_job(job_id: str, artifact: str | None) -> None:
    """Forget a job: its definition, runs and secrets, and ``artifact``'s set when given."""
    import shutil

    with locked(f"job-{job_id}"):
        for folder in ("secrets", "runs", "jobs"):
            (root() / folder / f"{job_id}.json").unlink(missing_ok=True)
        if artifact:
            shutil.rmtree(Path(artifact).parent.parent, ignore_errors=True)


def job(job_id: str) -> dict[str, Any]:
    path = root() / "jobs" / f"{job_id}.json"
    if "/" in job_id or job_id.startswith(".") or not path.is_file():
        raise NotFoundError(f"unknown job id {job_id} on target ray; see `lakeflow list-jobs --target ray`")
    return _read(path, {})


def job_ids() -> list[str]:
    """Every job id, newest first."""
    folder = root() / "jobs"
    ids = [p.stem for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(ids, key=lambda i: int(i) if i.isdigit() else 0, reverse=True)


def secrets(job_id: str) -> dict[str, str]:
    return _read(root() / "secrets" / f"{job_id}.json", {})


# -- runs -------------------------------------------------------------------------------------


def job_of_run(run_id: str) -> str:
    """The job id inside a run id (``lakeflow-<job id>-<token>``)."""
    parts = run_id.split("-")
    if len(parts) != 3 or parts[0] != "lakeflow" or not parts[1].isdigit():
        raise NotFoundError(
            f"unknown run id {run_id!r} on target ray; run ids look like lakeflow-1-0123456789abcdef "
            "(see `lakeflow list-job-runs --target ray`)"
        )
    return parts[1]


@contextlib.contextmanager
def runs(job_id: str) -> Iterator[dict[str, dict[str, Any]]]:
    """The job's runs, ``{run id: record}`` in trigger order, under the job's lock; changes are
    saved when the block ends without an error."""
    with locked(f"job-{job_id}"):
        path = _private_dir(root() / "runs") / f"{job_id}.json"
        data = _read(path, {})
        before = json.dumps(data, sort_keys=True)
        yield data
        if json.dumps(data, sort_keys=True) != before:
            _write(path, data)


def read_runs(job_id: str) -> dict[str, dict[str, Any]]:
    """A snapshot of the job's runs, without the lock (files are replaced atomically)."""
    return _read(root() / "runs" / f"{job_id}.json", {})


def pump_log(job_id: str) -> Path:
    return _private_dir(root() / "logs") / f"pump-{job_id}.log"


def home_env() -> dict[str, str]:
    """The environment a detached helper needs to find this state again."""
    return {**os.environ, "LAKEFLOW_HOME": str(lakeflow_home())}
