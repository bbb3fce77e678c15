"""The commands that turn a project into a job: build-wheel, upload-wheel, create-job, launch."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from lakeflow_host import api
from lakeflow_host.cli_options import command_class, common, emit, notice
from lakeflow_host.cli_parsing import VERBATIM, EnvVarCommand, LaunchCommand, read_runs_file
from lakeflow_host.cli_watch import wait_and_report, wait_options, working
from lakeflow_host.errors import LakeflowError
from lakeflow_host.types import Run

if TYPE_CHECKING:
    from lakeflow_host.results import TriggerFailure


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


@click.command("build-wheel", cls=command_class("build", ("builder",)))
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


@click.command("upload-wheel", cls=command_class("upload"))
@click.argument("wheel", type=click.Path(dir_okay=True))
@common()
def upload_wheel_cmd(wheel: str, target: str, options: dict[str, str], as_json: bool) -> None:
    """Upload a built WHEEL (with its companion wheels) to the target; print the uploaded artifact's path (what create-job takes)."""
    with working(f"uploading {wheel}"):
        remote = api.upload_wheel(wheel, target=target, options=options)
    if remote.bytes_uploaded == 0:
        notice("already uploaded, nothing copied")
    emit(remote, as_json, remote.path)


@click.command("create-job", cls=command_class("job", base=EnvVarCommand))
@click.argument("name")
@click.argument("package")
@click.argument("artifact")
@job_options(
    env_var_metavar="NAME...", env_var_help="Environment variables whose local values every run sees (kept secret)."
)
@common()
def create_job_cmd(
    name: str,
    package: str,
    artifact: str,
    max_workers: int | None,
    max_concurrent_runs: int | None,
    env_vars: tuple[str, ...],
    target: str,
    options: dict[str, str],
    as_json: bool,
) -> None:
    """Create job NAME running PACKAGE's lakeflow-task entry point from ARTIFACT (the path upload-wheel printed); print the job id."""
    with working(f"creating job {name}"):
        job = api.create_job(
            name,
            package,
            artifact,
            max_workers=max_workers,
            max_concurrent_runs=max_concurrent_runs,
            env_vars=env_vars,
            target=target,
            options=options,
        )
    emit(job, as_json, job.job_id)


@click.command(
    "launch", cls=command_class("launch", ("builder", "target"), base=LaunchCommand), context_settings=VERBATIM
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
        if not isinstance(result, Run):
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
        # The runs launch started, states and all: the first poll asks only about active ones.
        wait_and_report(list(result.runs), target, ours, timeout, as_json, to_stdout=False)
    if result.failures:
        raise SystemExit(1)


COMMANDS = (build_wheel_cmd, upload_wheel_cmd, create_job_cmd, launch_cmd)
