"""Validation of job settings for jobs/create and jobs/reset (fact sheet §13.6).

Strict where the real service is documented to be strict; the remaining rules are CHOICEs that
keep a client honest (for instance: a wheel task needs exactly one kind of compute).
"""

from __future__ import annotations

import re

from .errors import invalid

TASK_KEY_RE = re.compile(r"^[\w\-.]{1,100}$")
PARAM_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
TASK_TYPES = (
    "python_wheel_task",
    "spark_python_task",
    "notebook_task",
    "spark_jar_task",
    "spark_submit_task",
    "sql_task",
    "dbt_task",
    "run_job_task",
    "pipeline_task",
)
LIBRARY_PREFIXES = ("/Workspace/", "/Volumes/", "s3://", "abfss://", "gs://", "dbfs:/")


def validate_settings(settings: dict) -> dict:
    """Returns the settings with the service's defaults filled in, or raises ApiError."""
    if not isinstance(settings, dict):
        raise invalid("Job settings must be an object.")
    name = settings.get("name", "Untitled")
    if not isinstance(name, str) or len(name.encode()) > 4096:
        raise invalid("Job name must be a string of at most 4096 bytes.")
    tasks = settings.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise invalid("At least one task is required.")
    if len(tasks) > 1:
        # CHOICE: this emulator runs single-task jobs only (what lakeflow creates).
        raise invalid("This test server supports jobs with exactly one task.")
    mcr = settings.get("max_concurrent_runs", 1)
    if isinstance(mcr, bool) or not isinstance(mcr, int) or not 0 <= mcr <= 1000:
        raise invalid(f"Invalid max_concurrent_runs {mcr!r}: it has to be between 0 and 1000.")
    queue = settings.get("queue")
    if queue is not None and (not isinstance(queue, dict) or not isinstance(queue.get("enabled"), bool)):
        raise invalid("queue.enabled is required and must be a boolean.")
    tags = settings.get("tags") or {}
    if not isinstance(tags, dict) or len(tags) > 25:
        raise invalid("A job can have at most 25 tags.")
    environments = {e.get("environment_key"): e for e in settings.get("environments") or []}
    if len(environments) != len(settings.get("environments") or []):
        raise invalid("environment_key must be unique.")
    for env in environments.values():
        spec = env.get("spec") or {}
        if not any(k in spec for k in ("environment_version", "client", "base_environment")):
            raise invalid(f"Environment {env.get('environment_key')} needs spec.environment_version.")
    for param in settings.get("parameters") or []:
        if not PARAM_NAME_RE.match(str(param.get("name", ""))) or "default" not in param:
            raise invalid(f"Invalid job parameter {param!r}.")
    for task in tasks:
        _validate_task(task, environments)
    out = dict(settings)
    out.setdefault("name", "Untitled")
    out["max_concurrent_runs"] = mcr
    out["format"] = "MULTI_TASK"
    out.setdefault("email_notifications", {})
    out.setdefault("timeout_seconds", 0)
    return out


def _validate_task(task: dict, environments: dict) -> None:
    key = task.get("task_key")
    if not isinstance(key, str) or not TASK_KEY_RE.match(key):
        raise invalid(f"Invalid task_key {key!r}.")
    types = [t for t in TASK_TYPES if t in task]
    if len(types) != 1:
        raise invalid(f"Task {key} must have exactly one task type.")
    if types[0] != "python_wheel_task":
        raise invalid(f"This test server only runs python_wheel_task tasks, not {types[0]}.")
    wheel = task["python_wheel_task"]
    if not wheel.get("package_name") or not wheel.get("entry_point"):
        raise invalid("python_wheel_task requires package_name and entry_point.")
    if wheel.get("parameters") and wheel.get("named_parameters"):
        raise invalid("python_wheel_task: only one of parameters and named_parameters may be set.")
    params = wheel.get("parameters") or []
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise invalid("python_wheel_task.parameters must be a list of strings.")
    compute = [k for k in ("new_cluster", "job_cluster_key", "existing_cluster_id", "environment_key") if task.get(k)]
    if not compute:
        raise invalid("One of job_cluster_key, new_cluster, or existing_cluster_id must be specified.")
    if len(compute) > 1:
        raise invalid(f"Task {key}: only one of {', '.join(compute)} may be specified.")
    if compute[0] == "job_cluster_key":
        raise invalid(
            f"This test server only supports new_cluster, existing_cluster_id or serverless tasks, not {compute[0]}."
        )
    timeout = task.get("timeout_seconds", 0)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0:
        raise invalid(f"Invalid timeout_seconds {timeout!r}.")
    if compute[0] == "environment_key":
        if task["environment_key"] not in environments:
            raise invalid(
                f"An environment is required for serverless task {key}. Please define one using "
                "`environments` and `environment_key`."
            )
        if task.get("libraries"):
            raise invalid(f"Task {key}: libraries are not supported on serverless compute; use environments.")
        return
    # The cluster's shape, node type, runtime and policy are checked against the workspace in
    # compute.py; here only what needs no workspace.
    cluster = task.get("new_cluster") or {}
    env_vars = cluster.get("spark_env_vars") or {}
    if not isinstance(env_vars, dict) or not all(isinstance(v, str) for v in env_vars.values()):
        raise invalid("spark_env_vars must map names to strings.")
    for lib in task.get("libraries") or []:
        pypi = lib.get("pypi") if isinstance(lib, dict) else None
        if pypi is not None and (not isinstance(pypi, dict) or not isinstance(pypi.get("package"), str)):
            # compute.py PythonPyPiLibrary: `package` is required.
            raise invalid(f"Library {lib!r}: pypi.package is required.")
        whl = lib.get("whl") if isinstance(lib, dict) else None
        if whl is not None and not str(whl).startswith(LIBRARY_PREFIXES):
            raise invalid(f"Library path {whl} must be a Workspace, Volumes or cloud storage path.")
