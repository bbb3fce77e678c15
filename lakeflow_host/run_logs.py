"""Reading logs beyond one call: following a run until it ends, and saving a job's logs to a folder."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lakeflow_host.errors import LakeflowError, WaitTimeoutError
from lakeflow_host.plugins import get_host
from lakeflow_host.types import RunLogs, RunState


def follow(
    target: str,
    run_id: str,
    options: Mapping[str, Any],
    on_text: Callable[[str], None],
    poll_interval: float | None = None,
    timeout: float | None = None,
) -> RunLogs:
    """Pass each new piece of the run's output to ``on_text`` until the run ends; return the
    final logs. A target that serves output only once the run ends delivers it then."""
    host = get_host()
    interval = host.target(target).poll_interval if poll_interval is None else poll_interval
    deadline = None if timeout is None else time.monotonic() + timeout
    shown = ""
    while True:
        logs = host.get_run_logs(target, run_id, options)
        if logs.text.startswith(shown):
            new = logs.text[len(shown) :]
        else:
            # The target keeps a moving window (its output was cut at the front): find where the
            # shown part ends in it, else show the whole window again.
            overlap = _overlap(shown, logs.text)
            new = logs.text[overlap:]
        if new:
            on_text(new)
        shown = logs.text
        if logs.state.is_final:
            return logs
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeoutError(f"timed out after {timeout:g}s following run {run_id} (it carries on)")
        time.sleep(interval)


def _overlap(shown: str, text: str) -> int:
    """The length of the longest end of ``shown`` that ``text`` starts with."""
    for size in range(min(len(shown), len(text)), 0, -1):
        if text.startswith(shown[-size:]):
            return size
    return 0


def file_text(logs: RunLogs) -> str:
    """A run's log as one file: its output, then its error and traceback."""
    parts = [logs.text.rstrip("\n")] if logs.text else []
    parts += [extra.rstrip("\n") for extra in (logs.error, logs.error_trace) if extra]
    return "\n".join(parts) + ("\n" if parts else "")


def save(
    target: str, job_id: str, directory: Path, states: set[RunState], options: Mapping[str, Any]
) -> tuple[Path, list[str]]:
    """Write ``DIR/<run_id>.log`` for each of the job's runs (those in ``states`` when given);
    return the folder and the run ids written."""
    host = get_host()
    runs = host.list_job_runs(target, job_id, options)
    if states:
        runs = [run for run in runs if run.state in states]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LakeflowError(f"cannot create {directory}: {exc.strerror}; pass a folder you can write to") from None
    from concurrent.futures import ThreadPoolExecutor

    def one(run_id: str) -> str:
        logs = host.get_run_logs(target, run_id, options)
        if logs.note and not logs.text:
            logs = dataclasses.replace(logs, text=f"({logs.note})")
        (directory / f"{run_id}.log").write_text(file_text(logs), encoding="utf-8")
        return run_id

    width = max(1, min(host.target(target).triggers_in_flight, len(runs) or 1))
    with ThreadPoolExecutor(max_workers=width) as pool:
        written = list(pool.map(one, [run.run_id for run in runs]))
    return directory.resolve(), written
