"""Job definitions of the ``ray`` target: lakeflow state on this machine (Ray has none)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from lakeflow_host import Job, JobSpec
from lakeflow_ray_target import artifacts, store


def _definition(spec: JobSpec, options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    main = artifacts.check(spec.artifact, spec.package)
    env_from = options["env_from"]
    definition = {
        "name": spec.name,
        "package": spec.package,
        "artifact": str(main),
        "max_workers": spec.max_workers,
        "max_concurrent_runs": spec.max_concurrent_runs or spec.max_workers,
        "num_cpus": options["num_cpus"],
        "env_from": env_from,
        # Only the names: the values go into each submission's runtime environment, or (with
        # env_from=cluster) never leave the cluster.
        "env_var_names": sorted(spec.env),
        "created_time": time.time(),
    }
    secrets = dict(spec.env) if env_from == "lakeflow" else {}
    return definition, secrets


def create(spec: JobSpec, options: Mapping[str, Any]) -> Job:
    return get(store.new_job(*_definition(spec, options)))


def update(job_id: str, spec: JobSpec, options: Mapping[str, Any]) -> Job:
    """A new definition under the same id; runs already triggered keep the artifact they had."""
    old = store.job(job_id)
    definition, secrets = _definition(spec, options)
    definition["created_time"] = old["created_time"]
    store.replace_job(job_id, definition, secrets)
    return get(job_id)


def delete(job_id: str, cancel_runs: bool) -> Job:
    from lakeflow_host import LakeflowError
    from lakeflow_ray_target import runs

    job = get(job_id)
    active = [r for r in runs.list_runs([job_id]) if not r.state.is_final]
    if active and not cancel_runs:
        raise LakeflowError(
            f"job {job_id} has {len(active)} queued or running runs; pass --cancel-runs to cancel them and delete it"
        )
    for run in active:
        runs.cancel(run.run_id)
    in_use = {store.job(other)["artifact"] for other in store.job_ids() if other != job_id}
    store.remove_job(job_id, None if job.artifact in in_use else job.artifact)
    return job


def get(job_id: str) -> Job:
    record = store.job(job_id)
    return Job(
        store.NAME,
        job_id,
        record["name"],
        record["package"],
        record["artifact"],
        record["max_workers"],
        record["max_concurrent_runs"],
        tuple(record["env_var_names"]),
        None,
        record["created_time"],
    )
