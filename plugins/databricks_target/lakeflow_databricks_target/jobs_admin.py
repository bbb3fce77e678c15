"""Updating a lakeflow job in place (``jobs/reset``) and deleting one with its secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lakeflow_databricks_target import convert, secrets, upload
from lakeflow_databricks_target.client import api_errors
from lakeflow_host import Job, JobSpec, LakeflowError, Run, normalize_name


def stored_secrets(job: Any) -> secrets.Stored | None:
    """The scope and keys holding the job's env values, as its shim parameter names them."""
    for param in convert.shim_params(job):
        found = secrets.parse_param(param)
        if found is not None:
            return found
    return None


def with_artifact(run: Run, raw: Any) -> Run:
    """``run`` with the main wheel its task installs (runs keep the libraries they started with,
    whatever later updates did to the job); unchanged when the task lists no wheels (serverless)."""
    import dataclasses

    for task in raw.tasks or []:
        wheels = [lib.whl for lib in task.libraries or [] if lib.whl]
        if wheels:
            # upload.libraries_for orders them: companions, the main wheel, the run shim last.
            return dataclasses.replace(run, artifact=wheels[-2] if len(wheels) > 1 else wheels[0])
    return run


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


def _delete(client: Any, stored: secrets.Stored | None, keep: set[str] = frozenset()) -> None:
    from databricks.sdk.errors import NotFound

    if stored is None:
        return
    for key in sorted(set(stored.keys.values()) - keep):
        with api_errors(f"delete secret {key} from scope {stored.scope}"):
            try:
                client.secrets.delete_secret(stored.scope, key)
            except NotFound:
                pass  # already gone: what we wanted


def update_job(client: Any, number: int, spec: JobSpec, user: str, options: Mapping[str, Any]) -> Any:
    """jobs/reset with new settings and newly stored secrets; returns the job as Databricks now
    has it. "Changes to other fields [than timeout_seconds] are applied to future runs only"
    (databricks-sdk 0.162 `JobsAPI.reset`): runs already started keep their wheel."""
    from databricks.sdk.service.jobs import JobSettings

    from lakeflow_databricks_target import create

    old = _lakeflow_job(client, number)
    libraries = upload.libraries_for(client, spec.artifact)
    uploaded = convert.dist_of(spec.artifact)
    if uploaded != normalize_name(spec.package):
        raise LakeflowError(
            f"{spec.artifact} is a wheel of {uploaded}, not {spec.package}; pass the package name of the wheel"
        )
    settings, stored = create.prepared(client, spec, libraries, user, options)  # the same settings as a create
    try:
        # The tags of the create (its create token) are settings too: keep them, reset replaces all.
        settings["tags"] = {**(old.settings.tags or {}), **settings.get("tags", {})}
        with api_errors(f"update job {number}"):
            client.jobs.reset(number, new_settings=JobSettings.from_dict(settings))
            job = client.jobs.get(number)
    except BaseException:
        secrets.discard(client, stored)
        raise
    # A queued run reads its values when it starts, with the keys of its own parameters: the old
    # keys go only when no run of the job is active (else they stay; delete-job removes the job's
    # current ones).
    if not _has_active_runs(client, number):
        _delete(client, stored_secrets(old), keep=set(stored.keys.values()) if stored else set())
    return job


def delete_job(client: Any, number: int, cancel_runs: bool) -> Job:
    old = _lakeflow_job(client, number)
    if _has_active_runs(client, number):
        if not cancel_runs:
            raise LakeflowError(f"job {number} has queued or running runs; wait for them, or pass --cancel-runs")
        with api_errors(f"cancel the runs of job {number}"):
            client.jobs.cancel_all_runs(job_id=number)
    with api_errors(f"delete job {number}"):
        client.jobs.delete(number)
    _delete(client, stored_secrets(old))
    return convert.to_job(old, client.config.host)


def prune(client: Any, older_than_days: float) -> tuple[list[str], int]:
    """Delete the workspace upload folders (``~/lakeflow/wheels/<digest>``) that no lakeflow job
    installs and whose files are older than that; returns the folders and their bytes.

    Runs are left alone: Databricks keeps run history itself (and removes it after 60 days).
    Uploads to a volume (``--volume``) are not pruned."""
    import time

    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.workspace import ObjectType

    root = f"{upload.home(client)}/lakeflow/wheels"
    with api_errors("list lakeflow jobs"):
        jobs = [job for job in client.jobs.list(expand_tasks=True, limit=100) if convert.is_lakeflow_job(job)]
    used = set()
    for job in jobs:
        for task in job.settings.tasks or []:
            used |= {lib.whl for lib in task.libraries or [] if lib.whl}
        for env in job.settings.environments or []:
            used |= set((env.spec.dependencies or []) if env.spec else [])
    used_folders = {path.rsplit("/", 1)[0].removeprefix("/Workspace") for path in used}
    cutoff_ms = (time.time() - older_than_days * 86400) * 1000
    removed: list[str] = []
    freed = 0
    with api_errors(f"list {root}"):
        try:
            folders = [o for o in client.workspace.list(root) if o.object_type == ObjectType.DIRECTORY]
        except NotFound:
            return [], 0
    for folder in folders:
        if folder.path in used_folders:
            continue
        with api_errors(f"list {folder.path}"):
            files = list(client.workspace.list(folder.path))
        # The newest file dates the upload: a fresh one may be waiting for its create-job.
        if any((f.modified_at or 0) >= cutoff_ms for f in files) or (folder.modified_at or 0) >= cutoff_ms:
            continue
        with api_errors(f"delete {folder.path}"):
            client.workspace.delete(folder.path, recursive=True)
        removed.append(folder.path)
        freed += sum(f.size or 0 for f in files)
    return removed, freed
