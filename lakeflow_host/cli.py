"""The ``lakeflow`` command: a thin click adapter over :mod:`lakeflow_host.api`.

stdout carries only the value a command produces (an id, a path, a table, JSON), so that
``JOB=$(lakeflow create-job ...)`` works; notices and progress go to stderr.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
from collections.abc import Callable
from typing import Any

import click

from lakeflow_host import api, render
from lakeflow_host.errors import LakeflowError
from lakeflow_host.types import Run, TriggerFailure

DEBUG_ENV = "LAKEFLOW_DEBUG"


def _debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


class LakeflowGroup(click.Group):
    """Shows :class:`LakeflowError` as one line and exit code 1; real bugs keep their traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LakeflowError as exc:
            if _debug_enabled():
                raise
            raise click.ClickException(str(exc)) from None


class EnvVarCommand(click.Command):
    """Lets ``--env-var A B C`` name several variables, as the seed workflow's scripts do."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        taken: int | None = None  # names the current --env-var has taken; None outside one
        for arg in [*args, None]:
            if taken is not None and arg is not None and not arg.startswith("-"):
                rewritten += ["--env-var", arg]
                taken += 1
                continue
            if taken == 0:
                raise click.UsageError("--env-var needs at least one NAME, e.g. --env-var MY_SECRET_KEY", ctx)
            taken = 0 if arg == "--env-var" else None
            if arg is not None and taken is None:
                rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


class LaunchCommand(click.Command):
    """``launch PROJECT_DIR [OPTIONS] [ARGS]...``: lakeflow's own options may come before or after
    PROJECT_DIR, until the first task argument (or ``--``); from there on, everything reaches the
    task verbatim."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value: dict[str, bool] = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                for name in (*param.opts, *param.secondary_opts):
                    takes_value[name] = not param.is_flag and not param.count
        ours: list[str] = []
        rest = list(args)
        project: str | None = None
        while rest:
            token = rest[0]
            name = token.split("=", 1)[0]
            if name not in takes_value:
                if project is None and token.startswith("-"):
                    return super().parse_args(ctx, args)  # `--`, or an unknown option: click's words
                if project is not None:
                    if token == "--":
                        rest.pop(0)
                    break
                project = rest.pop(0)
                continue
            ours.append(rest.pop(0))
            if takes_value[name] and "=" not in token and rest:
                ours.append(rest.pop(0))
        if project is None:
            return super().parse_args(ctx, args)
        return super().parse_args(ctx, [*ours, project, *rest])


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ[DEBUG_ENV] = "1"


def _parse_options(values: tuple[str, ...], profile: str | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LakeflowError(f"-o {item!r} is not KEY=VALUE; write it as -o key=value")
        options[key.strip()] = value
    if profile:
        options["profile"] = profile
    return options


# Sugar for the Databricks target's -o settings: each flag becomes the option of the same name.
_TARGET_FLAGS = ("volume", "spark_version", "node_type", "serverless")


def common(
    *, target: bool = True, builder: bool = False, upload: bool = False, job: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every command shares; the wrapped function receives ``options`` and ``out``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, option: tuple[str, ...], profile: str | None, as_json: bool, **kwargs: Any) -> Any:
            options = _parse_options(option, profile)
            for key in _TARGET_FLAGS:
                value = kwargs.pop(key, None)
                if value:
                    options[key] = "true" if value is True else str(value)
            if "target" in kwargs:
                kwargs["target"] = api.resolve_target(kwargs["target"], options)
                click.echo(f"lakeflow: target {kwargs['target']}", err=True)
            return fn(*args, options=options, as_json=as_json, **kwargs)

        params = [
            click.option("--json", "as_json", is_flag=True, help="Print structured JSON instead of text."),
            click.option(
                "-o",
                "--option",
                multiple=True,
                metavar="KEY=VALUE",
                help="A plugin-specific setting, e.g. -o volume=/Volumes/c/s/v (repeatable).",
            ),
            click.option("--profile", metavar="NAME", help="Databricks config profile (~/.databrickscfg)."),
            click.option(
                "--debug",
                is_flag=True,
                expose_value=False,
                callback=_set_debug,
                is_eager=True,
                help="Show tracebacks for errors.",
            ),
        ]
        if target:
            params.append(
                click.option(
                    "--target",
                    metavar="NAME",
                    envvar="LAKEFLOW_TARGET",
                    help="Where jobs run [env LAKEFLOW_TARGET; default: databricks if configured, else local].",
                )
            )
        if upload:
            params.append(
                click.option(
                    "--volume",
                    metavar="/Volumes/CATALOG/SCHEMA/VOLUME",
                    help="Databricks: upload to this Unity Catalog volume instead of workspace files.",
                )
            )
        if job:
            params += [
                click.option("--spark-version", metavar="VERSION", help="Databricks: the job cluster's runtime."),
                click.option("--node-type", metavar="TYPE", help="Databricks: the job cluster's node type."),
                click.option(
                    "--serverless",
                    is_flag=True,
                    default=None,
                    help="Databricks: run on serverless jobs compute instead of a job cluster.",
                ),
            ]
        if builder:
            params.append(
                click.option(
                    "--builder",
                    metavar="NAME",
                    envvar="LAKEFLOW_BUILDER",
                    help="How projects are built [env LAKEFLOW_BUILDER; default: uv].",
                )
            )
        for param in reversed(params):
            wrapper = param(wrapper)
        return wrapper

    return decorate


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
    "--debug", is_flag=True, expose_value=False, callback=_set_debug, is_eager=True, help="Show tracebacks for errors."
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


@cli.command("build-wheel")
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


@cli.command("upload-wheel")
@click.argument("wheel", type=click.Path(dir_okay=True))
@common(upload=True)
def upload_wheel_cmd(wheel: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Upload a built WHEEL (with its companion wheels) to the target; print the remote path."""
    remote = api.upload_wheel(wheel, target=target, options=options)
    if remote.bytes_uploaded == 0:
        click.echo("lakeflow: already uploaded, nothing copied", err=True)
    emit(remote, as_json, remote.path)


@cli.command("create-job", cls=EnvVarCommand)
@click.argument("name")
@click.argument("package")
@click.argument("remote_path")
@job_options(
    env_var_metavar="NAME...", env_var_help="Environment variables whose local values every run sees (kept secret)."
)
@common(job=True)
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


@cli.command("trigger-run", context_settings=_VERBATIM)
@common()
@click.argument("job_id")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def trigger_run_cmd(job_id: str, args: tuple[str, ...], target: str, options: dict[str, str], as_json: bool) -> None:
    """Start a run of JOB_ID; everything after JOB_ID is passed to the task verbatim. Prints the run id."""
    run = api.trigger_run(job_id, args, target=target, options=options)
    if run.url:
        click.echo(f"lakeflow: {run.url}", err=True)
    emit(run, as_json, run.run_id)


@cli.command("list-jobs")
@common()
def list_jobs_cmd(target: str, options: dict[str, str], as_json: bool) -> None:
    """List the jobs lakeflow created, newest first."""
    jobs = api.list_jobs(target=target, options=options)
    emit(jobs, as_json, render.jobs_table(jobs))


@cli.command("list-job-runs")
@click.argument("job_id", required=False)
@common()
def list_job_runs_cmd(job_id: str | None, target: str, options: dict[str, str], as_json: bool) -> None:
    """List JOB_ID's runs (every job's without it), newest first."""
    runs = api.list_job_runs(job_id, target=target, options=options)
    emit(runs, as_json, render.runs_table(runs))


@cli.command("get-run")
@click.argument("run_id")
@common()
def get_run_cmd(run_id: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Show one run's state."""
    run = api.get_run(run_id, target=target, options=options)
    emit(run, as_json, render.runs_table([run]))


@cli.command("get-run-logs")
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


@cli.command("cancel-run")
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


@cli.command("wait")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--timeout", type=float, help="Give up after this many seconds (the runs carry on).")
@common()
def wait_cmd(
    run_ids: tuple[str, ...], timeout: float | None, target: str, options: dict[str, str], as_json: bool
) -> None:
    """Wait for runs to finish, showing progress; exit 1 unless all succeeded."""
    _wait_and_report(list(run_ids), target, options, timeout, as_json, table_to_stderr=False)


def _read_runs_file(path: str) -> list[list[str]]:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise LakeflowError(f"cannot read --runs-from {path}: {exc.strerror}; pass an existing file") from exc
    arg_lists = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            arg_lists.append(shlex.split(line))
        except ValueError as exc:
            raise LakeflowError(f"{path}:{number}: {exc}; quote arguments as in a shell") from exc
    if not arg_lists:
        raise LakeflowError(f"--runs-from {path} has no runs; write one run's arguments per line")
    return arg_lists


@cli.command("launch", cls=LaunchCommand, context_settings=_VERBATIM)
@click.option("--runs-from", metavar="FILE", help="One run per line: the line's shell-quoted arguments ('-': stdin).")
@click.option("--name", help="Job name [default: the package name].")
@job_options(
    env_var_metavar="NAME",
    env_var_help="An environment variable whose local value every run sees (repeatable; kept secret).",
)
@click.option("--wait", "wait_", is_flag=True, help="Wait for the runs, showing progress; exit 1 if any failed.")
@click.option("--timeout", type=float, help="With --wait: give up after this many seconds.")
@common(builder=True, upload=True, job=True)
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
    arg_lists = _read_runs_file(runs_from) if runs_from else [list(args)]

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
        _wait_and_report([r.run_id for r in result.runs], target, options, timeout, as_json, table_to_stderr=True)
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
