"""The ``lakeflow`` command: a thin click adapter over :mod:`lakeflow_host.api`.

stdout carries only the value a command produces (an id, a path, a table, JSON), so that
``JOB=$(lakeflow create-job ...)`` works; notices and progress go to stderr.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import Any

import click

from lakeflow_host import api, cli_jobs, render
from lakeflow_host.cli_options import (
    command_class,
    common,
    complete_job_ids,
    complete_run_ids,
    debug_enabled,
    notice,
    quiet_option,
    set_debug,
)
from lakeflow_host.cli_parsing import EnvVarCommand, LaunchCommand, read_runs_file
from lakeflow_host.cli_watch import EXIT_TIMEOUT, wait_and_report, wait_options, working
from lakeflow_host.errors import LakeflowError, WaitTimeoutError
from lakeflow_host.types import Run, RunState, TriggerFailure


class LakeflowGroup(click.Group):
    """Shows :class:`LakeflowError` as one line and exit code 1; real bugs keep their traceback."""

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


def job_options(*, env_var_metavar: str, env_var_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options that shape a job, shared by ``create-job`` and ``launch``."""
    params = [
        click.option(
            "--max-workers",
            type=int,
            help="Cluster size runs may autoscale to (local target: concurrent runs) "
            "[default: [tool.lakeflow] max-workers, else 1].",
        ),
        click.option("--max-concurrent-runs", type=int, help="How many runs may run at once [default: per target]."),
        click.option("--env-var", "env_vars", multiple=True, metavar=env_var_metavar, help=env_var_help),
    ]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for param in reversed(params):
            fn = param(fn)
        return fn

    return decorate


def emit(value: Any, as_json: bool, text: str) -> None:
    click.echo(render.as_json(value) if as_json else text)


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
      lakeflow upload-wheel WHEEL                   prints the remote path
      lakeflow create-job NAME PACKAGE REMOTE_PATH  prints the job id
      lakeflow trigger-run JOB_ID ARGS...           prints the run id
      lakeflow list-job-runs JOB_ID / get-run-logs RUN_ID
    or all at once: lakeflow launch PROJECT_DIR --runs-from args.txt --wait
    """


@cli.command("build-wheel", cls=command_class("build", ("builder",)))
@click.argument("project_dir", type=click.Path(file_okay=False))
@click.option(
    "--output-dir", type=click.Path(file_okay=False), help="Where to write the wheel [default: PROJECT_DIR/dist]."
)
@common(target=False, builder=True)
def build_wheel_cmd(
    project_dir: str, output_dir: str | None, builder: str | None, options: dict[str, str], as_json: bool
) -> None:
    """Build PROJECT_DIR into a wheel (and wheels of its path dependencies); print its path."""
    with working(f"building {project_dir}"):
        artifact = api.build_wheel(project_dir, builder=builder, output_dir=output_dir, options=options)
    if not artifact.built:
        notice(f"sources unchanged, reusing {artifact.path.name}")
    emit(artifact, as_json, str(artifact.path))


@cli.command("upload-wheel", cls=command_class("upload"))
@click.argument("wheel", type=click.Path(dir_okay=True))
@common()
def upload_wheel_cmd(wheel: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Upload a built WHEEL (with its companion wheels) to the target; print the remote path."""
    with working(f"uploading {wheel}"):
        remote = api.upload_wheel(wheel, target=target, options=options)
    if remote.bytes_uploaded == 0:
        notice("already uploaded, nothing copied")
    emit(remote, as_json, remote.path)


@cli.command("create-job", cls=command_class("job", base=EnvVarCommand))
@click.argument("name")
@click.argument("package")
@click.argument("remote_path")
@job_options(
    env_var_metavar="NAME...", env_var_help="Environment variables whose local values every run sees (kept secret)."
)
@common()
def create_job_cmd(
    name: str,
    package: str,
    remote_path: str,
    max_workers: int | None,
    max_concurrent_runs: int | None,
    env_vars: tuple[str, ...],
    target: str,
    options: dict[str, str],
    as_json: bool,
) -> None:
    """Create job NAME running PACKAGE's lakeflow-task entry point from REMOTE_PATH; print the job id."""
    with working(f"creating job {name}"):
        job = api.create_job(
            name,
            package,
            remote_path,
            max_workers=max_workers,
            max_concurrent_runs=max_concurrent_runs,
            env_vars=env_vars,
            target=target,
            options=options,
        )
    emit(job, as_json, job.job_id)


_VERBATIM = {"ignore_unknown_options": True, "allow_interspersed_args": False}


@cli.command("trigger-run", cls=command_class("run"), context_settings=_VERBATIM)
@common()
@click.argument("job_id", shell_complete=complete_job_ids)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def trigger_run_cmd(job_id: str, args: tuple[str, ...], target: str, options: dict[str, str], as_json: bool) -> None:
    """Start a run of JOB_ID; everything after JOB_ID is passed to the task verbatim. Prints the run id."""
    run = api.trigger_run(job_id, args, target=target, options=options)
    if run.url:
        notice(f"{run.url}")
    emit(run, as_json, run.run_id)


@cli.command("list-jobs", cls=command_class("any"))
@click.option("--name", help="Only jobs of this exact name.")
@common()
def list_jobs_cmd(name: str | None, target: str, options: dict[str, str], as_json: bool) -> None:
    """List the jobs lakeflow created, newest first."""
    jobs = api.list_jobs(name=name, target=target, options=options)
    emit(jobs, as_json, render.jobs_table(jobs))


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
    """List JOB_ID's runs (every job's without it, with a JOB column), newest first."""
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


@cli.command(
    "launch", cls=command_class("launch", ("builder", "target"), base=LaunchCommand), context_settings=_VERBATIM
)
@click.option("--runs-from", metavar="FILE", help="One run per line: the line's shell-quoted arguments ('-': stdin).")
@click.option(
    "--name",
    help="Job name; a job of this name on the target is updated, not created again "
    "[default: [tool.lakeflow] job-name, else the package name].",
)
@job_options(
    env_var_metavar="NAME...",
    env_var_help="Environment variables whose local values every run sees (kept secret) "
    "[default: [tool.lakeflow] env-vars].",
)
@click.option("--wait", "wait_", is_flag=True, help="Wait for the runs, showing progress; exit 1 if any failed.")
@click.option("--timeout", type=float, help="With --wait: give up after this many seconds.")
@common(builder=True)
@click.argument("project_dir", type=click.Path(file_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def launch_cmd(
    project_dir: str,
    args: tuple[str, ...],
    runs_from: str | None,
    name: str | None,
    max_workers: int | None,
    max_concurrent_runs: int | None,
    env_vars: tuple[str, ...],
    wait_: bool,
    timeout: float | None,
    builder: str | None,
    target: str,
    options: dict[str, str],
    as_json: bool,
) -> None:
    """Build PROJECT_DIR, upload it, create a job and start runs: one with ARGS, or one per line of
    --runs-from. Prints the job id, then one run id per line.

    lakeflow's options may come before or after PROJECT_DIR; the first argument that is not one
    of them (or everything after `--`) starts the task's arguments."""
    if runs_from and args:
        raise LakeflowError("give either ARGS or --runs-from, not both")
    arg_lists = read_runs_file(runs_from) if runs_from else [list(args)]

    def on_run(index: int, result: Run | TriggerFailure) -> None:
        if isinstance(result, TriggerFailure):
            click.echo(f"lakeflow: run {index + 1} ({shlex.join(result.args)}) not started: {result.error}", err=True)

    result = api.launch(
        project_dir,
        arg_lists,
        name=name,
        builder=builder,
        target=target,
        max_workers=max_workers,
        max_concurrent_runs=max_concurrent_runs,
        env_vars=env_vars or None,
        options=options,
        on_step=lambda message: notice(f"{message}"),
        on_run=on_run,
    )
    emit(result, as_json, "\n".join([result.job.job_id, *(r.run_id for r in result.runs)]))
    sys.stdout.flush()
    if result.failures:
        notice(f"{len(result.failures)} of {len(arg_lists)} runs were not started")
    if wait_ and result.runs:
        ours = wait_options(target, options, project_dir)
        wait_and_report([r.run_id for r in result.runs], target, ours, timeout, as_json, to_stdout=False)
    if result.failures:
        raise SystemExit(1)


@cli.command("plugins")
@common(target=False)
def plugins_cmd(options: dict[str, str], as_json: bool) -> None:
    """List loaded plugins: name, kind, builder/target names, distribution and version."""
    plugins = api.list_plugins()
    emit(plugins, as_json, render.plugins_table(plugins))


@cli.command("mcp")
def mcp_cmd() -> None:
    """Serve lakeflow's tools to AI agents over MCP (stdio)."""
    from lakeflow_host import mcp_server  # the mcp SDK is heavy; only this command pays for it

    mcp_server.main()


for _command in cli_jobs.COMMANDS:
    cli.add_command(_command)


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
