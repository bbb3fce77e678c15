"""create-job on Databricks: secrets stored, the job created exactly once, nothing orphaned.

`jobs/create` takes no idempotency token (databricks-sdk 0.162 `JobsAPI.create`; fact sheet RW-41),
and a create whose reply was lost may have committed. So each create carries a unique token in a
job tag, and after a lost reply lakeflow looks for a job with that tag before trying again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from lakeflow_databricks_target import compute, jobspec, pins, secrets, upload
from lakeflow_databricks_target.client import api_errors
from lakeflow_databricks_target.transport import ReplyLost
from lakeflow_host import JobSpec, LakeflowError

TAG_CREATE_TOKEN = "lakeflow_create_token"
_ATTEMPTS = 4


def create(client: Any, spec: JobSpec, libraries: list[str], user: str, options: Mapping[str, Any]) -> int:
    """The new job's id. The --env-var values go to the secret scope first; if anything after
    that fails, they are deleted again."""
    settings, stored = prepared(client, spec, libraries, user, options)
    try:
        return create_once(client, settings)
    except BaseException:
        secrets.discard(client, stored)
        raise


def prepared(
    client: Any, spec: JobSpec, libraries: list[str], user: str, options: Mapping[str, Any]
) -> tuple[dict, secrets.Stored | None]:
    """The job's settings, with its --env-var values stored (what a create, or the update of a
    launch, sends); when this fails, nothing stays stored."""
    compute.check_options(spec, options)
    if not compute.text(options, "existing_cluster_id"):  # an existing cluster has its own runtime
        default = compute.default_runtime(client, options)
        runtime = upload.check_runtime(upload.wheel_infos(client, spec.artifact), options, default)
        if runtime is not None:  # the default cannot install these wheels; the newest that can
            key = "environment_version" if jobspec.flag(options, "serverless", False) else "spark_version"
            options = {**options, key: runtime}
    pinned = pins.read(client, spec.artifact)
    # Choose the compute (and check the permissions for it) and validate the settings before
    # storing secrets, so a bad flag or a missing permission leaves nothing behind.
    task_compute = compute.task_compute(client, spec, options)
    jobspec.job_settings(spec, libraries, None, task_compute, options)
    stored = secrets.store(client, spec.env, user, options)
    try:
        settings = jobspec.job_settings(spec, libraries, stored.param if stored else None, task_compute, options)
        return pins.apply(settings, pinned), stored  # the locked versions, before the wheels
    except BaseException:
        secrets.discard(client, stored)
        raise


def create_once(client: Any, settings: dict) -> int:
    token = uuid.uuid4().hex
    settings = {**settings, "tags": {**settings.get("tags", {}), TAG_CREATE_TOKEN: token}}
    kwargs = jobspec.typed(settings)
    for attempt in range(_ATTEMPTS):
        with api_errors(f"create job {settings['name']}"):
            try:
                return client.jobs.create(**kwargs).job_id
            except ReplyLost:
                found = _find(client, settings["name"], token)
                if found is not None:
                    return found
        time.sleep(min(10, 2**attempt))
    raise LakeflowError(
        f"lost the connection to Databricks {_ATTEMPTS} times while creating job {settings['name']}, and no "
        "job was created; check the network, then retry"
    )


def _find(client: Any, name: str, token: str) -> int | None:
    """The job a lost create made, if it committed: jobs/list filters by exact name and returns
    settings with tags (SDK `JobsAPI.list`)."""
    for job in client.jobs.list(name=name):
        if job.settings and (job.settings.tags or {}).get(TAG_CREATE_TOKEN) == token:
            return job.job_id
    return None
