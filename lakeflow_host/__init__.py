"""lakeflow: build a Python project into a wheel, upload it, and fan out many runs of it.

The Python API is the functions below; plugins use :data:`hookimpl` and the types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from lakeflow_host.api import (
        build_wheel,
        builders,
        cancel_run,
        create_job,
        delete_job,
        follow_run_logs,
        get_job,
        get_run,
        get_run_logs,
        launch,
        list_job_runs,
        list_jobs,
        list_plugins,
        load_artifact,
        prune,
        rerun,
        resolve_builder,
        resolve_target,
        save_run_logs,
        status,
        targets,
        trigger_run,
        trigger_runs,
        upload_wheel,
        wait,
    )
    from lakeflow_host.results import (
        Artifact,
        FailedRun,
        Job,
        JobSpec,
        JobStatus,
        Launch,
        PluginInfo,
        PruneReport,
        RemoteArtifact,
        TriggerFailure,
    )

from lakeflow_host import types
from lakeflow_host.errors import (
    LakeflowError,
    NotFoundError,
    PluginLoadError,
    UnknownNameError,
    UnsupportedOperationError,
    WaitTimeoutError,
)
from lakeflow_host.options import Option
from lakeflow_host.tools import (
    TASK_ENTRY_POINT,
    atomic_write,
    file_sha256,
    lakeflow_home,
    lazy_module,
    normalize_name,
    parse_wheel_name,
    uv_binary,
    wheel_task_entry_point,
)
from lakeflow_host.types import BuilderInfo, Run, RunLogs, RunState, TargetInfo

_API = frozenset(
    {
        "build_wheel",
        "builders",
        "cancel_run",
        "create_job",
        "delete_job",
        "follow_run_logs",
        "get_job",
        "get_run",
        "get_run_logs",
        "launch",
        "list_job_runs",
        "list_jobs",
        "list_plugins",
        "load_artifact",
        "prune",
        "rerun",
        "resolve_builder",
        "resolve_target",
        "save_run_logs",
        "status",
        "targets",
        "trigger_run",
        "trigger_runs",
        "upload_wheel",
        "wait",
    }
)


def __getattr__(name: str) -> object:
    # The API module (and the plugin machinery behind it) loads on first use, so that a plugin
    # importing `hookimpl` and the types, or the local target's worker, starts quickly; so do
    # the result types, which commands that only list or watch runs never create.
    if name in _API:
        from lakeflow_host import api

        return getattr(api, name)
    if name in types.RESULT_NAMES:
        from lakeflow_host import results

        return getattr(results, name)
    raise AttributeError(f"module 'lakeflow_host' has no attribute {name!r}")


#: Marks a plugin's hook implementations: ``@hookimpl def build_artifact(builder, project_dir): ...``
hookimpl = pluggy.HookimplMarker("lakeflow")

__all__ = [
    "TASK_ENTRY_POINT",
    "Artifact",
    "BuilderInfo",
    "FailedRun",
    "Job",
    "JobSpec",
    "JobStatus",
    "LakeflowError",
    "Launch",
    "NotFoundError",
    "Option",
    "PluginInfo",
    "PluginLoadError",
    "PruneReport",
    "RemoteArtifact",
    "Run",
    "RunLogs",
    "RunState",
    "TargetInfo",
    "TriggerFailure",
    "UnknownNameError",
    "UnsupportedOperationError",
    "WaitTimeoutError",
    "atomic_write",
    "build_wheel",
    "builders",
    "cancel_run",
    "create_job",
    "delete_job",
    "file_sha256",
    "follow_run_logs",
    "get_job",
    "get_run",
    "get_run_logs",
    "hookimpl",
    "lakeflow_home",
    "launch",
    "lazy_module",
    "list_job_runs",
    "list_jobs",
    "list_plugins",
    "load_artifact",
    "normalize_name",
    "parse_wheel_name",
    "prune",
    "rerun",
    "resolve_builder",
    "resolve_target",
    "save_run_logs",
    "status",
    "targets",
    "trigger_run",
    "trigger_runs",
    "upload_wheel",
    "uv_binary",
    "wait",
    "wheel_task_entry_point",
]
