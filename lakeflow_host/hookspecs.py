"""The plugin contract: every hook lakeflow calls, when, and what it expects back.

A plugin is a module (or object) registered under the ``lakeflow`` entry-point group whose
functions carry the :data:`lakeflow_host.hookimpl` marker. A plugin is a **builder** when it
implements :func:`builder_names` and :func:`build_artifact`, and a **target** when it implements
:func:`target_names` and the job/run hooks. One plugin may be both.

Choosing an implementation: every operation hook receives the user's chosen ``builder`` or
``target`` name as its first argument. Return ``None`` when the name is not one of yours, so that
the host asks the next plugin. The host has already checked that some plugin declared the name.

Hook implementations may accept any subset of a hook's arguments, by name. Do not give them
defaults: pluggy does not pass arguments to parameters that have defaults.

Raise :class:`lakeflow_host.LakeflowError` for anything the user can fix; its message is shown as
one line. Any other exception is treated as a bug in the plugin and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from lakeflow_host.types import Artifact, Job, JobSpec, RemoteArtifact, Run, RunLogs

hookspec = pluggy.HookspecMarker("lakeflow")


@hookspec
def builder_names() -> list[str]:
    """Return the names this plugin answers to in ``--builder`` (e.g. ``["uv"]``).

    Called when the host validates ``--builder`` and when it lists plugins. A name must be
    unique across all installed plugins; the host refuses duplicates.
    """


@hookspec
def target_names() -> list[str]:
    """Return the names this plugin answers to in ``--target`` (e.g. ``["local"]``).

    Called when the host validates ``--target`` and when it lists plugins. A name must be
    unique across all installed plugins; the host refuses duplicates.
    """


@hookspec(firstresult=True)
def default_target(options: Mapping[str, str]) -> str | None:
    """Return your target name if it should be used when the user names no target.

    Called only when neither ``--target`` nor ``LAKEFLOW_TARGET`` is set. Answer from cheap,
    local facts (environment variables, a config file); do not touch the network.

    :param options: the ``-o key=value`` options of the command (e.g. ``profile``).
    :return: a name from your :func:`target_names`, or ``None`` to let others (and finally the
        host's ``local``) decide. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def build_artifact(
    builder: str, project_dir: Path, output_dir: Path | None, options: Mapping[str, str]
) -> Artifact | None:
    """Build ``project_dir`` into a deployable artifact.

    Called by ``lakeflow build-wheel`` and ``lakeflow launch``.

    :param builder: the name given to ``--builder``; return ``None`` unless it is yours.
    :param project_dir: the project's root directory, resolved to an absolute path. The builder
        checks it and raises :class:`~lakeflow_host.LakeflowError` naming the fix when it is not
        buildable (no project file, no ``lakeflow-task`` entry point, ...).
    :param output_dir: where the artifact must be written, or ``None`` for the builder's default
        (conventionally ``project_dir / "dist"``).
    :param options: ``-o key=value`` options for the builder (e.g. ``format=pex``).
    :return: the :class:`~lakeflow_host.Artifact`; its ``built`` is ``False`` when unchanged
        sources were not rebuilt. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def upload_artifact(target: str, artifact: Artifact, options: Mapping[str, str]) -> RemoteArtifact | None:
    """Put the artifact's files where the target's runs can read them.

    Called by ``lakeflow upload-wheel`` and ``lakeflow launch``. Uploading bytes that are
    already there must copy nothing (report ``bytes_uploaded=0``).

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param artifact: the built artifact, main file and companion wheels.
    :param options: ``-o key=value`` options for the target (e.g. ``volume=/Volumes/c/s/v``).
    :return: the :class:`~lakeflow_host.RemoteArtifact`; its ``path`` is what
        :func:`create_job` will receive. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def create_job(target: str, spec: JobSpec, options: Mapping[str, str]) -> Job | None:
    """Define a job that runs ``spec.package``'s ``lakeflow-task`` entry point.

    Called by ``lakeflow create-job`` and ``lakeflow launch``. The job installs the uploaded
    artifact found at ``spec.artifact`` together with the companion wheels uploaded with it.
    ``spec.env`` values are secrets: keep them out of anything job readers can see, and never
    return them.

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param spec: what to create; see :class:`~lakeflow_host.JobSpec`.
    :param options: ``-o key=value`` options for the target (e.g. ``node_type=...``).
    :return: the created :class:`~lakeflow_host.Job`. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def get_job(target: str, job_id: str, options: Mapping[str, str]) -> Job | None:
    """Look up one job.

    Called by the Python API's ``get_job`` and the MCP ``get_job`` tool.

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param job_id: the id :func:`create_job` returned. Raise
        :class:`~lakeflow_host.NotFoundError` when there is no such job.
    :param options: ``-o key=value`` options for the target.
    :return: the :class:`~lakeflow_host.Job`. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def list_jobs(target: str, options: Mapping[str, str]) -> list[Job] | None:
    """List the jobs lakeflow created on this target, newest first.

    Called by ``lakeflow list-jobs`` and the MCP ``list_jobs`` tool.

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param options: ``-o key=value`` options for the target.
    :return: the jobs (an empty list when there are none). Stops at first non-None result.
    """


@hookspec(firstresult=True)
def trigger_run(target: str, job_id: str, args: Sequence[str], options: Mapping[str, str]) -> Run | None:
    """Start one run of a job and return without waiting for it.

    Called by ``lakeflow trigger-run`` and, possibly from several threads at once, by
    ``lakeflow launch`` for each argument list. The task must see ``sys.argv[1:] == args``
    exactly and the environment variables ``DATABRICKS_RUN_ID`` and ``LAKEFLOW_RUN_ID`` holding
    the returned ``run_id``. Never start two runs for one call, even when a request is retried.

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param job_id: the id :func:`create_job` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param args: the task's arguments, verbatim (they may look like options, hold spaces or
        any unicode).
    :param options: ``-o key=value`` options for the target.
    :return: the new :class:`~lakeflow_host.Run`, usually ``QUEUED``. Stops at first non-None
        result.
    """


@hookspec(firstresult=True)
def trigger_concurrency(target: str, options: Mapping[str, str]) -> int | None:
    """Return how many :func:`trigger_run` calls a fan-out may make at once on your target.

    Called once per fan-out (``lakeflow launch`` with several runs). A remote API gains from
    many requests in flight; a target whose triggers are local and serialized answers ``1``,
    which also keeps run ids in input order.

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param options: ``-o key=value`` options for the target.
    :return: a positive number, or ``None`` for the host's default (16). Stops at first
        non-None result.
    """


@hookspec(firstresult=True)
def list_runs(target: str, job_id: str | None, options: Mapping[str, str]) -> list[Run] | None:
    """List runs, newest first.

    Called by ``lakeflow list-job-runs`` and the MCP tools.

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param job_id: only this job's runs (raise :class:`~lakeflow_host.NotFoundError` for an
        unknown one), or ``None`` for the runs of every lakeflow job.
    :param options: ``-o key=value`` options for the target.
    :return: every matching run, all pages fetched. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def get_run(target: str, run_id: str, options: Mapping[str, str]) -> Run | None:
    """Return one run's current state.

    Called by ``lakeflow wait`` in a polling loop, by ``get-run`` and by the MCP tools. A run
    whose process was lost must be reported as failed, never as running forever.

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param run_id: the id :func:`trigger_run` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param options: ``-o key=value`` options for the target.
    :return: the :class:`~lakeflow_host.Run`. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def get_run_logs(target: str, run_id: str, options: Mapping[str, str]) -> RunLogs | None:
    """Return what the run's task printed so far, and the run's error if it failed.

    Called by ``lakeflow get-run-logs``, also while the run is still running.

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param run_id: the id :func:`trigger_run` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param options: ``-o key=value`` options for the target.
    :return: the :class:`~lakeflow_host.RunLogs`; set ``note`` when there is nothing yet and
        ``truncated`` when the target kept only part of the output. Stops at first non-None
        result.
    """


@hookspec(firstresult=True)
def cancel_run(target: str, run_id: str, options: Mapping[str, str]) -> Run | None:
    """Stop a run: its whole process tree, or its place in the queue.

    Called by ``lakeflow cancel-run``. Cancelling a run that already ended changes nothing.

    :param target: the chosen target name; return ``None`` unless it is yours.
    :param run_id: the id :func:`trigger_run` returned; raise
        :class:`~lakeflow_host.NotFoundError` for an unknown one.
    :param options: ``-o key=value`` options for the target.
    :return: the run after the cancel request. Stops at first non-None result.
    """
