"""The ``databricks`` target: runs a wheel's ``lakeflow-task`` on Databricks job clusters.

Its options are declared in :mod:`lakeflow_databricks_target.options`.

databricks-sdk is imported lazily, inside the hooks, so other targets never load it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lakeflow_databricks_target.options import OPTIONS
from lakeflow_host import LakeflowError, Run, RunLogs, RunState, TargetInfo, hookimpl, lazy_module, normalize_name

if TYPE_CHECKING:
    from lakeflow_host import Artifact, Job, JobSpec, PruneReport, RemoteArtifact

# Every lakeflow command loads this plugin; only Databricks work should pay for what these import.
convert = lazy_module("lakeflow_databricks_target.convert")
_create = lazy_module("lakeflow_databricks_target.create")
jobspec = lazy_module("lakeflow_databricks_target.jobspec")
upload = lazy_module("lakeflow_databricks_target.upload")
shim = lazy_module("lakeflow_databricks_target.shim")
_client = lazy_module("lakeflow_databricks_target.client")
_config = lazy_module("lakeflow_databricks_target.config")
listing = lazy_module("lakeflow_databricks_target.listing")
ratelimit = lazy_module("lakeflow_databricks_target.ratelimit")
memo = lazy_module("lakeflow_databricks_target.memo")
jobs_admin = lazy_module("lakeflow_databricks_target.jobs_admin")

NAME = "databricks"


def _number(value: str, what: str = "run") -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number <= 0:
        raise LakeflowError(f"{what} id {value!r} is not a Databricks {what} id; pass the number lakeflow printed")
    return number


@hookimpl
def targets() -> list[TargetInfo]:
    # Runs take minutes and run-now requests gain from being in flight together; poll gently.
    return [
        TargetInfo(
            NAME, OPTIONS, "Databricks jobs (classic clusters or serverless)", triggers_in_flight=16, poll_interval=5.0
        )
    ]


@hookimpl
def target_is_configured(options: Mapping[str, Any]) -> bool:
    return _config.workspace_configured(options)


@hookimpl
def upload_artifact(artifact: Artifact, options: Mapping[str, Any]) -> RemoteArtifact:
    if artifact.kind != "wheel":
        # python_wheel_task installs wheels; a PEX is no library a cluster can install.
        raise LakeflowError(
            f"the databricks target runs wheels only, not a {artifact.kind} ({artifact.path.name}); "
            "build a wheel instead (drop -o format=pex)"
        )
    return upload.upload(_client.workspace_client(options), artifact, options)


@hookimpl
def create_job(spec: JobSpec, options: Mapping[str, Any]) -> Job:
    client = _client.workspace_client(options)
    libraries = upload.libraries_for(client, spec.artifact)
    uploaded = convert.dist_of(spec.artifact)
    if uploaded != normalize_name(spec.package):
        # The run shim calls the package it was uploaded with; a different PACKAGE would be a lie.
        raise LakeflowError(
            f"{spec.artifact} is a wheel of {uploaded}, not {spec.package}; pass the package name of the wheel"
        )
    user = upload.home(client).removeprefix("/Users/")
    job_id = _create.create(client, spec, libraries, user, options)
    with _client.api_errors(f"get job {spec.name}"):
        job = client.jobs.get(job_id)
    _remember_lakeflow_job(client, job)
    return convert.to_job(job, client.config.host)


# (client, job id) -> the job's shim parameters, which every run-now repeats.
_lakeflow_jobs: dict[tuple[int, int], tuple[str, ...]] = {}
_jobs_lock = threading.Lock()


def _remember_lakeflow_job(client, job) -> None:
    with _jobs_lock:
        _lakeflow_jobs[(id(client), job.job_id)] = convert.shim_params(job)
        _remembered_at[(id(client), job.job_id)] = time.monotonic()


#: Another process's launch may update a job (new secret keys in its parameters): a long-lived
#: process (the MCP server) reads the job again when what it remembers is older than this.
_REMEMBER_S = 60.0
_remembered_at: dict[tuple[int, int], float] = {}


def _check_lakeflow_job(client, job_id: int) -> tuple[str, ...]:
    """Refuse to trigger a job lakeflow did not create: its task is not the run shim, so the
    encoded arguments would reach someone else's code. Checked once per job and process (a
    fan-out's threads wait for the first check); a job created in this process is known.
    Returns the job's shim parameters."""
    with _jobs_lock:
        key = (id(client), job_id)
        if key in _lakeflow_jobs and time.monotonic() - _remembered_at.get(key, 0.0) < _REMEMBER_S:
            return _lakeflow_jobs[key]
        with _client.api_errors(f"get job {job_id}"):
            job = client.jobs.get(job_id)
        if not convert.is_lakeflow_job(job):
            raise LakeflowError(
                f"job {job_id} was not created by lakeflow (no created_by=lakeflow tag); create one with "
                "`lakeflow create-job`, or run this one with the Databricks CLI"
            )
        lead = _lakeflow_jobs[key] = convert.shim_params(job)
        _remembered_at[key] = time.monotonic()
        return lead


@hookimpl
def update_job(job_id: str, spec: JobSpec, options: Mapping[str, Any]) -> Job:
    client = _client.workspace_client(options)
    user = upload.home(client).removeprefix("/Users/")
    job = jobs_admin.update_job(client, _number(job_id, "job"), spec, user, options)
    _remember_lakeflow_job(client, job)  # run-now repeats the new shim parameters (new secret keys)
    return convert.to_job(job, client.config.host)


@hookimpl
def delete_job(job_id: str, cancel_runs: bool, options: Mapping[str, Any]) -> Job:
    client = _client.workspace_client(options)
    job = jobs_admin.delete_job(client, _number(job_id, "job"), cancel_runs)
    with _jobs_lock:
        _lakeflow_jobs.pop((id(client), int(job.job_id)), None)
    return job


@hookimpl
def prune(older_than_days: float, options: Mapping[str, Any]) -> PruneReport:
    removed, freed = jobs_admin.prune(_client.workspace_client(options), older_than_days)
    from lakeflow_host import PruneReport  # the result types load when first needed

    return PruneReport(NAME, 0, tuple(removed), freed)


@hookimpl
def get_job(job_id: str, options: Mapping[str, Any]) -> Job:
    client = _client.workspace_client(options)
    with _client.api_errors(f"get job {job_id}"):
        job = client.jobs.get(_number(job_id, "job"))
    if convert.is_lakeflow_job(job):
        _remember_lakeflow_job(client, job)
    return convert.to_job(job, client.config.host)


@hookimpl
def list_jobs(name: str | None, options: Mapping[str, Any]) -> list[Job]:
    client = _client.workspace_client(options)
    # jobs/list filters by "the exact (case insensitive) job name" (SDK 0.162 `JobsAPI.list`):
    # launch finds the project's job without paging through the workspace's other jobs.
    named = {"name": name} if name is not None else {}
    with _client.api_errors("list jobs"):
        jobs = [j for j in client.jobs.list(limit=100, expand_tasks=True, **named) if convert.is_lakeflow_job(j)]
    jobs.sort(key=lambda j: j.created_time or 0, reverse=True)
    return [convert.to_job(j, client.config.host) for j in jobs]


@hookimpl
def trigger_run(job_id: str, args: Sequence[str], options: Mapping[str, Any]) -> Run:
    number = _number(job_id, "job")
    shim.encode_args(tuple(args))  # too long: refused before any request
    client = _client.workspace_client(options)
    params = shim.encode_args(tuple(args), _check_lakeflow_job(client, number))
    # One token per call: the SDK retries a POST whose connection dropped, and Databricks
    # returns the same run for a repeated token instead of starting a second one.
    token = uuid.uuid4().hex
    gate = ratelimit.gate(client)
    gate.set_rate(float(options.get("max_rps") or 10.0))
    if not gate.at_transport:  # the SDK's session moved: at least the first attempts are paced
        gate.bucket.take()
    with _client.api_errors(f"start a run of job {job_id}"):
        waiter = client.jobs.run_now(number, python_params=params, idempotency_token=token)
    run_id = waiter.run_id
    return Run(NAME, str(run_id), str(number), RunState.QUEUED, tuple(args), url=_run_url(client, number, run_id))


_url_bases: dict[int, str] = {}


def _run_url(client, job_id: int, run_id: int) -> str | None:
    """The run's page as the API names it (`run_page_url`, with the `?o=<workspace id>` that
    picks the workspace on hosts serving several, RW-33). The first run in a workspace asks for
    it; later runs (and later commands, through :mod:`memo`) reuse its base when it has the
    documented shape."""
    base = _url_bases.get(id(client))
    if base is None:
        base = memo.recall(client.config.host or "", "run_url_base")
        if isinstance(base, str):
            _url_bases[id(client)] = base
    if isinstance(base, str):
        return f"{base}#job/{job_id}/run/{run_id}"
    with _client.api_errors(f"get run {run_id}"):
        url = client.jobs.get_run(run_id).run_page_url
    suffix = f"#job/{job_id}/run/{run_id}"
    if url and url.endswith(suffix):
        _url_bases[id(client)] = url[: -len(suffix)]
        memo.keep(client.config.host or "", "run_url_base", _url_bases[id(client)])
    return url


@hookimpl
def list_job_runs(
    job_id: str | None, options: Mapping[str, Any], active_only: bool, limit: int | None, since: float | None
) -> list[Run]:
    client = _client.workspace_client(options)
    if job_id is not None:
        number = _number(job_id, "job")
        if not active_only:  # wait's polls know the job exists; a listing must name a wrong one
            with _client.api_errors(f"get job {job_id}"):
                client.jobs.get(number)  # an unknown job is an error, not an empty list
        job_ids = [number]
    else:
        job_ids = listing.lakeflow_job_ids(client)
    return listing.list_runs(client, job_ids, active_only, limit, since)


def _fetch_run(client, run_id: str):
    with _client.api_errors(f"get run {run_id}"):
        return client.jobs.get_run(_number(run_id))


@hookimpl
def get_run(run_id: str, options: Mapping[str, Any]) -> Run:
    found = _fetch_run(_client.workspace_client(options), run_id)
    return jobs_admin.with_artifact(convert.to_run(found), found)


@hookimpl
def get_run_logs(run_id: str, options: Mapping[str, Any]) -> RunLogs:
    client = _client.workspace_client(options)
    run = _fetch_run(client, run_id)
    state, message = convert.run_state(run)
    if state is RunState.SKIPPED:
        return RunLogs(run_id, state, note=f"the run was skipped and never started: {message}")
    if state is RunState.QUEUED:
        return RunLogs(run_id, state, note=f"the run has not started yet ({message})")
    # get-output needs the task run's id; the job run id is refused even for one-task jobs.
    # A task run id (from the Databricks UI) has no tasks of its own: read its output directly.
    task_run_id = run.tasks[0].run_id if run.tasks else run.run_id
    with _client.api_errors(f"get the output of run {run_id}"):
        output = client.jobs.get_run_output(task_run_id)
    note = None
    if state is RunState.RUNNING:
        note = "the run is still running; Databricks serves a task's output when it ends"
    elif output.logs is None and state is not RunState.SUCCEEDED:
        note = f"the task produced no output ({message})" if message else "the task produced no output"
    if output.logs_truncated:
        note = "Databricks keeps only the last 5 MB of a task's output; earlier lines are gone"
    error = output.error or (message if state in (RunState.FAILED, RunState.CANCELED) else None)
    return RunLogs(
        run_id,
        state,
        text=output.logs or "",
        error=error,
        error_trace=output.error_trace,
        truncated=bool(output.logs_truncated),
        note=note,
    )


@hookimpl
def cancel_run(run_id: str, options: Mapping[str, Any]) -> Run:
    client = _client.workspace_client(options)
    number = _number(run_id)
    with _client.api_errors(f"cancel run {run_id}"):
        client.jobs.cancel_run(number)  # returns a waiter at once; we do not wait for the end
    return convert.to_run(_fetch_run(client, run_id))
