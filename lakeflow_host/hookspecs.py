"""The plugin contract: every hook lakeflow calls, when, and what it expects back.

A plugin is a module (or object) registered under the ``lakeflow`` entry-point group whose
functions carry the :data:`lakeflow_host.hookimpl` marker. A plugin is a **builder** when it
implements :func:`builders` and :func:`build_artifact`, and a **target** when it implements
:func:`targets` and the job/run hooks. One plugin may be both.

Routing: the host maps every builder and target name to the plugin that declared it, and calls
an operation hook on that plugin only. A plugin never checks names; the ``builder`` or
``target`` argument tells a plugin that declares several names which one was chosen (leave it
out of your implementation's parameters when you declare one).

Options: each hook receives ``options``, the plugin's own declared :class:`~lakeflow_host.Option`
settings for the chosen name, converted to their declared types, with defaults filled in. A key
the user gave that no plugin in play declares never reaches a hook: the host refuses it.

Hook implementations may accept any subset of a hook's arguments, by name. Do not give them
defaults: pluggy does not pass arguments to parameters that have defaults.

Raise :class:`lakeflow_host.LakeflowError` for anything the user can fix; its message is shown as
one line. Any other exception is treated as a bug in the plugin and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from lakeflow_host.types import (
        Artifact,
        BuilderInfo,
        Job,
        JobSpec,
        PruneReport,
        RemoteArtifact,
        Run,
        RunLogs,
        TargetInfo,
    )

hookspec = pluggy.HookspecMarker("lakeflow")


@hookspec
def builders() -> list[BuilderInfo]:
    """Declare the builders this plugin provides: each one's name and options.

    Called once per process, when the host first needs to know the builders (to check
    ``--builder``, to build ``--help`` and to list plugins); keep it free of I/O. A name must be
    unique across all installed plugins; the host refuses duplicates.

    :return: one :class:`~lakeflow_host.BuilderInfo` per ``--builder`` name.
    """


@hookspec
def targets() -> list[TargetInfo]:
    """Declare the targets this plugin provides: each one's name, options and properties.

    Called once per process, like :func:`builders`. A name must be unique across all installed
    plugins; the host refuses duplicates.

    :return: one :class:`~lakeflow_host.TargetInfo` per ``--target`` name.
    """


@hookspec(firstresult=True)
def target_is_configured(target: str, options: Mapping[str, Any]) -> bool | None:
    """Say whether the user has set this target up, so that it is the default.

    Called only when neither ``--target`` nor ``LAKEFLOW_TARGET`` (nor the project's
    ``[tool.lakeflow] target``) names a target, for each target whose plugin implements it.
    Answer from cheap, local facts (environment variables, a config file); do not touch the
    network. When no target says yes, the host uses ``local``; when several do, the user must
    choose.

    :param target: one of your target names.
    :param options: your options, as for every target hook (e.g. ``profile``).
    :return: ``True`` when configured.
    """


@hookspec(firstresult=True)
def build_artifact(
    builder: str, project_dir: Path, output_dir: Path | None, options: Mapping[str, Any]
) -> Artifact | None:
    """Build ``project_dir`` into a deployable artifact.

    Called by ``lakeflow build-wheel`` and ``lakeflow launch``.

    :param builder: the chosen builder, one of yours.
    :param project_dir: the project's root directory, resolved to an absolute path. The builder
        checks it and raises :class:`~lakeflow_host.LakeflowError` naming the fix when it is not
        buildable (no project file, no ``lakeflow-task`` entry point, ...).
    :param output_dir: where the artifact must be written, or ``None`` for the builder's default
        (conventionally ``project_dir / "dist"``).
    :param options: your declared options (e.g. ``format``).
    :return: the :class:`~lakeflow_host.Artifact`; its ``built`` is ``False`` when unchanged
        sources were not rebuilt.
    """


@hookspec(firstresult=True)
def upload_artifact(target: str, artifact: Artifact, options: Mapping[str, Any]) -> RemoteArtifact | None:
    """Put the artifact's files where the target's runs can read them.

    Called by ``lakeflow upload-wheel`` and ``lakeflow launch``. Uploading bytes that are
    already there must copy nothing (report ``bytes_uploaded=0``).

    :param target: the chosen target, one of yours.
    :param artifact: the built artifact: main file, companion wheels, and the ``requirements``
        file of locked pins when the project has a lock (runs must install exactly those).
    :param options: your declared options.
    :return: the :class:`~lakeflow_host.RemoteArtifact`; its ``path`` is what
        :func:`create_job` will receive.
    """


@hookspec(firstresult=True)
def create_job(target: str, spec: JobSpec, options: Mapping[str, Any]) -> Job | None:
    """Define a job that runs ``spec.package``'s ``lakeflow-task`` entry point.

    Called by ``lakeflow create-job`` and ``lakeflow launch``. The job installs the uploaded
    artifact found at ``spec.artifact`` together with the companion wheels and pins uploaded with it.
    ``spec.env`` values are secrets: keep them out of anything job readers can see, and never
    return them.

    :param target: the chosen target, one of yours.
    :param spec: what to create; see :class:`~lakeflow_host.JobSpec`.
    :param options: your declared options.
    :return: the created :class:`~lakeflow_host.Job`.
    """


@hookspec(firstresult=True)
def get_job(target: str, job_id: str, options: Mapping[str, Any]) -> Job | None:
    """Look up one job.

    Called by the Python API's ``get_job`` and the MCP ``get_job`` tool.

    :param target: the chosen target, one of yours.
    :param job_id: the id :func:`create_job` returned. Raise
        :class:`~lakeflow_host.NotFoundError` when there is no such job.
    :param options: your declared options.
    :return: the :class:`~lakeflow_host.Job`.
    """


@hookspec(firstresult=True)
def list_jobs(target: str, name: str | None, options: Mapping[str, Any]) -> list[Job] | None:
    """List the jobs lakeflow created on this target, newest first.

    Called by ``lakeflow list-jobs``, the MCP ``list_jobs`` tool, and ``lakeflow launch`` to
    find the project's job by name.

    :param target: the chosen target, one of yours.
    :param name: when given, only jobs of this name are needed: filter where that is cheaper
        (a remote API's name filter), or ignore it (the host keeps only exact matches).
    :param options: your declared options.
    :return: the jobs (an empty list when there are none).
    """


@hookspec(firstresult=True)
def trigger_run(target: str, job_id: str, args: Sequence[str], options: Mapping[str, Any]) -> Run | None:
    """Start one run of a job and return without waiting for it.

    Called by ``lakeflow trigger-run`` and, possibly from several threads at once, by
    ``lakeflow launch`` for each argument list. The task must see ``sys.argv[1:] == args``
    exactly and the environment variables ``DATABRICKS_RUN_ID`` and ``LAKEFLOW_RUN_ID`` holding
    the returned ``run_id``. Never start two runs for one call, even when a request is retried.

    :param target: the chosen target, one of yours.
    :param job_id: the id :func:`create_job` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param args: the task's arguments, verbatim (they may look like options, hold spaces or
        any unicode).
    :param options: your declared options.
    :return: the new :class:`~lakeflow_host.Run`, usually ``QUEUED``.
    """


@hookspec(firstresult=True)
def list_job_runs(target: str, job_id: str | None, options: Mapping[str, Any]) -> list[Run] | None:
    """List runs, newest first.

    Called by ``lakeflow list-job-runs`` and the MCP tools.

    :param target: the chosen target, one of yours.
    :param job_id: only this job's runs (raise :class:`~lakeflow_host.NotFoundError` for an
        unknown one), or ``None`` for the runs of every lakeflow job.
    :param options: your declared options.
    :return: every matching run, all pages fetched.
    """


@hookspec(firstresult=True)
def get_run(target: str, run_id: str, options: Mapping[str, Any]) -> Run | None:
    """Return one run's current state.

    Called by ``lakeflow wait`` in a polling loop, by ``get-run`` and by the MCP tools. A run
    whose process was lost must be reported as failed, never as running forever.

    :param target: the chosen target, one of yours.
    :param run_id: the id :func:`trigger_run` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param options: your declared options.
    :return: the :class:`~lakeflow_host.Run`.
    """


@hookspec(firstresult=True)
def get_run_logs(target: str, run_id: str, options: Mapping[str, Any]) -> RunLogs | None:
    """Return what the run's task printed so far, and the run's error if it failed.

    Called by ``lakeflow get-run-logs``, also while the run is still running.

    :param target: the chosen target, one of yours.
    :param run_id: the id :func:`trigger_run` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param options: your declared options.
    :return: the :class:`~lakeflow_host.RunLogs`; set ``note`` when there is nothing yet and
        ``truncated`` when the target kept only part of the output.
    """


@hookspec(firstresult=True)
def cancel_run(target: str, run_id: str, options: Mapping[str, Any]) -> Run | None:
    """Stop a run: its whole process tree, or its place in the queue.

    Called by ``lakeflow cancel-run``. Cancelling a run that already ended changes nothing.

    :param target: the chosen target, one of yours.
    :param run_id: the id :func:`trigger_run` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param options: your declared options.
    :return: the run after the cancel request.
    """


@hookspec(firstresult=True)
def update_job(target: str, job_id: str, spec: JobSpec, options: Mapping[str, Any]) -> Job | None:
    """Point an existing job at a new artifact and settings, keeping its id and its runs.

    Called by ``lakeflow launch`` when a job of the same name exists on the target (one job per
    project). Runs started before the update keep the artifact they were started with; runs
    started after it use ``spec.artifact``. ``spec.env`` replaces the job's stored values:
    delete the old ones once no run needs them. Raise :class:`~lakeflow_host.LakeflowError`
    when the job cannot be updated now. A target that leaves this hook out gets a new job on
    every ``launch``, as with ``create-job``.

    :param target: the chosen target, one of yours.
    :param job_id: the id :func:`create_job` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param spec: the job's new definition, as for :func:`create_job`.
    :param options: your declared options.
    :return: the updated :class:`~lakeflow_host.Job`, with the same ``job_id``.
    """


@hookspec(firstresult=True)
def delete_job(target: str, job_id: str, cancel_runs: bool, options: Mapping[str, Any]) -> Job | None:
    """Delete a job with everything stored for it: its env values and, where nothing else uses
    them, its artifact's files and environment.

    Called by ``lakeflow delete-job``.

    :param target: the chosen target, one of yours.
    :param job_id: the id :func:`create_job` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param cancel_runs: cancel the job's queued and running runs first; when ``False`` and some
        are active, raise :class:`~lakeflow_host.LakeflowError` naming ``--cancel-runs``.
    :param options: your declared options.
    :return: the job as it was before deletion.
    """


@hookspec(firstresult=True)
def prune(target: str, older_than_days: float, options: Mapping[str, Any]) -> PruneReport | None:
    """Free what the target keeps for lakeflow and no longer needs.

    Called by ``lakeflow prune``. Remove the records and logs of runs that ended more than
    ``older_than_days`` ago (where the target keeps them), and uploaded artifacts (with their
    environments) older than that which no job uses. Never touch a job, an active run, or what
    an active run may still install.

    :param target: the chosen target, one of yours.
    :param older_than_days: the age, in days, from which a run or an unused upload is removed.
    :param options: your declared options.
    :return: a :class:`~lakeflow_host.PruneReport` of what was removed and how many bytes that freed.
    """
