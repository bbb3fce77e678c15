"""The MCP tools for living with a fan-out: status, rerun, delete_job, prune (like the CLI's commands)."""

from __future__ import annotations

import dataclasses
import os
from typing import Annotated, TypedDict

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from lakeflow_host import api
from lakeflow_host.cli_jobs import status_text
from lakeflow_host.mcp_shapes import (
    JobId,
    RunId,
    failures_text,
    in_thread,
    job_text,
    lakeflow_errors,
    options_parameter,
    plain_options,
    started_table,
    target_parameter,
    tool_result,
)
from lakeflow_host.mcp_tools import _redact
from lakeflow_host.types import Job, JobStatus, PruneReport, Run, TriggerFailure

Options = options_parameter()
Target = target_parameter()


def _secrets_of_job(job: Job) -> list[tuple[str, str]]:
    values = [(name, os.environ[name]) for name in job.env_var_names if len(os.environ.get(name, "")) >= 4]
    return sorted(values, key=lambda item: -len(item[1]))


class RerunResult(TypedDict):
    runs: list[Run]
    failures: list[TriggerFailure]


@lakeflow_errors
async def status(job_id: JobId, target: Target = None, options: Options = None) -> Annotated[CallToolResult, JobStatus]:
    """How a job's fan-out is doing, in one call: run counts by state, each failed run with the last line
    of its error, the oldest and newest start, and which uploaded artifact the runs used. Then
    get_run_logs for a failed run's whole output, or rerun with failed_of=job_id."""

    def fetch() -> JobStatus:
        opts = plain_options(options)
        found = api.status(str(job_id), target=target, options=opts)
        if not found.failed:
            return found
        # Error lines come from the runs' logs, where a task may have printed its own secrets.
        secrets = _secrets_of_job(found.job)
        failed = tuple(dataclasses.replace(f, error=_redact(f.error, secrets) or "") for f in found.failed)
        return dataclasses.replace(found, failed=failed)

    result = await in_thread(fetch)
    return tool_result(result, status_text(result))


@lakeflow_errors
async def rerun(
    run_ids: Annotated[
        list[RunId] | None, Field(description="Runs to start again with the same job and arguments.")
    ] = None,
    failed_of: Annotated[
        str | int | None,
        Field(description="A job id: rerun each of its argument lists whose newest run FAILED (instead of run_ids)."),
    ] = None,
    target: Target = None,
    options: Options = None,
) -> Annotated[CallToolResult, RerunResult]:
    """Start runs again: new runs of the same job with the same arguments, returned at once (it does not
    wait). Give run_ids, or failed_of=JOB_ID for every failed one. Then poll status or list_job_runs."""
    if bool(run_ids) == (failed_of is not None):
        raise ToolError("give either run_ids or failed_of, not both or neither")
    runs, failures = await in_thread(
        lambda: api.rerun(
            [str(r) for r in run_ids or ()],
            failed_of=None if failed_of is None else str(failed_of),
            target=target,
            options=plain_options(options),
        )
    )
    text = f"started {len(runs)} runs again" + ("\n" + started_table(runs) if runs else " (no failed runs)")
    if failures:
        text += "\n" + failures_text(failures)
    return tool_result(RerunResult(runs=runs, failures=failures), text)


@lakeflow_errors
async def delete_job(
    job_id: JobId,
    cancel_runs: Annotated[bool, Field(description="Cancel the job's queued and running runs first.")] = False,
    target: Target = None,
    options: Options = None,
) -> Annotated[CallToolResult, Job]:
    """Delete a job with its run records and stored env values (local target: also its artifact and venv
    when no other job uses them). Refuses while runs are active unless cancel_runs is true."""
    job = await in_thread(
        lambda: api.delete_job(str(job_id), cancel_runs=cancel_runs, target=target, options=plain_options(options))
    )
    return tool_result(job, "deleted " + job_text(job))


@lakeflow_errors
async def prune(
    older_than_days: Annotated[
        float, Field(ge=0, description="Remove runs that ended, and unused uploads made, more than this many days ago.")
    ] = 30,
    target: Target = None,
    options: Options = None,
) -> Annotated[CallToolResult, PruneReport]:
    """Free space: remove old run records and logs, and uploaded wheels no job uses (the local target
    also removes their venvs). Jobs and active runs are never touched."""
    report = await in_thread(lambda: api.prune(older_than_days, target=target, options=plain_options(options)))
    return tool_result(
        report, f"removed {report.runs} runs and {len(report.removed)} uploads ({report.bytes_freed} bytes)"
    )
