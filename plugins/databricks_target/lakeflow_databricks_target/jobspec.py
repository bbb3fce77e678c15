"""The settings of a lakeflow job on Databricks, and the secret scope holding its env vars."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from lakeflow_databricks_target.client import api_errors
from lakeflow_databricks_target.convert import TAG_CREATED_BY, TAG_MAX_WORKERS, TAG_PACKAGE
from lakeflow_databricks_target.shim import RUN_ID_PARAM, SHIM_DIST, SHIM_ENTRY_POINT
from lakeflow_host import JobSpec, LakeflowError

TASK_KEY = "lakeflow_task"
#: 15.4 LTS: a long-term-support runtime with Python 3.11.
DEFAULT_SPARK_VERSION = "15.4.x-scala2.12"
#: Databricks allows at most 1000; its default of 1 silently SKIPS every concurrent run-now.
DEFAULT_MAX_CONCURRENT_RUNS = 1000
DEFAULT_SECRET_SCOPE = "lakeflow"
DEFAULT_ENVIRONMENT_VERSION = "2"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def flag(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key)
    if isinstance(value, bool):  # declared options arrive converted
        return value
    if value is None or value == "":
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise LakeflowError(f"-o {key}={value} is not a yes/no value; use -o {key}=true or -o {key}=false")


def default_node_type(host: str) -> str:
    """A general-purpose node type that exists on the workspace's cloud, judged by its host name."""
    if "azuredatabricks.net" in host:
        return "Standard_D4ds_v5"
    if "gcp.databricks.com" in host:
        return "n2-standard-4"
    return "m5d.large"


def store_env(client: Any, spec: JobSpec, options: Mapping[str, str]) -> dict[str, str]:
    """Put each env value in a secret scope; return {NAME: "{{secrets/scope/key}}"} references.

    Job settings are readable by anyone with CAN VIEW on the job, so values never go there.
    Keys are random per job: nothing derived from a value (not even a hash) leaves this machine
    except through the secrets API.
    """
    if not spec.env:
        return {}
    from databricks.sdk.errors import ResourceAlreadyExists

    scope = options.get("secret_scope") or DEFAULT_SECRET_SCOPE
    if not re.match(r"^[A-Za-z0-9_.\-]{1,128}$", scope):
        raise LakeflowError(f"-o secret_scope={scope} is not a valid scope name; use letters, digits, - _ and .")
    with api_errors(f"create secret scope {scope}"):
        try:
            client.secrets.create_scope(scope)
        except ResourceAlreadyExists:
            pass
    prefix = "job-" + uuid.uuid4().hex[:12]
    refs = {}
    for name, value in sorted(spec.env.items()):
        key = f"{prefix}-{name}"
        with api_errors(f"store --env-var {name} in secret scope {scope}"):
            client.secrets.put_secret(scope, key, string_value=value)
        refs[name] = "{{secrets/" + scope + "/" + key + "}}"
    return refs


def job_settings(
    spec: JobSpec,
    libraries: list[str],
    env_refs: dict[str, str],
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
            "parameters": [RUN_ID_PARAM],
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
        if spec.env:
            raise LakeflowError(
                "--serverless cannot take --env-var: serverless jobs have no secret-backed environment "
                "variables, and plain values would be readable in the job's settings; drop --serverless or "
                "read the secret in your task (dbutils.secrets.get)"
            )
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
    if env_refs:
        cluster["spark_env_vars"] = env_refs
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
