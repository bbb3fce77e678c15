"""Updating a lakeflow job in place (``jobs/reset``) and deleting one with its secrets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lakeflow_databricks_target import convert, jobspec, upload
from lakeflow_databricks_target.client import api_errors
from lakeflow_host import Job, JobSpec, LakeflowError

_SECRET_REF = re.compile(r"^\{\{secrets/([^/}]+)/([^}]+)\}\}$")


def secret_refs(job: Any) -> set[tuple[str, str]]:
    """The ``(scope, key)`` pairs the job's clusters read its env values from."""
    found = set()
    for task in job.settings.tasks or []:
        cluster = task.new_cluster
        for value in (cluster.spark_env_vars or {}).values() if cluster else ():
            match = _SECRET_REF.match(value or "")
            if match:
                found.add((match.group(1), match.group(2)))
    return found


def _lakeflow_job(client: Any, number: int) -> Any:
    with api_errors(f"get job {number}"):
        job = client.jobs.get(number)
    if not convert.is_lakeflow_job(job):
        raise LakeflowError(
            f"job {number} was not created by lakeflow (no created_by=lakeflow tag); lakeflow changes only its own jobs"
        )
    return job


def _has_active_runs(client: Any, number: int) -> bool:
    with api_errors(f"list the active runs of job {number}"):
        return next(iter(client.jobs.list_runs(job_id=number, active_only=True, limit=1)), None) is not None


def _delete_secrets(client: Any, refs: set[tuple[str, str]]) -> None:
    from databricks.sdk.errors import NotFound

    for scope, key in sorted(refs):
        with api_errors(f"delete secret {key} from scope {scope}"):
            try:
                client.secrets.delete_secret(scope, key)
            except NotFound:
                pass  # already gone: what we wanted


def update_job(client: Any, number: int, spec: JobSpec, options: Mapping[str, Any]) -> Job:
    from databricks.sdk.service.jobs import JobSettings

    old = _lakeflow_job(client, number)
    libraries = upload.libraries_for(client, spec.artifact)
    uploaded = convert.dist_of(spec.artifact)
    if uploaded != convert.norm(spec.package):
        raise LakeflowError(
            f"{spec.artifact} is a wheel of {uploaded}, not {spec.package}; pass the package name of the wheel"
        )
    user = upload.home(client).removeprefix("/Users/")
    jobspec.job_settings(spec, libraries, {}, client.config.host, user, options)  # checked before secrets
    refs = jobspec.store_env(client, spec, options)
    settings = jobspec.job_settings(spec, libraries, refs, client.config.host, user, options)
    with api_errors(f"update job {number}"):
        # reset replaces every setting; runs already started keep the settings they started with.
        client.jobs.reset(number, new_settings=JobSettings.from_dict(settings))
        job = client.jobs.get(number)
    # A queued run resolves its secrets when its cluster starts: keep the old values until no
    # run of the job is active (they are then left behind; delete-job removes the current ones).
    stale = secret_refs(old) - secret_refs(job)
    if stale and not _has_active_runs(client, number):
        _delete_secrets(client, stale)
    return convert.to_job(job, client.config.host)


def delete_job(client: Any, number: int, cancel_runs: bool) -> Job:
    old = _lakeflow_job(client, number)
    if _has_active_runs(client, number):
        if not cancel_runs:
            raise LakeflowError(f"job {number} has queued or running runs; wait for them, or pass --cancel-runs")
        with api_errors(f"cancel the runs of job {number}"):
            client.jobs.cancel_all_runs(job_id=number)
    with api_errors(f"delete job {number}"):
        client.jobs.delete(number)
    _delete_secrets(client, secret_refs(old))
    return convert.to_job(old, client.config.host)
