"""The MCP tools: one per :mod:`lakeflow_host.api` operation, shaping arguments and results only.

Every tool returns a ``CallToolResult`` whose text is what a person would read (the CLI's tables)
and whose structured content is the API's value as JSON, checked against the tool's output schema.
Blocking API calls run on a worker thread so that progress notifications can flow meanwhile.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from lakeflow_host import api, render
from lakeflow_host.errors import LakeflowError
from lakeflow_host.mcp_shapes import (
    DEFAULT_TAIL,
    MAX_LOG_CHARS,
    ArgLists,
    Args,
    Builder,
    EnvVars,
    JobId,
    JobList,
    MaxConcurrent,
    MaxWorkers,
    PluginList,
    Progress,
    ProjectDir,
    RunId,
    RunList,
    StateName,
    TriggerResult,
    failures_text,
    in_thread,
    job_text,
    lakeflow_errors,
    options_parameter,
    plain_options,
    run_text,
    started_table,
    target_parameter,
    tool_result,
)
from lakeflow_host.types import (
    Artifact,
    Job,
    Launch,
    RemoteArtifact,
    Run,
    RunLogs,
    TriggerFailure,
)

#: Built from the installed plugins' declarations when the server starts.
Options = options_parameter()
Target = target_parameter()

# -- the tools ----------------------------------------------------------------------------------


@lakeflow_errors
async def build_wheel(
    project_dir: ProjectDir,
    output_dir: Annotated[
        str | None, Field(description="Folder to write the wheel to (default: PROJECT_DIR/dist).")
    ] = None,
    builder: Builder = None,
    options: Options = None,
    *,
    ctx: Context,
) -> Annotated[CallToolResult, Artifact]:
    """Build a Python project into a wheel (plus wheels of its local path dependencies) and return the
    wheel's path. Unchanged sources reuse the previous build. Next: upload_wheel with the returned path.
    To do everything at once (build, upload, create a job, start runs) use launch instead."""
    progress = Progress(ctx, 2)
    await progress.say(f"building {project_dir}")
    artifact = await in_thread(
        lambda: api.build_wheel(project_dir, builder=builder, output_dir=output_dir, options=plain_options(options))
    )
    verb = "built" if artifact.built else "sources unchanged, reusing"
    await progress.say(f"{verb} {artifact.path.name}")
    companions = "".join(f"\ncompanion wheel: {c}" for c in artifact.companions)
    if artifact.requirements is not None:
        companions += f"\nlocked pins (installed with the wheels): {artifact.requirements}"
    return tool_result(
        artifact,
        f"{verb} {artifact.path}\npackage: {artifact.package} {artifact.version}"
        f"{companions}\nNext: upload_wheel with wheel_path={str(artifact.path)!r}.",
    )


@lakeflow_errors
async def upload_wheel(
    wheel_path: Annotated[str, Field(description="Absolute path of a wheel that build_wheel produced.")],
    target: Target = None,
    options: Options = None,
) -> Annotated[CallToolResult, RemoteArtifact]:
    """Upload a built wheel (with its companion wheels) to the target and return where it now lives.
    Uploading the same bytes again sends nothing. Next: create_job with the returned path as its artifact."""
    remote = await in_thread(lambda: api.upload_wheel(wheel_path, target=target, options=plain_options(options)))
    sent = f"{remote.bytes_uploaded} bytes sent" if remote.bytes_uploaded else "already there, nothing sent"
    return tool_result(
        remote,
        f"uploaded to {remote.path} on {remote.target} ({sent})\nNext: create_job with artifact={remote.path!r}.",
    )


@lakeflow_errors
async def create_job(
    name: Annotated[str, Field(description="A display name for the job, e.g. 'nightly-eval'.")],
    package: Annotated[
        str,
        Field(
            description="The built project's distribution name ([project] name in pyproject.toml); "
            "its lakeflow-task entry point is what each run executes."
        ),
    ],
    artifact: Annotated[str, Field(description="The uploaded artifact: the path upload_wheel returned.")],
    max_workers: MaxWorkers = None,
    max_concurrent_runs: MaxConcurrent = None,
    env_vars: EnvVars = None,
    target: Target = None,
    options: Options = None,
) -> Annotated[CallToolResult, Job]:
    """Define a job that runs a package's lakeflow-task entry point from an uploaded wheel; returns the
    job id. Creates a new job on every call. Next: trigger_run or trigger_runs with the job id."""
    job = await in_thread(
        lambda: api.create_job(
            name,
            package,
            artifact,
            max_workers=max_workers,
            max_concurrent_runs=max_concurrent_runs,
            env_vars=env_vars or (),
            target=target,
            options=plain_options(options),
        )
    )
    return tool_result(job, job_text(job) + "\nNext: trigger_runs (or trigger_run) with this job_id.")


@lakeflow_errors
async def trigger_run(
    job_id: JobId, args: Args = None, target: Target = None, options: Options = None
) -> Annotated[CallToolResult, Run]:
    """Start one run of a job with the given arguments and return its run id at once (it does not wait).
    Follow it with get_run for its state and get_run_logs for its output."""
    run = await in_thread(
        lambda: api.trigger_run(str(job_id), args or (), target=target, options=plain_options(options))
    )
    return tool_result(run, f"started run {run.run_id}\n" + run_text(run))


@lakeflow_errors
async def trigger_runs(
    job_id: JobId, arg_lists: ArgLists, target: Target = None, options: Options = None, *, ctx: Context
) -> Annotated[CallToolResult, TriggerResult]:
    """Start many runs of a job at once, one per argument list, and return their run ids in input order
    (it does not wait). A run that could not start is listed under failures; the others still start.
    Follow with list_job_runs or get_run for states, get_run_logs for output."""
    progress = Progress(ctx, len(arg_lists))

    def on_run(index: int, result: Run | TriggerFailure) -> None:
        progress.step(f"run {index + 1}: " + (f"started {result.run_id}" if isinstance(result, Run) else "failed"))

    runs, failures = await in_thread(
        lambda: api.trigger_runs(str(job_id), arg_lists, target=target, options=plain_options(options), on_run=on_run)
    )
    if not runs and failures:
        raise ToolError(f"no run was started: {failures[0].error}")
    text = f"started {len(runs)} of {len(arg_lists)} runs of job {job_id}\n" + started_table(runs)
    if failures:
        text += "\n" + failures_text(failures)
    return tool_result(TriggerResult(job_id=str(job_id), runs=runs, failures=failures), text)


@lakeflow_errors
async def list_job_runs(
    job_id: Annotated[
        str | int | None, Field(description="The job whose runs to list; omit it for the runs of every job.")
    ] = None,
    state: Annotated[
        StateName | None, Field(description="Only runs in this state, e.g. FAILED to see which runs failed.")
    ] = None,
    limit: Annotated[
        int | None,
        Field(
            ge=1,
            description="At most this many runs, the newest (after the state filter), as the CLI's --limit; "
            "omitted: every run of the job, or the newest 100 of all jobs.",
        ),
    ] = None,
    target: Target = None,
    options: Options = None,
) -> Annotated[CallToolResult, RunList]:
    """List a job's runs newest first, with their states, arguments, exit codes and errors, plus a count
    per state of the runs listed. Use it to check on a fan-out or to find which runs failed; then
    get_run_logs for why."""
    # The same call as `lakeflow list-job-runs`: the target lists only what is asked for (a limit
    # stops its paging), so a busy workspace is never listed in full for a few rows.
    runs = await in_thread(
        lambda: api.list_job_runs(
            None if job_id is None else str(job_id),
            state=state,
            limit=limit,
            target=target,
            options=plain_options(options),
        )
    )
    counts = Counter(r.state.value for r in runs)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "no runs"
    scope = f"job {job_id}" if job_id is not None else "all jobs"
    which = f"{state} " if state else ""
    text = f"{len(runs)} {which}runs of {scope}: {summary}"
    if runs:
        text += "\n" + render.runs_table(runs)
    return tool_result(RunList(runs=runs, counts=dict(counts), total=len(runs)), text)


@lakeflow_errors
async def get_run(run_id: RunId, target: Target = None, options: Options = None) -> Annotated[CallToolResult, Run]:
    """Get one run's current state (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED or SKIPPED), arguments,
    exit code, timing and error message. It returns at once; call it again to poll."""
    run = await in_thread(lambda: api.get_run(str(run_id), target=target, options=plain_options(options)))
    return tool_result(run, run_text(run))


def _secrets_of(run_id: str, target: str | None, options: dict[str, str]) -> list[tuple[str, str]]:
    """The values, as this server's environment has them, of the env vars the run's job was given."""
    try:
        job = api.get_job(api.get_run(run_id, target=target, options=options).job_id, target=target, options=options)
    except LakeflowError:
        return []
    values = [(name, os.environ[name]) for name in job.env_var_names if len(os.environ.get(name, "")) >= 4]
    return sorted(values, key=lambda item: -len(item[1]))  # longest first, in case one contains another


def _redact(text: str | None, secrets: list[tuple[str, str]]) -> str | None:
    for name, value in secrets:
        text = text.replace(value, f"[{name} redacted]") if text else text
    return text


@lakeflow_errors
async def get_run_logs(
    run_id: RunId,
    tail: Annotated[int, Field(ge=1, le=100_000, description="Only the last this many lines.")] = DEFAULT_TAIL,
    target: Target = None,
    options: Options = None,
) -> Annotated[CallToolResult, RunLogs]:
    """Read what a run's task printed (stdout and stderr), also while it runs, ending with its error and
    traceback if it failed. Returns the last `tail` lines (and at most 40000 characters);
    truncated=true means earlier output was left out. Values of the job's env vars are redacted."""

    def fetch() -> RunLogs:
        opts = plain_options(options)
        logs = api.get_run_logs(str(run_id), target=target, options=opts, tail=tail)
        # A task may print its own secrets; the agent's context must not receive them.
        secrets = _secrets_of(str(run_id), target, opts)
        return dataclasses.replace(
            logs,
            text=_redact(logs.text, secrets) or "",
            error=_redact(logs.error, secrets),
            error_trace=_redact(logs.error_trace, secrets),
        )

    logs = await in_thread(fetch)
    if len(logs.text) > MAX_LOG_CHARS:
        logs = dataclasses.replace(logs, text=logs.text[-MAX_LOG_CHARS:], truncated=True)
    parts = [f"run {logs.run_id}: {logs.state.value}" + (" (log truncated: showing its end)" if logs.truncated else "")]
    if logs.note:
        parts.append(logs.note)
    parts.append(logs.text.rstrip("\n") if logs.text else "(no output yet)")
    parts += [extra for extra in (logs.error, logs.error_trace) if extra]
    return tool_result(logs, "\n".join(parts))


@lakeflow_errors
async def cancel_run(run_id: RunId, target: Target = None, options: Options = None) -> Annotated[CallToolResult, Run]:
    """Cancel a run: stop its whole process tree, or remove it from the queue if it has not started.
    Canceling a run that already finished changes nothing."""
    run = await in_thread(lambda: api.cancel_run(str(run_id), target=target, options=plain_options(options)))
    return tool_result(run, run_text(run))


@lakeflow_errors
async def list_jobs(
    name: Annotated[
        str | None, Field(description="Only jobs of this exact name (launch's job is named after its project).")
    ] = None,
    target: Target = None,
    options: Options = None,
) -> Annotated[CallToolResult, JobList]:
    """List the jobs lakeflow created on the target, newest first (id, name, package, limits)."""
    jobs = await in_thread(lambda: api.list_jobs(name=name, target=target, options=plain_options(options)))
    return tool_result(JobList(jobs=jobs), render.jobs_table(jobs) if jobs else "no jobs")


@lakeflow_errors
async def get_job(job_id: JobId, target: Target = None, options: Options = None) -> Annotated[CallToolResult, Job]:
    """Get one job's definition: name, package, uploaded wheel, limits and env var names (never values)."""
    job = await in_thread(lambda: api.get_job(str(job_id), target=target, options=plain_options(options)))
    return tool_result(job, job_text(job))


@lakeflow_errors
async def launch(
    project_dir: ProjectDir,
    arg_lists: ArgLists,
    name: Annotated[
        str | None,
        Field(
            description="Job name (default: [tool.lakeflow] job-name, else the package name); an existing "
            "job of that name on the target is updated to the new wheel, keeping its id."
        ),
    ] = None,
    max_workers: MaxWorkers = None,
    max_concurrent_runs: MaxConcurrent = None,
    env_vars: EnvVars = None,
    builder: Builder = None,
    target: Target = None,
    options: Options = None,
    *,
    ctx: Context,
) -> Annotated[CallToolResult, Launch]:
    """One shot: build the project, upload it, create (or update) its job and start one run per argument list; returns
    the job id and the run ids at once (it does not wait for the runs). E.g. arg_lists
    [["fi"], ["fie"], ["fo"], ["fum"]] starts four runs. Then poll list_job_runs with the job id and read
    output with get_run_logs."""
    progress = Progress(ctx, 4 + len(arg_lists))

    def on_run(index: int, result: Run | TriggerFailure) -> None:
        progress.step(f"run {index + 1}: " + (f"started {result.run_id}" if isinstance(result, Run) else "failed"))

    done = await in_thread(
        lambda: api.launch(
            project_dir,
            arg_lists,
            name=name,
            builder=builder,
            target=target,
            max_workers=max_workers,
            max_concurrent_runs=max_concurrent_runs,
            env_vars=env_vars,
            options=plain_options(options),
            on_step=progress.step,
            on_run=on_run,
        )
    )
    text = (
        f"job {done.job.job_id} ({done.job.name}) on {done.job.target}: started {len(done.runs)} of "
        f"{len(arg_lists)} runs from {done.artifact.path.name}\n" + started_table(done.runs)
    )
    if done.failures:
        text += "\n" + failures_text(done.failures)
    return tool_result(done, text + f"\nNext: list_job_runs with job_id={done.job.job_id!r} until every run is final.")


@lakeflow_errors
async def list_plugins() -> Annotated[CallToolResult, PluginList]:
    """List the installed lakeflow plugins and the builder and target names the other tools accept."""
    plugins = await in_thread(api.list_plugins)
    builders = sorted({b for p in plugins for b in p.builders})
    targets = sorted({t for p in plugins for t in p.targets})
    text = f"targets: {', '.join(targets)}\nbuilders: {', '.join(builders)}\n" + render.plugins_table(plugins)
    return tool_result(PluginList(plugins=plugins, builders=builders, targets=targets), text)
