"""The commands for living with jobs and fan-outs: list-jobs, get-job, delete-job, trigger-runs,
status, rerun, prune."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from lakeflow_host import api, render
from lakeflow_host.cli_options import (
    command_class,
    common,
    complete_job_ids,
    complete_run_ids,
    emit,
    notice,
)
from lakeflow_host.cli_parsing import read_runs_file
from lakeflow_host.cli_watch import EXIT_FAILED, wait_and_report, wait_options
from lakeflow_host.types import Run

if TYPE_CHECKING:
    from lakeflow_host.results import JobStatus, TriggerFailure


def _wait_option(fn: Any) -> Any:
    fn = click.option("--timeout", type=float, help="With --wait: give up after this many seconds (exit 3).")(fn)
    return click.option(
        "--wait", "wait_", is_flag=True, help="Wait for the runs, showing progress; exit 1 if any failed."
    )(fn)


def _after_trigger(
    runs: list[Run],
    failures: list[TriggerFailure],
    wait_: bool,
    timeout: float | None,
    target: str,
    options: dict[str, Any],
    as_json: bool,
) -> None:
    for failure in failures:
        click.echo(f"lakeflow: run {failure.index + 1} not started: {failure.error}", err=True)
    emit(runs, as_json, "\n".join(run.run_id for run in runs))
    if wait_ and runs:
        wait_and_report(list(runs), target, wait_options(target, options), timeout, False, to_stdout=False)
    if failures:
        raise SystemExit(EXIT_FAILED)


@click.command("get-job", cls=command_class("any"))
@click.argument("job_id", shell_complete=complete_job_ids)
@common()
def get_job_cmd(job_id: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Show one job: its name, package, artifact and settings."""
    job = api.get_job(job_id, target=target, options=options)
    emit(job, as_json, render.jobs_table([job]) + f"\nartifact: {job.artifact}")


@click.command("delete-job", cls=command_class("any"))
@click.argument("job_id", shell_complete=complete_job_ids)
@click.option("--cancel-runs", is_flag=True, help="Cancel the job's queued and running runs first.")
@common()
def delete_job_cmd(job_id: str, cancel_runs: bool, target: str, options: dict[str, str], as_json: bool) -> None:
    """Delete JOB_ID, its runs' records and its stored env values; on the local target also its
    artifact and venv when no other job uses them. Refuses while runs are active unless
    --cancel-runs."""
    job = api.delete_job(job_id, cancel_runs=cancel_runs, target=target, options=options)
    notice(f"deleted job {job.job_id} ({job.name})")
    emit(job, as_json, job.job_id)


@click.command("trigger-runs", cls=command_class("run"))
@click.argument("job_id", shell_complete=complete_job_ids)
@click.option(
    "--runs-from", metavar="FILE", required=True, help="One run per line: shell-quoted arguments ('-': stdin)."
)
@_wait_option
@common()
def trigger_runs_cmd(
    job_id: str,
    runs_from: str,
    wait_: bool,
    timeout: float | None,
    target: str,
    options: dict[str, str],
    as_json: bool,
) -> None:
    """Start one run of JOB_ID per line of --runs-from; print one run id per line."""
    arg_lists = read_runs_file(runs_from)
    runs, failures = api.trigger_runs(job_id, arg_lists, target=target, options=options)
    _after_trigger(runs, failures, wait_, timeout, target, options, as_json)


@click.command("rerun", cls=command_class("run"))
@click.argument("run_ids", nargs=-1, shell_complete=complete_run_ids)
@click.option(
    "--failed", "failed_of", metavar="JOB_ID", help="Rerun each argument list of JOB_ID whose newest run failed."
)
@_wait_option
@common()
def rerun_cmd(
    run_ids: tuple[str, ...],
    failed_of: str | None,
    wait_: bool,
    timeout: float | None,
    target: str,
    options: dict[str, str],
    as_json: bool,
) -> None:
    """Start RUN_IDS again (new runs of the same job with the same arguments), or with --failed
    JOB_ID every failed one; print one new run id per line."""
    if bool(run_ids) == bool(failed_of):
        raise click.UsageError("give RUN_IDS or --failed JOB_ID")
    runs, failures = api.rerun(run_ids, failed_of=failed_of, target=target, options=options)
    if not runs and not failures:
        notice(f"job {failed_of} has no failed runs to rerun")
    _after_trigger(runs, failures, wait_, timeout, target, options, as_json)


def status_text(status: JobStatus) -> str:
    job = status.job
    counts = ", ".join(f"{n} {state.lower()}" for state, n in status.counts.items()) or "no runs"
    lines = [
        f"job {job.job_id} ({job.name}) on {job.target}: {status.total} runs: {counts}",
        f"started: oldest {render.when(status.oldest_start)}, newest {render.when(status.newest_start)}",
    ]
    if status.failed:
        rows = [[f.run_id, f.state.value, f.error] for f in status.failed]
        lines += ["", render.table(["RUN", "STATE", "ERROR"], rows)]
    if status.artifacts:
        rows = [[path or "-", str(len(ids))] for path, ids in status.artifacts.items()]
        lines += ["", render.table(["ARTIFACT", "RUNS"], rows)]
    return "\n".join(lines)


@click.command("status", cls=command_class("any"))
@click.argument("job_id", shell_complete=complete_job_ids)
@common()
def status_cmd(job_id: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """How JOB_ID's runs are doing: counts by state, each failed run with the last line of its
    error, the oldest and newest start, and the artifact the runs used."""
    status = api.status(job_id, target=target, options=options)
    emit(status, as_json, status_text(status))


@click.command("prune", cls=command_class("any"))
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    default=30,
    show_default=True,
    metavar="DAYS",
    help="Remove runs that ended, and unused uploads made, more than DAYS ago.",
)
@common()
def prune_cmd(older_than: float, target: str, options: dict[str, str], as_json: bool) -> None:
    """Remove old run records and logs, and uploads no job uses (local: also their venvs; Databricks:
    upload folders); print what was freed."""
    report = api.prune(older_than, target=target, options=options)
    text = f"removed {report.runs} runs and {len(report.removed)} uploads, freed {_size(report.bytes_freed)}"
    emit(report, as_json, "\n".join([*report.removed, text]))


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"


@click.command("list-jobs", cls=command_class("any"))
@click.option("--name", help="Only jobs of this exact name.")
@common()
def list_jobs_cmd(name: str | None, target: str, options: dict[str, str], as_json: bool) -> None:
    """List the jobs lakeflow created, newest first."""
    jobs = api.list_jobs(name=name, target=target, options=options)
    emit(jobs, as_json, render.jobs_table(jobs))


COMMANDS = (prune_cmd, get_job_cmd, list_jobs_cmd, delete_job_cmd, trigger_runs_cmd, rerun_cmd, status_cmd)
