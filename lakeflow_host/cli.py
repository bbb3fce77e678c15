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

from lakeflow_host import api, render
from lakeflow_host.cli_options import command_class, common, debug_enabled, set_debug
from lakeflow_host.cli_parsing import EnvVarCommand, LaunchCommand, read_runs_file
from lakeflow_host.errors import LakeflowError
from lakeflow_host.types import Run, TriggerFailure


class LakeflowGroup(click.Group):
    """Shows :class:`LakeflowError` as one line and exit code 1; real bugs keep their traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LakeflowError as exc:
            if debug_enabled():
                raise
            raise click.ClickException(str(exc)) from None


def job_options(*, env_var_metavar: str, env_var_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options that shape a job, shared by ``create-job`` and ``launch``."""
    params = [
        click.option(
            "--max-workers",
            type=int,
            default=1,
            show_default=True,
            help="Cluster size runs may autoscale to (local target: concurrent runs).",
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
    artifact = api.build_wheel(project_dir, builder=builder, output_dir=output_dir, options=options)
    if not artifact.built:
        click.echo(f"lakeflow: sources unchanged, reusing {artifact.path.name}", err=True)
    emit(artifact, as_json, str(artifact.path))


@cli.command("upload-wheel", cls=command_class("upload"))
@click.argument("wheel", type=click.Path(dir_okay=True))
@common()
def upload_wheel_cmd(wheel: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Upload a built WHEEL (with its companion wheels) to the target; print the remote path."""
    remote = api.upload_wheel(wheel, target=target, options=options)
    if remote.bytes_uploaded == 0:
        click.echo("lakeflow: already uploaded, nothing copied", err=True)
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
    max_workers: int,
    max_concurrent_runs: int | None,
    env_vars: tuple[str, ...],
    target: str,
    options: dict[str, str],
    as_json: bool,
) -> None:
    """Create job NAME running PACKAGE's lakeflow-task entry point from REMOTE_PATH; print the job id."""
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
@click.argument("job_id")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def trigger_run_cmd(job_id: str, args: tuple[str, ...], target: str, options: dict[str, str], as_json: bool) -> None:
    """Start a run of JOB_ID; everything after JOB_ID is passed to the task verbatim. Prints the run id."""
    run = api.trigger_run(job_id, args, target=target, options=options)
    if run.url:
        click.echo(f"lakeflow: {run.url}", err=True)
    emit(run, as_json, run.run_id)


@cli.command("list-jobs", cls=command_class("any"))
@common()
def list_jobs_cmd(target: str, options: dict[str, str], as_json: bool) -> None:
    """List the jobs lakeflow created, newest first."""
    jobs = api.list_jobs(target=target, options=options)
    emit(jobs, as_json, render.jobs_table(jobs))


@cli.command("list-job-runs", cls=command_class("any"))
@click.argument("job_id", required=False)
@common()
def list_job_runs_cmd(job_id: str | None, target: str, options: dict[str, str], as_json: bool) -> None:
    """List JOB_ID's runs (every job's without it), newest first."""
    runs = api.list_job_runs(job_id, target=target, options=options)
    emit(runs, as_json, render.runs_table(runs))


@cli.command("get-run", cls=command_class("any"))
@click.argument("run_id")
@common()
def get_run_cmd(run_id: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Show one run's state."""
    run = api.get_run(run_id, target=target, options=options)
    emit(run, as_json, render.runs_table([run]))


@cli.command("get-run-logs", cls=command_class("any"))
@click.argument("run_id")
@click.option("--tail", type=click.IntRange(min=1), help="Only the last N lines.")
@common()
def get_run_logs_cmd(run_id: str, tail: int | None, target: str, options: dict[str, str], as_json: bool) -> None:
    """Print what RUN_ID's task wrote (also while it runs), then its error if it failed."""
    logs = api.get_run_logs(run_id, target=target, options=options, tail=tail)
    if as_json:
        emit(logs, True, "")
        return
    if logs.note:
        click.echo(f"lakeflow: {logs.note}", err=True)
    if logs.truncated:
        click.echo("lakeflow: the log is truncated; showing its end", err=True)
    click.echo(logs.text, nl=not logs.text.endswith("\n") and bool(logs.text))
    for extra in (logs.error, logs.error_trace):
        if extra:
            click.echo(extra)


@cli.command("cancel-run", cls=command_class("any"))
@click.argument("run_id")
@common()
def cancel_run_cmd(run_id: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Stop RUN_ID: its whole process tree, or its place in the queue."""
    run = api.cancel_run(run_id, target=target, options=options)
    emit(run, as_json, f"{run.run_id} {run.state.value}")


def _wait_and_report(
    run_ids: list[str],
    target: str,
    options: dict[str, str],
    timeout: float | None,
    as_json: bool,
    table_to_stderr: bool,
) -> None:
    shown = [""]
    tty = sys.stderr.isatty()

    def update(runs: list[Run]) -> None:
        line = render.progress(runs)
        if line != shown[0]:
            click.echo(("\r\033[K" if tty else "") + "lakeflow: " + line, err=True, nl=not tty)
            shown[0] = line

    runs = api.wait(run_ids, target=target, options=options, timeout=timeout, on_update=update)
    if tty:
        click.echo("", err=True)
    if as_json and not table_to_stderr:
        emit(runs, True, "")
    else:
        click.echo(render.runs_table(runs), err=table_to_stderr)
    bad = [r for r in runs if r.state.value != "SUCCEEDED"]
    if bad:
        raise LakeflowError(
            f"{len(bad)} of {len(runs)} runs did not succeed: "
            + ", ".join(f"{r.run_id} {r.state.value}" for r in bad)
            + "; see `lakeflow get-run-logs RUN_ID`"
        )


@cli.command("wait", cls=command_class("any"))
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--timeout", type=float, help="Give up after this many seconds (the runs carry on).")
@common()
def wait_cmd(
    run_ids: tuple[str, ...], timeout: float | None, target: str, options: dict[str, str], as_json: bool
) -> None:
    """Wait for runs to finish, showing progress; exit 1 unless all succeeded."""
    _wait_and_report(list(run_ids), target, options, timeout, as_json, table_to_stderr=False)


@cli.command(
    "launch", cls=command_class("launch", ("builder", "target"), base=LaunchCommand), context_settings=_VERBATIM
)
@click.option("--runs-from", metavar="FILE", help="One run per line: the line's shell-quoted arguments ('-': stdin).")
@click.option("--name", help="Job name [default: the package name].")
@job_options(
    env_var_metavar="NAME",
    env_var_help="An environment variable whose local value every run sees (repeatable; kept secret).",
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
    max_workers: int,
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
        env_vars=env_vars,
        options=options,
        on_step=lambda message: click.echo(f"lakeflow: {message}", err=True),
        on_run=on_run,
    )
    emit(result, as_json, "\n".join([result.job.job_id, *(r.run_id for r in result.runs)]))
    sys.stdout.flush()
    if result.failures:
        click.echo(f"lakeflow: {len(result.failures)} of {len(arg_lists)} runs were not started", err=True)
    if wait_ and result.runs:
        ours = api.declared_by_target(target, options, "any")
        _wait_and_report([r.run_id for r in result.runs], target, ours, timeout, as_json, table_to_stderr=True)
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
