"""The settings of a lakeflow job on Databricks (the --env-var values live in secrets.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lakeflow_databricks_target import compute
from lakeflow_databricks_target.convert import TAG_CREATED_BY, TAG_MAX_WORKERS, TAG_PACKAGE
from lakeflow_databricks_target.shim import RUN_ID_PARAM, SHIM_DIST, SHIM_ENTRY_POINT
from lakeflow_host import JobSpec, LakeflowError

TASK_KEY = "lakeflow_task"
#: Databricks allows at most 1000; its default of 1 silently SKIPS every concurrent run-now.
DEFAULT_MAX_CONCURRENT_RUNS = 1000
#: Serverless environment 4: Python 3.12.3, released 2025-08-13, each version supported for three
#: years (Databricks docs, serverless environment versions; fact sheet RW-15). 2 is Python 3.11 and
#: the oldest one in use; 5 (2026-02-25) is newer, but 4 is current and supported longer than 3.
#: compat.py falls back to 3 or 2 for wheels that need another Python.
DEFAULT_ENVIRONMENT_VERSION = "4"


flag = compute.flag


def job_settings(
    spec: JobSpec,
    libraries: list[str],
    env_param: str | None,
    task_compute: dict,
    options: Mapping[str, Any],
) -> dict:
    """The jobs/create body (plain JSON, as the SDK's from_dict/as_dict would shape it).

    ``task_compute`` is what `compute.task_compute` chose: a new cluster, an existing one, or
    nothing for serverless.
    """
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
    timeout = compute.timeout_seconds(options)
    if timeout:
        task["timeout_seconds"] = timeout  # a hung task must not keep a cluster up forever
    settings: dict = {
        "name": spec.name,
        # Job tags become the job cluster's tags (RW-36): values fit every cloud's rules.
        "tags": {
            TAG_CREATED_BY: "lakeflow",
            TAG_PACKAGE: compute.tag_value(spec.package),
            TAG_MAX_WORKERS: str(spec.max_workers),
        },
        "max_concurrent_runs": max_runs,
        # Queueing makes a run-now over the limit wait instead of being SKIPPED.
        "queue": {"enabled": flag(options, "queue", True)},
        "tasks": [task],
    }
    identity = compute.text(options, "run_as")
    if identity:
        settings["run_as"] = compute.run_as(identity)
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
    task.update({k: (dict(v) if isinstance(v, dict) else v) for k, v in task_compute.items()})
    task["libraries"] = [{"whl": path} for path in libraries]
    return settings


def typed(settings: dict) -> dict:
    """jobs.create keyword arguments: the SDK wants its dataclasses, not plain dicts."""
    from databricks.sdk.service.jobs import JobEnvironment, JobRunAs, QueueSettings, Task

    kwargs = dict(settings)
    kwargs["queue"] = QueueSettings.from_dict(settings["queue"])
    kwargs["tasks"] = [Task.from_dict(t) for t in settings["tasks"]]
    if "run_as" in settings:
        kwargs["run_as"] = JobRunAs.from_dict(settings["run_as"])
    if "environments" in settings:
        kwargs["environments"] = [JobEnvironment.from_dict(e) for e in settings["environments"]]
    return kwargs
