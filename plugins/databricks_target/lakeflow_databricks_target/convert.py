"""Databricks job and run objects (SDK dataclasses) -> lakeflow's Job and Run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakeflow_databricks_target.secrets import parse_param
from lakeflow_databricks_target.shim import OWN_PREFIX, RUN_ID_PARAM, decode_params
from lakeflow_host import Run, RunState, normalize_name

if TYPE_CHECKING:
    from lakeflow_host import Job

TARGET = "databricks"
TAG_CREATED_BY = "created_by"
TAG_PACKAGE = "lakeflow_package"
TAG_MAX_WORKERS = "lakeflow_max_workers"

_WAITING = {"QUEUED", "PENDING", "BLOCKED", "WAITING_FOR_RETRY", "WAITING"}
_ACTIVE = {"RUNNING", "TERMINATING"}
# Jobs 2.2 `status.termination_details.code` (SDK TerminationCodeCode, RW-31). Any other code,
# including one newer than this SDK (read as None), is a failure: a terminal run never waits.
_SUCCEEDED = {"SUCCESS", "SUCCESS_WITH_FAILURES"}
_SKIPPED = {"SKIPPED", "MAX_CONCURRENT_RUNS_EXCEEDED", "MAX_JOB_QUEUE_SIZE_EXCEEDED", "DISABLED"}
_QUEUE_REASONS = {
    "ACTIVE_RUNS_LIMIT_REACHED": "queued: the workspace's limit of active runs is reached",
    "MAX_CONCURRENT_RUNS_REACHED": "queued: the job's max_concurrent_runs is reached",
    "ACTIVE_RUN_JOB_TASKS_LIMIT_REACHED": "queued: the workspace's limit of running tasks is reached",
}


def _value(enum_or_none: Any) -> str | None:
    return None if enum_or_none is None else getattr(enum_or_none, "value", str(enum_or_none))


def run_state(run: Any) -> tuple[RunState, str | None]:
    """lakeflow's state and a message, from a Databricks Run (BaseRun or Run): the Jobs 2.2
    `status` first, the deprecated `state` only when a run has no `status`."""
    status = run.status
    if status is not None and (status.state is not None or status.termination_details is not None):
        return _from_status(run, status)
    return _from_legacy_state(run)


def _from_status(run: Any, status: Any) -> tuple[RunState, str | None]:
    life = _value(status.state)
    details = status.termination_details
    if life in _WAITING:
        queue = status.queue_details
        reason = queue.message or _QUEUE_REASONS.get(_value(queue.code) or "") if queue else None
        return RunState.QUEUED, reason or ("waiting for a cluster" if life == "PENDING" else "queued")
    if life in _ACTIVE:
        return RunState.RUNNING, None
    if life != "TERMINATED" and details is None and not run.end_time:
        # A state newer than this SDK (read as None) on a run that has not ended.
        return RunState.RUNNING if run.start_time else RunState.QUEUED, None
    code = _value(details.code) if details else None
    message = (details.message if details else None) or None
    if code in _SUCCEEDED:
        return RunState.SUCCEEDED, None
    if code == "USER_CANCELED":
        return RunState.CANCELED, message or "canceled"
    if code in _SKIPPED:
        return RunState.SKIPPED, message or "skipped by Databricks"
    # Platform CANCELED (e.g. the task's timeout), errors, and codes this SDK does not know.
    return RunState.FAILED, message or f"run ended with {code or 'an unknown termination code'}"


def _from_legacy_state(run: Any) -> tuple[RunState, str | None]:
    state = run.state
    life = _value(state.life_cycle_state) if state else None
    result = _value(state.result_state) if state else None
    message = (state.state_message if state else None) or None
    if life == "SKIPPED":
        return RunState.SKIPPED, message or "skipped by Databricks (maximum concurrent runs reached)"
    if life in _WAITING or (life is None and not run.end_time):
        waiting = "waiting for a cluster" if life == "PENDING" else "queued"
        return RunState.QUEUED, message or waiting
    if life in _ACTIVE:
        return RunState.RUNNING, message
    if life == "INTERNAL_ERROR":
        return RunState.FAILED, message or "Databricks internal error"
    if result == "SUCCESS":
        return RunState.SUCCEEDED, None
    if result == "CANCELED":
        return RunState.CANCELED, message or "canceled"
    if result == "MAXIMUM_CONCURRENT_RUNS_REACHED":
        return RunState.SKIPPED, message
    return RunState.FAILED, message or f"run ended with {result or life or 'an unknown state'}"


def to_run(run: Any, job_id: str | None = None) -> Run:
    state, message = run_state(run)
    start = run.start_time / 1000 if run.start_time else None
    end = run.end_time / 1000 if run.end_time else None
    params = run.overriding_parameters.python_params if run.overriding_parameters else None
    return Run(
        target=TARGET,
        run_id=str(run.run_id),
        job_id=str(run.job_id if run.job_id is not None else job_id),
        state=state,
        args=decode_params(params),
        queued_time=start,
        # Databricks' start_time is when the run was created; the task starts later, but the API
        # does not say when. Keep it as the start so that durations cover queueing and setup.
        start_time=start if state is not RunState.QUEUED else None,
        end_time=end if state.is_final else None,
        message=message,
        url=run.run_page_url,
    )


def to_job(job: Any, host: str) -> Job:
    from lakeflow_host import Job  # the result types load on first use: a trigger needs none

    settings = job.settings
    tags = settings.tags or {}
    task = settings.tasks[0] if settings.tasks else None
    cluster = task.new_cluster if task else None
    env_names: tuple[str, ...] = ()
    for param in shim_params(job):
        stored = parse_param(param)
        if stored is not None:
            env_names = tuple(sorted(stored.keys))
    max_workers = int(tags.get(TAG_MAX_WORKERS, "1") or 1)
    if cluster is not None:
        # Jobs made before the run shim read the values kept {{secrets/...}} references here.
        env_names = env_names or tuple(sorted((cluster.spark_env_vars or {}).keys()))
        if cluster.autoscale is not None and cluster.autoscale.max_workers:
            max_workers = cluster.autoscale.max_workers
    libraries = [lib.whl for lib in (task.libraries or []) if lib.whl] if task else []
    package = tags.get(TAG_PACKAGE, "")
    artifact = next((p for p in libraries if dist_of(p) == normalize_name(package)), libraries[0] if libraries else "")
    if not libraries and task and task.environment_key:
        for env in settings.environments or []:
            if env.environment_key == task.environment_key and env.spec and env.spec.dependencies:
                deps = env.spec.dependencies
                artifact = next((d for d in deps if dist_of(d) == normalize_name(package)), deps[0])
    return Job(
        target=TARGET,
        job_id=str(job.job_id),
        name=settings.name or "",
        package=package,
        artifact=artifact,
        max_workers=max_workers,
        max_concurrent_runs=settings.max_concurrent_runs or 1,
        env_var_names=env_names,
        url=f"{host}/#job/{job.job_id}",
        created_time=job.created_time / 1000 if job.created_time else None,
    )


def shim_params(job: Any) -> tuple[str, ...]:
    """The leading task parameters that belong to the run shim (run id, env-var scope)."""
    task = job.settings.tasks[0] if job.settings and job.settings.tasks else None
    wheel = task.python_wheel_task if task else None
    params = [p for p in (wheel.parameters or []) if p.startswith(OWN_PREFIX)] if wheel else []
    return tuple(params) or (RUN_ID_PARAM,)


def dist_of(path: str) -> str:
    """The normalized distribution name of the wheel at a remote path."""
    return normalize_name(path.rsplit("/", 1)[-1].split("-", 1)[0])


def is_lakeflow_job(job: Any) -> bool:
    return bool(job.settings and (job.settings.tags or {}).get(TAG_CREATED_BY) == "lakeflow")
