"""The multi-step operations of :mod:`lakeflow_host.api`: launch (build, upload, create or update
the project's job, fan out), fan-outs, rerun and wait. Kept apart so each module stays small;
users import them from :mod:`lakeflow_host` or :mod:`lakeflow_host.api`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lakeflow_host.choosing import (
    Options,
    launch_options,
    project,
    resolve_builder,
    resolve_target,
    target_options,
)
from lakeflow_host.errors import LakeflowError, UnsupportedOperationError, WaitTimeoutError
from lakeflow_host.inputs import _arg_list, _job_inputs, _names, _positive
from lakeflow_host.plugins import get_host
from lakeflow_host.types import Artifact, JobSpec, Launch, Run, TriggerFailure


def _build(builder: str, project_dir: str | Path, output_dir: str | Path | None, options: dict[str, Any]) -> Artifact:
    path = Path(project_dir).expanduser()
    if not path.is_dir():
        raise LakeflowError(f"project directory {project_dir} does not exist; pass the folder holding pyproject.toml")
    out = Path(output_dir).expanduser().resolve() if output_dir else None
    artifact = get_host().build_artifact(builder, path.resolve(), out, options)
    from lakeflow_host import artifacts  # zipfile and friends: only builds and uploads need them

    artifacts.write_manifest(artifact)
    return artifact


def _job_spec(
    name: str,
    package: str,
    artifact: str,
    max_workers: int | None,
    max_concurrent_runs: int | None,
    env_vars: Sequence[str],
) -> JobSpec:
    if not isinstance(name, str) or not name.strip():
        raise LakeflowError("the job name is empty; pass a name such as my-job")
    if not isinstance(package, str) or not package.strip():
        raise LakeflowError("the package name is empty; pass the [project] name of the built project")
    env = _job_inputs(max_workers, max_concurrent_runs, env_vars)
    return JobSpec(name, package, str(artifact), 1 if max_workers is None else max_workers, max_concurrent_runs, env)


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
            pending = [r.run_id for r in runs if not r.state.is_final]
            shown = ", ".join(pending[:20]) + (f" and {len(pending) - 20} more" if len(pending) > 20 else "")
            raise WaitTimeoutError(f"timed out after {timeout:g}s; still running: {shown} (they carry on)")
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
    max_workers: int | None = None,
    max_concurrent_runs: int | None = None,
    env_vars: Sequence[str] | None = None,
    options: Options | None = None,
    concurrency: int | None = None,
    on_step: Callable[[str], None] | None = None,
    on_run: Callable[[int, Run | TriggerFailure], None] | None = None,
) -> Launch:
    """Build, upload, and start one run per argument list of the project's job.

    The job is named ``name``, else the project's ``[tool.lakeflow] job-name``, else its package;
    when a job of that name exists on the target it is updated to the new artifact (same id,
    earlier runs keep theirs), otherwise it is created. Arguments left out come from
    ``[tool.lakeflow]``.
    """
    config = project(project_dir)
    builder_name = resolve_builder(builder, config)
    target_name = resolve_target(target, options, config)
    build_opts, target_opts = launch_options(builder_name, target_name, options, config)
    # Everything the job needs is checked before the build, so a typo costs no build or upload.
    if isinstance(arg_lists, (str, bytes)) or not arg_lists:
        raise LakeflowError(
            'launch needs at least one argument list, e.g. [["fi"], ["fie"]] ([[]]: one run, no arguments)'
        )
    lists = [_arg_list(args) for args in arg_lists]
    workers = max_workers if max_workers is not None else config.max_workers
    concurrent = max_concurrent_runs if max_concurrent_runs is not None else config.max_concurrent_runs
    env_names = config.env_vars if env_vars is None else _names(env_vars, "env_vars")
    _job_inputs(1 if workers is None else workers, concurrent, env_names)
    step = on_step or (lambda message: None)
    step(f"building {project_dir}")
    artifact = _build(builder_name, project_dir, None, build_opts)
    step(f"{'built' if artifact.built else 'unchanged, reusing'} {artifact.path.name}")
    host = get_host()
    remote = host.upload_artifact(target_name, artifact, target_opts)
    step(f"uploaded to {remote.path} ({remote.bytes_uploaded} bytes sent)")
    job_name = name or config.job_name or artifact.package
    spec = _job_spec(job_name, artifact.package, remote.path, workers, concurrent, env_names)
    existing = next(iter(host.list_jobs(target_name, target_opts, name=job_name)), None)
    job = None
    if existing is not None:
        try:
            job = host.update_job(target_name, existing.job_id, spec, target_opts)
            step(f"updated job {job.job_id} ({job_name}) to the new artifact")
        except UnsupportedOperationError:
            # A target without update_job still launches, as before one job per project.
            step(f"target {target_name} cannot update job {existing.job_id}; creating a new one")
            existing = None
    if job is None:
        job = host.create_job(target_name, spec, target_opts)
        step(f"created job {job.job_id} ({job_name})")
    runs, failures = _trigger_many(target_name, job.job_id, lists, target_opts, concurrency, on_run)
    return Launch(artifact, remote, job, tuple(runs), tuple(failures), updated=existing is not None)


def rerun(
    run_ids: Sequence[str] = (),
    *,
    failed_of: str | None = None,
    target: str | None = None,
    options: Options | None = None,
    concurrency: int | None = None,
) -> tuple[list[Run], list[TriggerFailure]]:
    """Start the given runs again: new runs of the same job with the same arguments. With
    ``failed_of=JOB_ID``, every argument list of that job whose newest run FAILED. A failure
    to start one run is reported in the failures (its index into the runs to rerun)."""
    from lakeflow_host import fanout

    ids = [str(r) for r in _names(run_ids, "run_ids")]
    if bool(ids) == (failed_of is not None):
        raise LakeflowError("give either run ids or failed_of=JOB_ID (--failed JOB_ID), not both or neither")
    name = resolve_target(target, options)
    opts = target_options(name, options, "run")
    if failed_of is not None:
        originals = fanout.still_failed(get_host().list_job_runs(name, str(failed_of), opts))
        if not originals:
            return [], []
    else:
        originals = [get_host().get_run(name, run_id, opts) for run_id in ids]
    runs: list[Run] = []
    failures: list[TriggerFailure] = []
    for job_id, indexed in fanout.by_job(originals).items():
        started, failed = _trigger_many(name, job_id, [originals[i].args for i in indexed], opts, concurrency, None)
        runs += started
        failures += [dataclasses.replace(f, index=indexed[f.index]) for f in failed]
    return runs, failures
