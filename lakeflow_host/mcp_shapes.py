"""What the MCP tools take and give: described parameters, result shapes, progress, and the text
an agent reads. The tools themselves are in :mod:`lakeflow_host.mcp_tools`."""

from __future__ import annotations

import functools
import shlex
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from lakeflow_host import render
from lakeflow_host.errors import LakeflowError
from lakeflow_host.types import (
    Job,
    Run,
    RunState,
    TriggerFailure,
    to_jsonable,
)

# A log can be one enormous line; past this many characters only the end is returned.
MAX_LOG_CHARS = 40_000
DEFAULT_TAIL = 200
#: Rows of the run table in the text of a fan-out's result.
TABLE_ROWS = 20

# -- parameters shared by many tools ------------------------------------------------------------


def target_parameter() -> Any:
    """The ``target`` parameter, naming the installed targets."""
    from lakeflow_host import api

    return Annotated[
        str | None,
        Field(
            description=f"Where jobs run, as the CLI's --target: one of {', '.join(api.targets())}. Omit it for "
            "the default: $LAKEFLOW_TARGET, else the one target that is configured (e.g. a workspace), else "
            "local. Use the same target for every call about one job."
        ),
    ]


Builder = Annotated[
    str | None,
    Field(
        description="How the project is built, as the CLI's --builder: e.g. 'uv' or 'pants'. Omit it for "
        "the default: $LAKEFLOW_BUILDER, else uv."
    ),
]


def options_parameter() -> Any:
    """The ``options`` parameter, described from what the installed plugins declare: each key's
    type, choices and the builder or target it belongs to, as the CLI's ``-o KEY=VALUE``."""
    from lakeflow_host.plugins import get_host

    host = get_host()
    fields: dict[str, Any] = {}
    lines = []
    for kind, infos in (("builder", host.builder_infos), ("target", host.target_infos)):
        for name, (info, _plugin) in sorted(infos.items()):
            for opt in info.options:
                value_type: Any = Literal[opt.choices] if opt.choices else opt.type  # type: ignore[valid-type]
                fields.setdefault(opt.name, value_type | str if opt.type is not str else value_type)
                choices = f" one of {', '.join(opt.choices)};" if opt.choices else ""
                lines.append(f"{opt.name} ({kind} {name}, {opt.type.__name__};{choices} {opt.help})")
    shape = TypedDict("PluginOptions", fields, total=False)  # type: ignore[operator]
    # An undeclared key is refused by the schema, which lists the keys an agent may use.
    shape.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return Annotated[
        shape | None,
        Field(
            description="Settings of the chosen builder and target, as the CLI's -o KEY=VALUE; a key the chosen "
            "plugins do not declare is refused. Usually omitted. Keys: " + "; ".join(lines)
        ),
    ]


JobId = Annotated[str | int, Field(description="A job id, as returned by create_job, launch or list_jobs.")]
RunId = Annotated[str | int, Field(description="A run id, as returned by trigger_run(s), launch or list_job_runs.")]
ProjectDir = Annotated[
    str,
    Field(
        description="Absolute path of the Python project folder (the one holding pyproject.toml). Its "
        "[project.scripts] must define a 'lakeflow-task' entry point, which every run executes."
    ),
]
Args = Annotated[
    list[str] | None,
    Field(description='The task\'s command-line arguments (its sys.argv[1:]), passed verbatim, e.g. ["--seed", "3"].'),
]
ArgLists = Annotated[
    list[list[str]],
    Field(
        min_length=1,
        description='One argument list per run: [["fi"], ["fie"]] starts two runs, the first with argument '
        "fi. [[]] starts one run without arguments.",
    ),
]
EnvVars = Annotated[
    list[str] | None,
    Field(
        description='NAMES of environment variables (e.g. ["API_TOKEN"]) whose values, taken from the MCP '
        "server's own environment, every run sees. Never pass values; they stay secret."
    ),
]
MaxWorkers = Annotated[
    int | None,
    Field(
        ge=1,
        description="Cluster size a run may autoscale to; on the local target, how many runs run at once "
        "(default: [tool.lakeflow] max-workers, else 1).",
    ),
]
MaxConcurrent = Annotated[
    int | None, Field(ge=1, description="How many runs of the job may run at once (omit for the target's default).")
]
StateName = Literal[tuple(state.value for state in RunState)]  # type: ignore[valid-type]  # an enum in the schema


# -- output shapes (the API's dataclasses, wrapped where a tool returns several) -----------------


class RunList(TypedDict):
    runs: list[Run]
    counts: dict[str, int]
    total: int


class JobList(TypedDict):
    jobs: list[Job]


class TriggerResult(TypedDict):
    job_id: str
    runs: list[Run]
    failures: list[TriggerFailure]


class OptionShape(TypedDict):
    name: str
    help: str
    type: Literal["str", "int", "float", "bool"]
    choices: list[str]
    default: str | int | float | bool | None
    envvar: str | None
    secret: bool
    flag: bool
    stages: list[str]
    minimum: float | None
    maximum: float | None


class ProvidedShape(TypedDict, total=False):
    name: str
    options: list[OptionShape]
    help: str
    triggers_in_flight: int
    poll_interval: float


class PluginShape(TypedDict):
    name: str
    kinds: list[str]
    builders: list[str]
    targets: list[str]
    distribution: str | None
    version: str | None
    provides: list[ProvidedShape]


class PluginList(TypedDict):
    plugins: list[PluginShape]
    builders: list[str]
    targets: list[str]


T = TypeVar("T")


def tool_result(value: Any, text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=to_jsonable(value))


def plain_options(options: Any) -> dict[str, Any]:
    return dict(options or {})


class Progress:
    """Numbered steps reported to the client, from the event loop (``say``) or any thread (``step``);
    the API calls back from its own thread pools."""

    def __init__(self, ctx: Context, total: int) -> None:
        self.ctx, self.total, self.done = ctx, total, 0
        self.token = anyio.lowlevel.current_token()
        self.lock = threading.Lock()

    async def say(self, message: str) -> None:
        self.done += 1
        await self._send(self.done, message)

    def step(self, message: str) -> None:
        with self.lock:  # progress values must rise, so steps are numbered and sent one at a time
            self.done += 1
            try:
                anyio.from_thread.run(self._send, self.done, message, token=self.token)
            except anyio.RunFinishedError:  # the server is shutting down; let the API call finish
                pass

    async def _send(self, done: int, message: str) -> None:
        try:
            await self.ctx.report_progress(done, self.total, message)
        except Exception:  # noqa: BLE001 - a client gone away must not fail the build or the launch
            pass


async def in_thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


def lakeflow_errors(fn: Callable[..., Awaitable[CallToolResult]]) -> Callable[..., Awaitable[CallToolResult]]:
    """Turns a LakeflowError into a ToolError: in mcp 2.3 only a ToolError's text reaches the model."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return await fn(*args, **kwargs)
        except LakeflowError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


# -- text -------------------------------------------------------------------------------------


def shell_args(args: Sequence[str], width: int) -> str:
    text = shlex.join(args)
    return text if len(text) <= width else text[: width - 1] + "…"


def run_text(run: Run) -> str:
    lines = [f"run {run.run_id} of job {run.job_id} on {run.target}: {run.state.value}"]
    lines.append(f"args: {shell_args(run.args, 200) or '(none)'}")
    if run.exit_code is not None:
        lines.append(f"exit code: {run.exit_code}")
    if run.duration is not None:
        lines.append(f"duration: {render.seconds(run.duration)}")
    for label, value in (("message", run.message), ("url", run.url)):
        if value:
            lines.append(f"{label}: {value}")
    if not run.state.is_final:
        lines.append("Not finished: poll get_run (or list_job_runs) again; read output with get_run_logs.")
    return "\n".join(lines)


def job_text(job: Job) -> str:
    env = ", ".join(job.env_var_names) or "none"
    text = (
        f"job {job.job_id} ({job.name}) on {job.target}: runs {job.package}'s lakeflow-task from "
        f"{job.artifact}; max_workers {job.max_workers}, max_concurrent_runs {job.max_concurrent_runs}; "
        f"env vars: {env}"
    )
    return text + (f"\nurl: {job.url}" if job.url else "")


def started_table(runs: Sequence[Run]) -> str:
    """The first runs of a fan-out as a table; a thousand rows would flood the agent's context."""
    if len(runs) <= TABLE_ROWS:
        return render.runs_table(runs)
    rest = runs[TABLE_ROWS:]
    return (
        render.runs_table(runs[:TABLE_ROWS])
        + f"\n... and {len(rest)} more: run ids {rest[0].run_id} to {rest[-1].run_id} (all are in the structured"
        " result; list_job_runs shows their states)"
    )


def failures_text(failures: Sequence[TriggerFailure]) -> str:
    lines = [f"run {f.index + 1} ({shell_args(f.args, 80)}) was not started: {f.error}" for f in failures[:TABLE_ROWS]]
    if len(failures) > TABLE_ROWS:
        lines.append(f"... and {len(failures) - TABLE_ROWS} more runs were not started (see failures)")
    return "\n".join(lines)
