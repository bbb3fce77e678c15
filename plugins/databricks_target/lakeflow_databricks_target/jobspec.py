"""The settings of a lakeflow job on Databricks (the --env-var values live in secrets.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lakeflow_databricks_target.convert import TAG_CREATED_BY, TAG_MAX_WORKERS, TAG_PACKAGE
from lakeflow_databricks_target.shim import RUN_ID_PARAM, SHIM_DIST, SHIM_ENTRY_POINT
from lakeflow_host import JobSpec, LakeflowError

TASK_KEY = "lakeflow_task"
#: 15.4 LTS: a long-term-support runtime with Python 3.11.
DEFAULT_SPARK_VERSION = "15.4.x-scala2.12"
#: Databricks allows at most 1000; its default of 1 silently SKIPS every concurrent run-now.
DEFAULT_MAX_CONCURRENT_RUNS = 1000
#: Serverless environment 4: Python 3.12.3, released 2025-08-13, each version supported for three
#: years (Databricks docs, serverless environment versions; fact sheet RW-15). 2 is Python 3.11 and
#: the oldest one in use; 5 (2026-02-25) is newer, but 4 is current and supported longer than 3.
#: compat.py falls back to 3 or 2 for wheels that need another Python.
DEFAULT_ENVIRONMENT_VERSION = "4"


def flag(options: Mapping[str, Any], key: str, default: bool) -> bool:
    """A declared bool option: the host has already converted it."""
    value = options.get(key)
    return default if value is None else bool(value)


def default_node_type(host: str) -> str:
    """A general-purpose node type that exists on the workspace's cloud, judged by its host name."""
    if "azuredatabricks.net" in host:
        return "Standard_D4ds_v5"
    if "gcp.databricks.com" in host:
        return "n2-standard-4"
    return "m5d.large"


def job_settings(
    spec: JobSpec,
    libraries: list[str],
    env_param: str | None,
    host: str,
    user: str,
    options: Mapping[str, str],
) -> dict:
    """The jobs/create body (plain JSON, as the SDK's from_dict/as_dict would shape it)."""
    serverless = flag(options, "serverless", False)
    max_runs = spec.max_concurrent_runs or DEFAULT_MAX_CONCURRENT_RUNS
    if not 1 <= max_runs <= 1000:
        raise LakeflowError(f"--max-concurrent-runs {max_runs} is out of range; Databricks allows 1 to 1000")
    task: dict = {
        "task_key": TASK_KEY,
        "python_wheel_task": {
            "package_name": SHIM_DIST,
            "entry_point": SHIM_ENTRY_POINT,
            # The shim's own parameters; each run-now repeats them before the user's arguments.
            "parameters": [RUN_ID_PARAM, *([env_param] if env_param else [])],
        },
        "max_retries": 0,  # a retried task would start a second copy with the same arguments
    }
    settings: dict = {
        "name": spec.name,
        "tags": {
            TAG_CREATED_BY: "lakeflow",
            TAG_PACKAGE: spec.package,
            TAG_MAX_WORKERS: str(spec.max_workers),
        },
        "max_concurrent_runs": max_runs,
        # Queueing makes a run-now over the limit wait instead of being SKIPPED.
        "queue": {"enabled": flag(options, "queue", True)},
        "tasks": [task],
    }
    if serverless:
        task["environment_key"] = "lakeflow"
        settings["environments"] = [
            {
                "environment_key": "lakeflow",
                "spec": {
                    "environment_version": options.get("environment_version") or DEFAULT_ENVIRONMENT_VERSION,
                    "dependencies": libraries,
                },
            }
        ]
        return settings
    cluster: dict = {
        "spark_version": options.get("spark_version") or DEFAULT_SPARK_VERSION,
        "node_type_id": options.get("node_type") or default_node_type(host),
        "autoscale": {"min_workers": 1, "max_workers": spec.max_workers},
        # Dedicated (single user) access mode can read Unity Catalog volumes and workspace files.
        "data_security_mode": options.get("data_security_mode") or "SINGLE_USER",
    }
    if cluster["data_security_mode"] == "SINGLE_USER":
        cluster["single_user_name"] = user
    task["new_cluster"] = cluster
    task["libraries"] = [{"whl": path} for path in libraries]
    return settings


def typed(settings: dict) -> dict:
    """jobs.create keyword arguments: the SDK wants its dataclasses, not plain dicts."""
    from databricks.sdk.service.jobs import JobEnvironment, QueueSettings, Task

    kwargs = dict(settings)
    kwargs["queue"] = QueueSettings.from_dict(settings["queue"])
    kwargs["tasks"] = [Task.from_dict(t) for t in settings["tasks"]]
    if "environments" in settings:
        kwargs["environments"] = [JobEnvironment.from_dict(e) for e in settings["environments"]]
    return kwargs
