"""Job definitions of the ``ray`` target: lakeflow state on this machine (Ray has none)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from lakeflow_host import Job, JobSpec
from lakeflow_ray_target import artifacts, store


def create(spec: JobSpec, options: Mapping[str, Any]) -> Job:
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
    return get(store.new_job(definition, secrets))


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
