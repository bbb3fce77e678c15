"""Every lakeflow operation, as plain functions. The only module that calls plugin hooks.

The CLI, the MCP server and users' scripts are thin adapters over these functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
    launch_options,
    resolve_builder,
    resolve_target,
    target_options,
    targets,
)
from lakeflow_host.errors import LakeflowError
from lakeflow_host.inputs import _arg_list, _job_inputs, _names, _positive, read_env_vars  # noqa: F401
from lakeflow_host.plugins import distribution_of, get_host
from lakeflow_host.types import (
    Artifact,
    Job,
    JobSpec,
    Launch,
    PluginInfo,
    RemoteArtifact,
    Run,
    RunLogs,
    TriggerFailure,
)

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
    name = resolve_builder(builder)
    return _build(name, project_dir, output_dir, builder_options(name, options))


def _build(builder: str, project_dir: str | Path, output_dir: str | Path | None, options: dict[str, Any]) -> Artifact:
    path = Path(project_dir).expanduser()
    if not path.is_dir():
        raise LakeflowError(f"project directory {project_dir} does not exist; pass the folder holding pyproject.toml")
    out = Path(output_dir).expanduser().resolve() if output_dir else None
    artifact = get_host().build_artifact(builder, path.resolve(), out, options)
    from lakeflow_host import artifacts  # zipfile and friends: only builds and uploads need them

    artifacts.write_manifest(artifact)
    return artifact


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
    if not isinstance(artifact, Artifact):
        artifact = load_artifact(artifact)
    return get_host().upload_artifact(name, artifact, opts)


def _job_spec(
    name: str,
    package: str,
    artifact: str,
    max_workers: int,
    max_concurrent_runs: int | None,
    env_vars: Sequence[str],
) -> JobSpec:
    if not isinstance(name, str) or not name.strip():
        raise LakeflowError("the job name is empty; pass a name such as my-job")
    if not isinstance(package, str) or not package.strip():
        raise LakeflowError("the package name is empty; pass the [project] name of the built project")
    env = _job_inputs(max_workers, max_concurrent_runs, env_vars)
    return JobSpec(name, package, str(artifact), max_workers, max_concurrent_runs, env)


def create_job(
    name: str,
    package: str,
    artifact: str,
    *,
    max_workers: int = 1,
    max_concurrent_runs: int | None = None,
    env_vars: Sequence[str] = (),
    target: str | None = None,
    options: Options | None = None,
) -> Job:
    """Define a job that runs ``package``'s ``lakeflow-task`` entry point from the uploaded ``artifact``.

    ``env_vars`` are names; their values are read from this process's environment now.
    """
    target_name = resolve_target(target, options)
    opts = target_options(target_name, options, "job")
    spec = _job_spec(name, package, artifact, max_workers, max_concurrent_runs, env_vars)
    return get_host().create_job(target_name, spec, opts)


def get_job(job_id: str, *, target: str | None = None, options: Options | None = None) -> Job:
    """One job, by the id ``create_job`` returned."""
    name = resolve_target(target, options)
    return get_host().get_job(name, str(job_id), target_options(name, options))


def list_jobs(*, target: str | None = None, options: Options | None = None) -> list[Job]:
    """The jobs lakeflow created on the target, newest first."""
    name = resolve_target(target, options)
    return get_host().list_jobs(name, target_options(name, options))


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
    return _trigger_many(name, str(job_id), arg_lists, target_options(name, options, "run"), concurrency, on_run)


def _trigger_many(
    target: str,
    job_id: str,
    arg_lists: Sequence[Sequence[str]],
    options: dict[str, Any],
    concurrency: int | None,
    on_run: Callable[[int, Run | TriggerFailure], None] | None,
) -> tuple[list[Run], list[TriggerFailure]]:
    host = get_host()
    if isinstance(arg_lists, (str, bytes)):
        raise LakeflowError('arg_lists must be a list of argument lists, e.g. [["fi"], ["fie"]]')
    lists = [_arg_list(args) for args in arg_lists]
    if not lists:
        raise LakeflowError(
            "no runs to start; pass at least one argument list (an empty one, [], runs with no arguments)"
        )
    if concurrency is None:
        concurrency = host.target(target).triggers_in_flight
    _positive(concurrency, "concurrency")

    def one(index: int) -> Run | TriggerFailure:
        try:
            result: Run | TriggerFailure = host.trigger_run(target, job_id, lists[index], options)
        except LakeflowError as exc:
            result = TriggerFailure(index, lists[index], str(exc))
        if on_run:
            on_run(index, result)
        return result

    if concurrency == 1 or len(lists) == 1:
        results = [one(index) for index in range(len(lists))]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(concurrency, len(lists))) as pool:
            results = list(pool.map(one, range(len(lists))))
    runs = [r for r in results if isinstance(r, Run)]
    failures = [r for r in results if isinstance(r, TriggerFailure)]
    return runs, failures


def list_job_runs(job_id: str | None = None, *, target: str | None = None, options: Options | None = None) -> list[Run]:
    """The job's runs (every lakeflow job's when ``job_id`` is None), newest first."""
    name = resolve_target(target, options)
    return get_host().list_job_runs(name, None if job_id is None else str(job_id), target_options(name, options))


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


def cancel_run(run_id: str, *, target: str | None = None, options: Options | None = None) -> Run:
    """Stop a run (its whole process tree, or its place in the queue)."""
    name = resolve_target(target, options)
    return get_host().cancel_run(name, str(run_id), target_options(name, options))


def wait(
    run_ids: Sequence[str],
    *,
    target: str | None = None,
    options: Options | None = None,
    timeout: float | None = None,
    poll_interval: float | None = None,
    on_update: Callable[[list[Run]], None] | None = None,
) -> list[Run]:
    """Poll until every run is final; returns them in the order given. ``poll_interval``
    defaults to what the target asks for.

    A timeout raises :class:`LakeflowError`; the runs carry on.
    """
    name = resolve_target(target, options)
    opts = target_options(name, options)
    ids = [str(r) for r in _names(run_ids, "run_ids")]
    interval = get_host().target(name).poll_interval if poll_interval is None else poll_interval
    deadline = None if timeout is None else time.monotonic() + timeout
    current: dict[str, Run] = {}
    while True:
        _refresh(current, ids, name, opts)
        runs = [current[r] for r in ids]
        if on_update:
            on_update(runs)
        if all(r.state.is_final for r in runs):
            return runs
        if deadline is not None and time.monotonic() >= deadline:
            pending = ", ".join(r.run_id for r in runs if not r.state.is_final)
            raise LakeflowError(f"timed out after {timeout:g}s; still running: {pending} (they carry on)")
        time.sleep(interval)


#: From this many unfinished runs of one job on, one ``list_job_runs`` beats a ``get_run`` each.
_LIST_THRESHOLD = 5


def _refresh(current: dict[str, Run], run_ids: list[str], target: str, options: dict[str, Any]) -> None:
    host = get_host()
    pending: dict[str, list[str]] = {}
    for run_id in run_ids:
        run = current.get(run_id)
        if run is None or not run.state.is_final:
            pending.setdefault(run.job_id if run else "", []).append(run_id)
    for job_id, ids in pending.items():
        if job_id and len(ids) >= _LIST_THRESHOLD:
            # 1000 runs of one job: a few pages of runs/list instead of 1000 runs/get per poll.
            listed = {r.run_id: r for r in host.list_job_runs(target, job_id, options)}
            current.update({run_id: listed[run_id] for run_id in ids if run_id in listed})
            ids = [run_id for run_id in ids if run_id not in listed]
        for run_id in ids:
            current[run_id] = host.get_run(target, run_id, options)


def launch(
    project_dir: str | Path,
    arg_lists: Sequence[Sequence[str]] = ((),),
    *,
    name: str | None = None,
    builder: str | None = None,
    target: str | None = None,
    max_workers: int = 1,
    max_concurrent_runs: int | None = None,
    env_vars: Sequence[str] = (),
    options: Options | None = None,
    concurrency: int | None = None,
    on_step: Callable[[str], None] | None = None,
    on_run: Callable[[int, Run | TriggerFailure], None] | None = None,
) -> Launch:
    """Build, upload, create a job, and start one run per argument list."""
    builder_name = resolve_builder(builder)
    target_name = resolve_target(target, options)
    build_opts, target_opts = launch_options(builder_name, target_name, options)
    # Everything the job needs is checked before the build, so a typo costs no build or upload.
    if isinstance(arg_lists, (str, bytes)) or not arg_lists:
        raise LakeflowError(
            'launch needs at least one argument list, e.g. [["fi"], ["fie"]] ([[]]: one run, no arguments)'
        )
    lists = [_arg_list(args) for args in arg_lists]
    _job_inputs(max_workers, max_concurrent_runs, env_vars)
    step = on_step or (lambda message: None)
    step(f"building {project_dir}")
    artifact = _build(builder_name, project_dir, None, build_opts)
    step(f"{'built' if artifact.built else 'unchanged, reusing'} {artifact.path.name}")
    host = get_host()
    remote = host.upload_artifact(target_name, artifact, target_opts)
    step(f"uploaded to {remote.path} ({remote.bytes_uploaded} bytes sent)")
    spec = _job_spec(
        name or artifact.package, artifact.package, remote.path, max_workers, max_concurrent_runs, env_vars
    )
    job = host.create_job(target_name, spec, target_opts)
    step(f"created job {job.job_id}")
    runs, failures = _trigger_many(target_name, job.job_id, lists, target_opts, concurrency, on_run)
    return Launch(artifact, remote, job, tuple(runs), tuple(failures))


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin: its entry-point name, what it provides, its options, and where it
    comes from."""
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
