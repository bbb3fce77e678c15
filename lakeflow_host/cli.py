"""The ``lakeflow`` command: a thin click adapter over :mod:`lakeflow_host.api`.

stdout carries only the value a command produces (an id, a path, a table, JSON), so that
``JOB=$(lakeflow create-job ...)`` works; notices and progress go to stderr.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from lakeflow_host import api, render
from lakeflow_host.cli_options import (
    command_class,
    common,
    complete_job_ids,
    complete_run_ids,
    debug_enabled,
    emit,
    notice,
    quiet_option,
    set_debug,
)
from lakeflow_host.cli_parsing import VERBATIM
from lakeflow_host.cli_watch import EXIT_TIMEOUT, wait_and_report
from lakeflow_host.errors import LakeflowError, WaitTimeoutError
from lakeflow_host.types import RunState

#: Commands defined elsewhere, by module: each module loads (with what it needs: the build and
#: job workflow, the result types) only when one of its commands runs or ``--help`` lists them,
#: so that the commands that list and watch runs start quickly.
LAZY_COMMANDS = {
    "lakeflow_host.cli_build": ("build-wheel", "create-job", "launch", "upload-wheel"),
    "lakeflow_host.cli_jobs": ("delete-job", "get-job", "list-jobs", "prune", "rerun", "status", "trigger-runs"),
    "lakeflow_host.cli_tools": ("init", "mcp", "plugins"),
}


class LakeflowGroup(click.Group):
    """Shows :class:`LakeflowError` as one line and exit code 1; real bugs keep their traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *(name for names in LAZY_COMMANDS.values() for name in names)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module, names in LAZY_COMMANDS.items():
            if cmd_name in names and cmd_name not in self.commands:
                for command in importlib.import_module(module).COMMANDS:
                    self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LakeflowError as exc:
            if debug_enabled():
                raise
            error = click.ClickException(str(exc))
            if isinstance(exc, WaitTimeoutError):
                error.exit_code = EXIT_TIMEOUT
            raise error from None


@click.group(cls=LakeflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lakeflow-host", prog_name="lakeflow")
@click.option(
    "--debug", is_flag=True, expose_value=False, callback=set_debug, is_eager=True, help="Show tracebacks for errors."
)
@quiet_option()
def cli() -> None:
    """Build a Python project into a wheel, upload it, and run many copies of it.

    \b
    The workflow:
      lakeflow build-wheel PROJECT_DIR              prints the wheel path
      lakeflow upload-wheel WHEEL                   prints the ARTIFACT's path
      lakeflow create-job NAME PACKAGE ARTIFACT     prints the job id
      lakeflow trigger-run JOB_ID ARGS...           prints the run id
      lakeflow list-job-runs JOB_ID / get-run-logs RUN_ID
    or all at once: lakeflow launch PROJECT_DIR --runs-from args.txt --wait
    """


@cli.command("trigger-run", cls=command_class("run"), context_settings=VERBATIM)
@common()
@click.argument("job_id", shell_complete=complete_job_ids)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def trigger_run_cmd(job_id: str, args: tuple[str, ...], target: str, options: dict[str, str], as_json: bool) -> None:
    """Start a run of JOB_ID; everything after JOB_ID is passed to the task verbatim. Prints the run id."""
    run = api.trigger_run(job_id, args, target=target, options=options)
    if run.url:
        notice(f"{run.url}")
    emit(run, as_json, run.run_id)


_STATES = click.Choice([s.value for s in RunState], case_sensitive=False)


@cli.command("list-job-runs", cls=command_class("any"))
@click.argument("job_id", required=False, shell_complete=complete_job_ids)
@click.option("--state", "states", multiple=True, type=_STATES, help="Only runs in this state (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="At most N runs (the newest).")
@common()
def list_job_runs_cmd(
    job_id: str | None,
    states: tuple[str, ...],
    limit: int | None,
    target: str,
    options: dict[str, str],
    as_json: bool,
) -> None:
    """List JOB_ID's runs (every lakeflow job's without it, the newest 100 unless --limit, with a JOB
    column), newest first."""
    runs = api.list_job_runs(job_id, state=states or None, limit=limit, target=target, options=options)
    emit(runs, as_json, render.runs_table(runs, with_job=job_id is None))


@cli.command("get-run", cls=command_class("any"))
@click.argument("run_id", shell_complete=complete_run_ids)
@common()
def get_run_cmd(run_id: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Show one run's state."""
    run = api.get_run(run_id, target=target, options=options)
    emit(run, as_json, render.runs_table([run]))


@cli.command("get-run-logs", cls=command_class("any"))
@click.argument("run_id", required=False, shell_complete=complete_run_ids)
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing what the run writes until it ends.")
@click.option("--job", "job_id", metavar="JOB_ID", help="Every run of JOB_ID (with --to): one file per run.")
@click.option("--state", "states", multiple=True, type=_STATES, help="With --job: only runs in this state.")
@click.option(
    "--to", "to_dir", metavar="DIR", type=click.Path(file_okay=False), help="With --job: write DIR/<run_id>.log."
)
@common()
def get_run_logs_cmd(
    run_id: str | None,
    tail: int | None,
    follow: bool,
    job_id: str | None,
    states: tuple[str, ...],
    to_dir: str | None,
    target: str,
    options: dict[str, str],
    as_json: bool,
) -> None:
    """Print what RUN_ID's task wrote (also while it runs), then its error if it failed; with
    --follow, until it ends. With --job JOB_ID --to DIR, save every run's log (or those in
    --state) to DIR/<run_id>.log and print DIR."""
    if job_id is not None or to_dir is not None:
        if run_id is not None or job_id is None or to_dir is None or follow or tail:
            raise click.UsageError("save a job's logs with --job JOB_ID --to DIR (and optionally --state), no RUN_ID")
        folder, written = api.save_run_logs(job_id, to_dir, state=states or None, target=target, options=options)
        notice(f"wrote {len(written)} log files")
        emit({"directory": str(folder), "run_ids": written}, as_json, str(folder))
        return
    if run_id is None:
        raise click.UsageError("give RUN_ID (or --job JOB_ID --to DIR)")
    if follow:
        if tail or as_json:
            raise click.UsageError("--follow prints the log as it grows; drop --tail and --json")
        logs = api.follow_run_logs(run_id, lambda text: click.echo(text, nl=False), target=target, options=options)
        if logs.text and not logs.text.endswith("\n"):
            click.echo("")
        for extra in (logs.error, logs.error_trace):
            if extra:
                click.echo(extra)
        ending = "" if logs.state is RunState.SUCCEEDED else "; exit 1"
        notice(f"run {logs.run_id} ended {logs.state.value}{ending}")
        if logs.state is not RunState.SUCCEEDED:
            raise SystemExit(1)
        return
    logs = api.get_run_logs(run_id, target=target, options=options, tail=tail)
    if as_json:
        emit(logs, True, "")
        return
    if logs.note:
        notice(f"{logs.note}")
    if logs.truncated:
        notice("the log is truncated; showing its end")
    click.echo(logs.text, nl=not logs.text.endswith("\n") and bool(logs.text))
    for extra in (logs.error, logs.error_trace):
        if extra:
            click.echo(extra)


@cli.command("cancel-run", cls=command_class("any"))
@click.argument("run_id", shell_complete=complete_run_ids)
@common()
def cancel_run_cmd(run_id: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Stop RUN_ID: its whole process tree, or its place in the queue."""
    run = api.cancel_run(run_id, target=target, options=options)
    emit(run, as_json, f"{run.run_id} {run.state.value}")


@cli.command("wait", cls=command_class("any"))
@click.argument("run_ids", nargs=-1, required=True, shell_complete=complete_run_ids)
@click.option("--timeout", type=float, help="Give up after this many seconds (the runs carry on).")
@common()
def wait_cmd(
    run_ids: tuple[str, ...], timeout: float | None, target: str, options: dict[str, str], as_json: bool
) -> None:
    """Wait for runs to finish, showing progress, then print one summary line.

    Exit codes: 0 all succeeded, 1 any failed or was canceled, 2 usage error, 3 timed out."""
    wait_and_report(list(run_ids), target, options, timeout, as_json, to_stdout=True)


def main() -> None:
    """The console script: every error is one line on stderr and a non-zero exit code."""
    try:
        code = cli.main(prog_name="lakeflow", standalone_mode=False)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "lakeflow"
        click.echo(f"Error: {exc.format_message().rstrip('.')}; see `{command} --help`", err=True)
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
