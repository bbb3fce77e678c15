"""Reading a fan-out as a whole: ``status``, which runs ``rerun --failed`` starts again, and the
summary line ``wait`` ends with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lakeflow_host.errors import LakeflowError
from lakeflow_host.plugins import get_host
from lakeflow_host.types import Run, RunState

if TYPE_CHECKING:
    from lakeflow_host.results import JobStatus

#: The failed runs whose logs ``status`` reads for their error line (one request each remotely).
MAX_ERROR_LINES = 50


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def error_line(target: str, run: Run, options: Mapping[str, Any]) -> str:
    """The one line that says why ``run`` failed: its traceback's last line, else its log's
    last line, else the target's message."""
    if run.state is RunState.FAILED:
        try:
            logs = get_host().get_run_logs(target, run.run_id, options)
        except LakeflowError:
            logs = None
        if logs is not None:
            for text in (logs.error_trace, logs.text, logs.error):
                line = _last_line(text)
                if line:
                    return line
    return _last_line(run.message) or run.state.value.lower()


def status(target: str, job_id: str, options: Mapping[str, Any]) -> JobStatus:
    from lakeflow_host.results import FailedRun, JobStatus  # loaded by the commands that need them

    host = get_host()
    job = host.get_job(target, job_id, options)
    runs = host.list_job_runs(target, job_id, options)
    counts = Counter(run.state.value for run in runs)
    bad = [run for run in runs if run.state in (RunState.FAILED, RunState.CANCELED, RunState.SKIPPED)]
    lines: dict[str, str] = {}
    checked = bad[:MAX_ERROR_LINES]
    if checked:
        from concurrent.futures import ThreadPoolExecutor

        width = max(1, min(host.target(target).triggers_in_flight, len(checked)))
        with ThreadPoolExecutor(max_workers=width) as pool:
            for run, line in zip(checked, pool.map(lambda r: error_line(target, r, options), checked), strict=True):
                lines[run.run_id] = line
    failed = tuple(
        FailedRun(run.run_id, run.state, lines.get(run.run_id) or _last_line(run.message), run.args) for run in bad
    )
    starts = [run.start_time for run in runs if run.start_time is not None]
    artifacts: dict[str, list[str]] = {}
    for run in runs:
        artifacts.setdefault(run.artifact or "", []).append(run.run_id)
    return JobStatus(
        job,
        len(runs),
        {state.value: counts[state.value] for state in RunState if counts[state.value]},
        failed,
        min(starts) if starts else None,
        max(starts) if starts else None,
        {path: tuple(ids) for path, ids in artifacts.items()},
    )


def still_failed(runs: Sequence[Run]) -> list[Run]:
    """For each argument list of the job, its newest run when that one FAILED (an argument list
    already rerun with success is not started again); oldest first."""
    newest: dict[tuple[str, ...], Run] = {}
    for run in sorted(runs, key=lambda r: int(r.run_id) if r.run_id.isdigit() else 0):
        newest[run.args] = run
    return [run for run in newest.values() if run.state is RunState.FAILED]


def by_job(runs: Sequence[Run]) -> dict[str, list[int]]:
    """Indexes into ``runs`` grouped by job, in order."""
    groups: dict[str, list[int]] = {}
    for index, run in enumerate(runs):
        groups.setdefault(run.job_id, []).append(index)
    return groups


def summary(runs: Sequence[Run], max_ids: int = 20) -> str:
    """``1000 runs: 987 succeeded, 13 failed (ids: ...)``."""
    counts = Counter(run.state for run in runs)
    parts = [f"{counts[state]} {state.value.lower()}" for state in RunState if counts[state]]
    text = f"{len(runs)} run{'s' if len(runs) != 1 else ''}: " + ", ".join(parts)
    bad = [run.run_id for run in runs if run.state is not RunState.SUCCEEDED]
    if bad:
        shown = ", ".join(bad[:max_ids]) + (f", ... ({len(bad) - max_ids} more)" if len(bad) > max_ids else "")
        text += f" (ids: {shown})"
    return text
