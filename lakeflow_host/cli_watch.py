"""How ``wait``, ``launch --wait``, ``rerun --wait`` and ``trigger-runs --wait`` watch runs.

On a terminal: one live line per job (a bar, counts by state, elapsed time, an estimate of the
rest), redrawn in place. Elsewhere (a log file, CI): a line each time a job's counts change.
At the end one summary line, ``1000 runs: 987 succeeded, 13 failed (ids: ...)``.

Exit codes: 0 when every run succeeded, 1 when any failed, was canceled or skipped, 2 for a
usage error, 3 when ``--timeout`` ran out (the runs carry on).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import click

from lakeflow_host import api, render
from lakeflow_host.cli_options import notice, quiet
from lakeflow_host.fanout import summary
from lakeflow_host.types import Run, RunState

EXIT_FAILED = 1
EXIT_TIMEOUT = 3


class _Live:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty() and not quiet()
        self.started = time.monotonic()
        self.drawn = 0
        self.last: dict[str, str] = {}

    def update(self, runs: list[Run]) -> None:
        if quiet():
            return
        jobs: dict[str, list[Run]] = {}
        for run in runs:
            jobs.setdefault(run.job_id, []).append(run)
        label = len(jobs) > 1
        if self.tty:
            elapsed = time.monotonic() - self.started
            lines = [(f"job {j}: " if label else "") + render.progress_bar(rs, elapsed) for j, rs in jobs.items()]
            up = f"\033[{self.drawn}A" if self.drawn else ""
            click.echo(up + "".join(f"\r\033[K{line}\n" for line in lines), err=True, nl=False)
            self.drawn = len(lines)
            return
        for job_id, job_runs in jobs.items():
            line = render.progress(job_runs)
            if self.last.get(job_id) != line:
                notice((f"job {job_id}: " if label else "") + line)
                self.last[job_id] = line


def wait_options(target: str, options: dict[str, Any], project_dir: str | None = None) -> dict[str, Any]:
    """What a ``--wait`` after a launch or trigger passes on: the project's defaults and the
    given settings, only those that shape every command (``--node-type`` made the job, not the wait)."""
    from lakeflow_host.plugins import get_host

    anywhere = {opt.name for opt in get_host().target(target).options if opt.applies_to("any")}
    given = {**api.project(project_dir).options_for(target), **api.declared_by_target(target, options)}
    return {key: value for key, value in given.items() if key in anywhere}


def wait_and_report(
    run_ids: list[str], target: str, options: dict[str, Any], timeout: float | None, as_json: bool, to_stdout: bool
) -> None:
    """Wait, then print the summary (``to_stdout``: as the command's value, or ``--json``) and
    exit 1 unless every run succeeded. A timeout raises WaitTimeoutError (exit 3)."""
    live = _Live()
    runs = api.wait(run_ids, target=target, options=options, timeout=timeout, on_update=live.update)
    line = summary(runs)
    if as_json and to_stdout:
        click.echo(render.as_json(runs))
    elif to_stdout:
        click.echo(line)
    else:
        notice(line)
    bad = [run for run in runs if run.state is not RunState.SUCCEEDED]
    if bad:
        jobs = sorted({run.job_id for run in bad})
        notice(
            f"see `lakeflow status {jobs[0]}`, `lakeflow get-run-logs RUN_ID` or `lakeflow rerun --failed {jobs[0]}`"
        )
        raise SystemExit(EXIT_FAILED)


class working:  # noqa: N801 - used as a context manager, like a function
    """On a terminal, ``lakeflow: MESSAGE 3s`` redrawn in place while slow work runs (shown
    after ``delay`` seconds, so quick work prints nothing), then erased."""

    def __init__(self, message: str, *, delay: float = 1.0, stream: Any = None) -> None:
        self.message, self.delay = message, delay
        self.stream = stream if stream is not None else sys.stderr
        self.done = threading.Event()
        self.shown = False
        self.thread: threading.Thread | None = None

    def _run(self) -> None:
        started = time.monotonic()
        if self.done.wait(self.delay):
            return
        while not self.done.is_set():
            elapsed = render.seconds(time.monotonic() - started)
            self.stream.write(f"\r\033[Klakeflow: {self.message} {elapsed}")
            self.stream.flush()
            self.shown = True
            self.done.wait(0.25)

    def __enter__(self) -> working:
        if self.stream.isatty() and not quiet():
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()
            if self.shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
