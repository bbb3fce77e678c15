"""Every lakeflow operation, as plain functions. The only module that calls plugin hooks.

The CLI, the MCP server and users' scripts are thin adapters over these functions.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lakeflow_host.errors import LakeflowError, UnknownNameError, UnsupportedOperationError
from lakeflow_host.plugins import distribution_of, get_plugin_manager
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

BUILDER_ENV = "LAKEFLOW_BUILDER"
TARGET_ENV = "LAKEFLOW_TARGET"
DEFAULT_BUILDER = "uv"
FALLBACK_TARGET = "local"
#: How many trigger requests a fan-out keeps in flight at once.
DEFAULT_FANOUT = 16

Options = Mapping[str, str]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# -- choosing plugins ---------------------------------------------------------------------------


def _names_by_plugin(kind: str) -> dict[str, str]:
    """Map each builder (or target) name to the plugin declaring it; refuse duplicates."""
    pm = get_plugin_manager()
    hook = pm.hook.builder_names if kind == "builder" else pm.hook.target_names
    owners: dict[str, str] = {}
    for impl in hook.get_hookimpls():
        for name in impl.function() or ():
            if name in owners:
                raise LakeflowError(
                    f"{kind} name {name!r} is declared by both plugins {owners[name]!r} and "
                    f"{impl.plugin_name!r}; disable one with LAKEFLOW_DISABLE_PLUGINS"
                )
            owners[name] = impl.plugin_name
    return owners


def builders() -> list[str]:
    """The names ``--builder`` accepts."""
    return sorted(_names_by_plugin("builder"))


def targets() -> list[str]:
    """The names ``--target`` accepts."""
    return sorted(_names_by_plugin("target"))


def resolve_builder(builder: str | None = None) -> str:
    """The builder to use: the argument, else ``$LAKEFLOW_BUILDER``, else ``uv``; checked."""
    name = builder or os.environ.get(BUILDER_ENV) or DEFAULT_BUILDER
    available = builders()
    if name not in available:
        raise UnknownNameError("builder", name, available)
    return name


def resolve_target(target: str | None = None, options: Options | None = None) -> str:
    """The target to use: the argument, else ``$LAKEFLOW_TARGET``, else what a plugin says is
    configured (Databricks when a workspace is), else ``local``; checked."""
    name = target or os.environ.get(TARGET_ENV)
    if not name:
        name = get_plugin_manager().hook.default_target(options=dict(options or {})) or FALLBACK_TARGET
    available = targets()
    if name not in available:
        raise UnknownNameError("target", name, available)
    return name


def _call(hook_name: str, kind: str, name: str, **kwargs: Any) -> Any:
    result = getattr(get_plugin_manager().hook, hook_name)(**{kind: name}, **kwargs)
    if result is None:
        raise UnsupportedOperationError(f"{kind} {name!r} does not implement {hook_name}; use another --{kind}")
    return result


def _target_call(hook_name: str, target: str | None, options: Options | None, **kwargs: Any) -> Any:
    opts = dict(options or {})
    return _call(hook_name, "target", resolve_target(target, opts), options=opts, **kwargs)


# -- the workflow -------------------------------------------------------------------------------


def build_wheel(
    project_dir: str | Path,
    *,
    builder: str | None = None,
    output_dir: str | Path | None = None,
    options: Options | None = None,
) -> Artifact:
    """Build a project into an artifact (a wheel, with companion wheels of path dependencies)."""
    path = Path(project_dir).expanduser()
    if not path.is_dir():
        raise LakeflowError(f"project directory {project_dir} does not exist; pass the folder holding pyproject.toml")
    name = resolve_builder(builder)
    out = Path(output_dir).expanduser().resolve() if output_dir else None
    artifact: Artifact = _call(
        "build_artifact", "builder", name, project_dir=path.resolve(), output_dir=out, options=dict(options or {})
    )
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
    if not isinstance(artifact, Artifact):
        artifact = load_artifact(artifact)
    return _target_call("upload_artifact", target, options, artifact=artifact)


def read_env_vars(names: Iterable[str]) -> dict[str, str]:
    """The local values of ``names``; an unset or malformed name is an error naming it."""
    values: dict[str, str] = {}
    for name in names:
        if not _ENV_NAME.match(name):
            # Never echoed back: what lands here is often a value pasted instead of a name.
            raise LakeflowError(
                "an --env-var name is not a valid environment variable name (was a value pasted "
                "instead of a name?); use letters, digits and _, not starting with a digit"
            )
        if name not in os.environ:
            raise LakeflowError(
                f"environment variable {name} is not set; export {name}=... before passing --env-var {name}"
            )
        values[name] = os.environ[name]
    return values


def _positive(value: int | None, flag: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise LakeflowError(f"{flag} must be a positive integer, got {value!r}")


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
    if not name.strip():
        raise LakeflowError("the job name is empty; pass a name such as my-job")
    if not package.strip():
        raise LakeflowError("the package name is empty; pass the [project] name of the built project")
    _positive(max_workers, "--max-workers")
    _positive(max_concurrent_runs, "--max-concurrent-runs")
    spec = JobSpec(name, package, str(artifact), max_workers, max_concurrent_runs, read_env_vars(env_vars))
    return _target_call("create_job", target, options, spec=spec)


def get_job(job_id: str, *, target: str | None = None, options: Options | None = None) -> Job:
    return _target_call("get_job", target, options, job_id=str(job_id))


def list_jobs(*, target: str | None = None, options: Options | None = None) -> list[Job]:
    return _target_call("list_jobs", target, options)


def trigger_run(
    job_id: str, args: Sequence[str] = (), *, target: str | None = None, options: Options | None = None
) -> Run:
    """Start one run of the job with ``args`` as the task's ``sys.argv[1:]``; returns at once."""
    return _target_call("trigger_run", target, options, job_id=str(job_id), args=tuple(args))


def trigger_runs(
    job_id: str,
    arg_lists: Sequence[Sequence[str]],
    *,
    target: str | None = None,
    options: Options | None = None,
    concurrency: int | None = None,
    on_run: Callable[[int, Run | TriggerFailure], None] | None = None,
) -> tuple[list[Run], list[TriggerFailure]]:
    """Start one run per argument list, ``concurrency`` requests at a time (default: what the
    target asks for, else 16).

    A run that fails to start is reported in the failures, in input order; the others still
    start, and every created run is returned.
    """
    opts = dict(options or {})
    name = resolve_target(target, opts)
    pm = get_plugin_manager()
    if concurrency is None:
        concurrency = pm.hook.trigger_concurrency(target=name, options=opts) or DEFAULT_FANOUT
    _positive(concurrency, "concurrency")
    trigger = pm.hook.trigger_run

    def one(index: int) -> Run | TriggerFailure:
        args = tuple(arg_lists[index])
        try:
            run = trigger(target=name, job_id=str(job_id), args=args, options=opts)
            if run is None:
                raise UnsupportedOperationError(f"target {name!r} does not implement trigger_run")
            result: Run | TriggerFailure = run
        except LakeflowError as exc:
            result = TriggerFailure(index, args, str(exc))
        if on_run:
            on_run(index, result)
        return result

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(arg_lists)))) as pool:
        results = list(pool.map(one, range(len(arg_lists))))
    runs = [r for r in results if isinstance(r, Run)]
    failures = [r for r in results if isinstance(r, TriggerFailure)]
    return runs, failures


def list_job_runs(job_id: str | None = None, *, target: str | None = None, options: Options | None = None) -> list[Run]:
    """The job's runs (every lakeflow job's when ``job_id`` is None), newest first."""
    return _target_call("list_runs", target, options, job_id=None if job_id is None else str(job_id))


def get_run(run_id: str, *, target: str | None = None, options: Options | None = None) -> Run:
    return _target_call("get_run", target, options, run_id=str(run_id))


def get_run_logs(
    run_id: str, *, target: str | None = None, options: Options | None = None, tail: int | None = None
) -> RunLogs:
    """What the run printed; with ``tail``, only its last ``tail`` lines."""
    logs: RunLogs = _target_call("get_run_logs", target, options, run_id=str(run_id))
    if tail is not None:
        _positive(tail, "tail")
        lines = logs.text.splitlines(keepends=True)
        if len(lines) > tail:
            import dataclasses

            logs = dataclasses.replace(logs, text="".join(lines[-tail:]), truncated=True)
    return logs


def cancel_run(run_id: str, *, target: str | None = None, options: Options | None = None) -> Run:
    """Stop a run (its whole process tree, or its place in the queue)."""
    return _target_call("cancel_run", target, options, run_id=str(run_id))


def wait(
    run_ids: Sequence[str],
    *,
    target: str | None = None,
    options: Options | None = None,
    timeout: float | None = None,
    poll_interval: float = 0.5,
    on_update: Callable[[list[Run]], None] | None = None,
) -> list[Run]:
    """Poll until every run is final; returns them in the order given.

    A timeout raises :class:`LakeflowError`; the runs carry on.
    """
    opts = dict(options or {})
    name = resolve_target(target, opts)
    deadline = None if timeout is None else time.monotonic() + timeout
    current: dict[str, Run] = {}
    while True:
        _refresh(current, [str(r) for r in run_ids], name, opts)
        runs = [current[str(r)] for r in run_ids]
        if on_update:
            on_update(runs)
        if all(r.state.is_final for r in runs):
            return runs
        if deadline is not None and time.monotonic() >= deadline:
            pending = ", ".join(r.run_id for r in runs if not r.state.is_final)
            raise LakeflowError(f"timed out after {timeout:g}s; still running: {pending} (they carry on)")
        time.sleep(poll_interval)


#: From this many unfinished runs of one job on, one ``list_runs`` beats a ``get_run`` each.
_LIST_THRESHOLD = 5


def _refresh(current: dict[str, Run], run_ids: list[str], target: str, options: dict[str, str]) -> None:
    pending: dict[str, list[str]] = {}
    for run_id in run_ids:
        run = current.get(run_id)
        if run is None or not run.state.is_final:
            pending.setdefault(run.job_id if run else "", []).append(run_id)
    for job_id, ids in pending.items():
        if job_id and len(ids) >= _LIST_THRESHOLD:
            # 1000 runs of one job: a few pages of runs/list instead of 1000 runs/get per poll.
            listed = {r.run_id: r for r in _call("list_runs", "target", target, job_id=job_id, options=options)}
            current.update({run_id: listed[run_id] for run_id in ids if run_id in listed})
            ids = [run_id for run_id in ids if run_id not in listed]
        for run_id in ids:
            current[run_id] = _call("get_run", "target", target, run_id=run_id, options=options)


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
    opts = dict(options or {})
    target_name = resolve_target(target, opts)
    # Everything the job needs is checked before the build, so a typo costs no build or upload.
    read_env_vars(env_vars)
    _positive(max_workers, "--max-workers")
    _positive(max_concurrent_runs, "--max-concurrent-runs")
    step = on_step or (lambda message: None)
    step(f"building {project_dir}")
    artifact = build_wheel(project_dir, builder=builder, options=opts)
    step(f"{'built' if artifact.built else 'unchanged, reusing'} {artifact.path.name}")
    remote = upload_wheel(artifact, target=target_name, options=opts)
    step(f"uploaded to {remote.path} ({remote.bytes_uploaded} bytes sent)")
    job = create_job(
        name or artifact.package,
        artifact.package,
        remote.path,
        max_workers=max_workers,
        max_concurrent_runs=max_concurrent_runs,
        env_vars=env_vars,
        target=target_name,
        options=opts,
    )
    step(f"created job {job.job_id}")
    runs, failures = trigger_runs(
        job.job_id, arg_lists, target=target_name, options=opts, concurrency=concurrency, on_run=on_run
    )
    return Launch(artifact, remote, job, tuple(runs), tuple(failures))


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin: its entry-point name, what it provides, and where it comes from."""
    pm = get_plugin_manager()
    infos = []
    for plugin_name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        impls = {"builder_names": (), "target_names": ()}
        for hook_name in impls:
            hook = getattr(pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                if impl.plugin is plugin:
                    impls[hook_name] = tuple(impl.function() or ())
        builder_names, target_names = impls["builder_names"], impls["target_names"]
        kinds = tuple(k for k, names in (("builder", builder_names), ("target", target_names)) if names)
        dist, version = distribution_of(plugin_name)
        infos.append(PluginInfo(plugin_name, kinds, builder_names, target_names, dist, version))
    return sorted(infos, key=lambda info: info.name)
