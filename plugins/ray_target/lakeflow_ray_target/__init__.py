"""The ``ray`` target: lakeflow jobs on a Ray cluster, through Ray's Job Submission SDK.

Every run is one Ray job submitted to ``-o address`` / ``$RAY_ADDRESS`` (the dashboard's
address). Ray keeps no job definitions, so they are lakeflow state on this machine, under
``lakeflow_home()/ray`` (see :mod:`lakeflow_ray_target.store`). Ray itself is an optional extra
(``pip install 'lakeflow-host[ray]'``), imported by these hooks only when they run, so no other
target's commands pay for it. See docs/ray.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lakeflow_host import Run, RunLogs, TargetInfo, hookimpl, lazy_module

if TYPE_CHECKING:
    from lakeflow_host import Artifact, Job, JobSpec, RemoteArtifact
from lakeflow_ray_target.options import OPTIONS

# Each hook needs only some of these; the Ray SDK itself is imported by `client`, on first use.
artifacts = lazy_module("lakeflow_ray_target.artifacts")
client = lazy_module("lakeflow_ray_target.client")
jobs = lazy_module("lakeflow_ray_target.jobs")
runs = lazy_module("lakeflow_ray_target.runs")
store = lazy_module("lakeflow_ray_target.store")

NAME = "ray"


@hookimpl
def targets() -> list[TargetInfo]:
    # A run's submission takes the job's lock (the concurrency cap is kept here), so triggers
    # go one at a time, which also keeps run ids in input order.
    return [TargetInfo(NAME, OPTIONS, "runs on a Ray cluster (Job Submission API)", triggers_in_flight=1)]


@hookimpl
def target_is_configured(options: Mapping[str, Any]) -> bool:
    return bool(options.get("address"))


@hookimpl
def upload_artifact(artifact: Artifact) -> RemoteArtifact:
    client.sdk()
    return artifacts.upload(artifact)


@hookimpl
def create_job(spec: JobSpec, options: Mapping[str, Any]) -> Job:
    client.sdk()
    return jobs.create(spec, options)


@hookimpl
def update_job(job_id: str, spec: JobSpec, options: Mapping[str, Any]) -> Job:
    client.sdk()
    return jobs.update(job_id, spec, options)


@hookimpl
def delete_job(job_id: str, cancel_runs: bool) -> Job:
    client.sdk()
    return jobs.delete(job_id, cancel_runs)


@hookimpl
def get_job(job_id: str) -> Job:
    client.sdk()
    return jobs.get(job_id)


@hookimpl
def list_jobs() -> list[Job]:
    client.sdk()
    return [jobs.get(job_id) for job_id in store.job_ids()]


@hookimpl
def trigger_run(job_id: str, args: Sequence[str], options: Mapping[str, Any]) -> Run:
    return runs.trigger(job_id, args, options)


@hookimpl
def list_job_runs(job_id: str | None) -> list[Run]:
    client.sdk()
    if job_id is not None:
        jobs.get(job_id)
    return runs.list_runs([job_id] if job_id is not None else store.job_ids())


@hookimpl
def get_run(run_id: str) -> Run:
    client.sdk()
    return runs.get(run_id)


@hookimpl
def get_run_logs(run_id: str) -> RunLogs:
    client.sdk()
    return runs.logs(run_id)


@hookimpl
def cancel_run(run_id: str) -> Run:
    client.sdk()
    return runs.cancel(run_id)
