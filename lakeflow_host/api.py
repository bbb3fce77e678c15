"""Every lakeflow operation, as plain functions. The only module that calls plugin hooks.

The CLI, the MCP server and users' scripts are thin adapters over these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

# Part of the API (lakeflow_host exports them from here), defined where targets are chosen.
from lakeflow_host.choosing import (  # noqa: F401
    BUILDER_ENV,
    DEFAULT_BUILDER,
    FALLBACK_TARGET,
    TARGET_ENV,
    Options,
    builder_options,
    builders,
    declared_by_target,
    project,
    resolve_builder,
    resolve_target,
    target_options,
    targets,
)
from lakeflow_host.errors import LakeflowError
from lakeflow_host.inputs import _arg_list, _positive, read_env_vars  # noqa: F401
from lakeflow_host.plugins import distribution_of, get_host
from lakeflow_host.types import Run, RunLogs, RunState

if TYPE_CHECKING:
    from lakeflow_host.results import Artifact, Job, JobStatus, PluginInfo, PruneReport, RemoteArtifact, TriggerFailure
    from lakeflow_host.workflow import launch, rerun, wait  # noqa: F401 - what __getattr__ gives

#: Part of the API too, defined with the other multi-step operations in :mod:`lakeflow_host.workflow`,
#: which (with the result types) loads only when a command that builds, creates or triggers runs.
_WORKFLOW = frozenset({"launch", "rerun", "wait"})


def __getattr__(name: str) -> object:
    if name in _WORKFLOW:
        from lakeflow_host import workflow

        return getattr(workflow, name)
    raise AttributeError(f"module 'lakeflow_host.api' has no attribute {name!r}")


# -- the workflow -------------------------------------------------------------------------------


def build_wheel(
    project_dir: str | Path,
    *,
    builder: str | None = None,
    output_dir: str | Path | None = None,
    options: Options | None = None,
) -> Artifact:
    """Build a project into an artifact (a wheel with companion wheels of path dependencies, or
    whatever the builder makes, e.g. a PEX)."""
    config = project(project_dir)
    name = resolve_builder(builder, config)
    from lakeflow_host import workflow

    return workflow._build(name, project_dir, output_dir, builder_options(name, options, config))


def load_artifact(path: str | Path) -> Artifact:
    """The artifact at ``path`` (a file ``build_wheel`` produced), with its companion wheels."""
    from lakeflow_host import artifacts

    return artifacts.load_artifact(path)


def upload_wheel(
    artifact: Artifact | str | Path, *, target: str | None = None, options: Options | None = None
) -> RemoteArtifact:
    """Upload an artifact (or the file at a path) to the target; returns where it now lives."""
    name = resolve_target(target, options)
    opts = target_options(name, options, "upload")
    from lakeflow_host.results import Artifact

    if not isinstance(artifact, Artifact):
        artifact = load_artifact(artifact)
    return get_host().upload_artifact(name, artifact, opts)


def create_job(
    name: str,
    package: str,
    artifact: str,
    *,
    max_workers: int | None = None,
    max_concurrent_runs: int | None = None,
    env_vars: Sequence[str] = (),
    target: str | None = None,
    options: Options | None = None,
) -> Job:
    """Define a job that runs ``package``'s ``lakeflow-task`` entry point from the uploaded ``artifact``.

    ``env_vars`` are names; their values are read from this process's environment now. Always
    a new job (``launch`` is the one that reuses the project's job).
    """
    config = project()
    target_name = resolve_target(target, options, config)
    opts = target_options(target_name, options, "job", config)
    workers = max_workers if max_workers is not None else config.max_workers
    concurrent = max_concurrent_runs if max_concurrent_runs is not None else config.max_concurrent_runs
    from lakeflow_host import workflow

    spec = workflow._job_spec(name, package, artifact, workers, concurrent, env_vars)
    return get_host().create_job(target_name, spec, opts)


def delete_job(
    job_id: str, *, cancel_runs: bool = False, target: str | None = None, options: Options | None = None
) -> Job:
    """Delete a job, its runs' records and its stored env values (and, on the local target, its
    artifact and venv when no other job uses them). Refuses while runs are queued or running
    unless ``cancel_runs``; returns the job as it was."""
    name = resolve_target(target, options)
    return get_host().delete_job(name, str(job_id), bool(cancel_runs), target_options(name, options))


def get_job(job_id: str, *, target: str | None = None, options: Options | None = None) -> Job:
    """One job, by the id ``create_job`` returned."""
    name = resolve_target(target, options)
    return get_host().get_job(name, str(job_id), target_options(name, options))


def list_jobs(*, name: str | None = None, target: str | None = None, options: Options | None = None) -> list[Job]:
    """The jobs lakeflow created on the target (only those named ``name`` when given), newest first."""
    chosen = resolve_target(target, options)
    return get_host().list_jobs(chosen, target_options(chosen, options), name=name)


def trigger_run(
    job_id: str, args: Sequence[str] = (), *, target: str | None = None, options: Options | None = None
) -> Run:
    """Start one run of the job with ``args`` as the task's ``sys.argv[1:]``; returns at once."""
    name = resolve_target(target, options)
    return get_host().trigger_run(name, str(job_id), _arg_list(args), target_options(name, options, "run"))


def trigger_runs(
    job_id: str,
    arg_lists: Sequence[Sequence[str]],
    *,
    target: str | None = None,
    options: Options | None = None,
    concurrency: int | None = None,
    on_run: Callable[[int, Run | TriggerFailure], None] | None = None,
) -> tuple[list[Run], list[TriggerFailure]]:
    """Start one run per argument list, ``concurrency`` requests at a time (default: as many as
    the target allows in flight).

    A run that fails to start is reported in the failures, in input order; the others still
    start, and every created run is returned.
    """
    name = resolve_target(target, options)
    from lakeflow_host import workflow

    return workflow._trigger_many(
        name, str(job_id), arg_lists, target_options(name, options, "run"), concurrency, on_run
    )


#: How many runs ``list_job_runs`` shows across every lakeflow job when no limit is given.
DEFAULT_RUNS_LIMIT = 100


def list_job_runs(
    job_id: str | None = None,
    *,
    state: str | RunState | Sequence[str | RunState] | None = None,
    limit: int | None = None,
    target: str | None = None,
    options: Options | None = None,
) -> list[Run]:
    """The job's runs (every lakeflow job's when ``job_id`` is None), newest first; only those in
    ``state`` (one state or several) and at most ``limit`` of them when given. Without a job,
    ``limit`` defaults to :data:`DEFAULT_RUNS_LIMIT`, so that a busy workspace is never listed in
    full."""
    _positive(limit, "limit")
    wanted = _states(state)
    if job_id is None and limit is None:
        limit = DEFAULT_RUNS_LIMIT
    name = resolve_target(target, options)
    # Only unfinished states asked for: the target may list its active runs alone. A state
    # filter applies after the target's limit would, so the limit goes to the target without one.
    active_only = bool(wanted) and not any(s.is_final for s in wanted)
    runs = get_host().list_job_runs(
        name,
        None if job_id is None else str(job_id),
        target_options(name, options),
        active_only=active_only,
        limit=None if wanted else limit,
    )
    if wanted:
        runs = [run for run in runs if run.state in wanted]
    return runs if limit is None else runs[:limit]


def _states(state: str | RunState | Sequence[str | RunState] | None) -> set[RunState]:
    if state is None:
        return set()
    given = [state] if isinstance(state, (str, RunState)) else list(state)
    found = set()
    for item in given:
        try:
            found.add(RunState(str(item).upper()))
        except ValueError:
            names = ", ".join(s.value for s in RunState)
            raise LakeflowError(f"unknown run state {item!r}; use one of {names}") from None
    return found


def get_run(run_id: str, *, target: str | None = None, options: Options | None = None) -> Run:
    """One run's current state."""
    name = resolve_target(target, options)
    return get_host().get_run(name, str(run_id), target_options(name, options))


def get_run_logs(
    run_id: str, *, target: str | None = None, options: Options | None = None, tail: int | None = None
) -> RunLogs:
    """What the run printed; with ``tail``, only its last ``tail`` lines."""
    _positive(tail, "tail")
    name = resolve_target(target, options)
    logs = get_host().get_run_logs(name, str(run_id), target_options(name, options))
    if tail is not None:
        lines = logs.text.splitlines(keepends=True)
        if len(lines) > tail:
            import dataclasses

            logs = dataclasses.replace(logs, text="".join(lines[-tail:]), truncated=True)
    return logs


def follow_run_logs(
    run_id: str,
    on_text: Callable[[str], None],
    *,
    target: str | None = None,
    options: Options | None = None,
    timeout: float | None = None,
) -> RunLogs:
    """Stream what the run prints to ``on_text`` until the run ends (polling at the target's
    interval); returns its final logs. A timeout raises WaitTimeoutError; the run carries on."""
    from lakeflow_host import run_logs

    name = resolve_target(target, options)
    return run_logs.follow(name, str(run_id), target_options(name, options), on_text, timeout=timeout)


def save_run_logs(
    job_id: str,
    directory: str | Path,
    *,
    state: str | RunState | Sequence[str | RunState] | None = None,
    target: str | None = None,
    options: Options | None = None,
) -> tuple[Path, list[str]]:
    """Write each of the job's runs' logs (only those in ``state`` when given) to
    ``directory/<run_id>.log``; returns the folder and the run ids written."""
    from lakeflow_host import run_logs

    wanted = _states(state)
    name = resolve_target(target, options)
    return run_logs.save(name, str(job_id), Path(directory).expanduser(), wanted, target_options(name, options))


def prune(older_than_days: float = 30, *, target: str | None = None, options: Options | None = None) -> PruneReport:
    """Remove run records and logs older than ``older_than_days`` and uploads that old which no
    job uses (local: also their venvs); returns what was freed."""
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, (int, float)) or not older_than_days >= 0:
        raise LakeflowError("--older-than must be a number of days from 0, e.g. --older-than 30")
    name = resolve_target(target, options)
    return get_host().prune(name, float(older_than_days), target_options(name, options))


def cancel_run(run_id: str, *, target: str | None = None, options: Options | None = None) -> Run:
    """Stop a run (its whole process tree, or its place in the queue)."""
    name = resolve_target(target, options)
    return get_host().cancel_run(name, str(run_id), target_options(name, options))


def status(job_id: str, *, target: str | None = None, options: Options | None = None) -> JobStatus:
    """How a job's fan-out is doing: counts by state, the failed runs with the last line of each
    one's error, the oldest and newest start, and which artifact the runs used."""
    from lakeflow_host import fanout

    name = resolve_target(target, options)
    return fanout.status(name, str(job_id), target_options(name, options))


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin: its entry-point name, what it provides, its options, and where it
    comes from."""
    from lakeflow_host.results import PluginInfo

    host = get_host()
    infos = []
    for plugin_name, plugin in host.pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        builder_infos = tuple(info for info, owner in host.builder_infos.values() if owner is plugin)
        target_infos = tuple(info for info, owner in host.target_infos.values() if owner is plugin)
        kinds = tuple(k for k, found in (("builder", builder_infos), ("target", target_infos)) if found)
        dist, version = distribution_of(plugin_name)
        infos.append(
            PluginInfo(
                plugin_name,
                kinds,
                tuple(b.name for b in builder_infos),
                tuple(t.name for t in target_infos),
                dist,
                version,
                builder_infos + target_infos,
            )
        )
    return sorted(infos, key=lambda info: info.name)
