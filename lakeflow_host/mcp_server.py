"""``lakeflow mcp``: lakeflow's operations as MCP tools for AI agents, served over stdio.

Only the ``lakeflow mcp`` command imports this module (the mcp SDK takes half a second to import).
The tools live in :mod:`lakeflow_host.mcp_tools`; this module assembles the server and guards the
two ways a tool result could go wrong on the wire: stray stdout output and echoed secrets.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import ValidationError

from lakeflow_host import mcp_jobs as j
from lakeflow_host import mcp_tools as t

INSTRUCTIONS = """\
lakeflow turns a Python project (a folder with pyproject.toml whose [project.scripts] defines a
'lakeflow-task' entry point) into many parallel runs of that entry point, each with its own arguments.

- To start runs of a project in one call, use launch (project_dir + one argument list per run); it
  returns the job id and run ids at once. Step by step instead: build_wheel -> upload_wheel ->
  create_job -> trigger_runs (or trigger_run).
- Nothing waits for runs to finish: poll list_job_runs (all runs of a job, with counts per state) or
  get_run, and read output with get_run_logs; status sums a job up (counts, failed runs with their
  error line). cancel_run stops a run; rerun starts runs again (failed_of=JOB_ID: the failed ones).
- launch reuses the project's job (same name on the same target): it updates it to the new wheel.
- Every tool takes an optional target (where jobs run; list_plugins names them) and, where it
  builds, builder; omit them for the user's defaults, and keep one target per job. list_plugins
  names the choices.
- Secrets: pass environment variable NAMES in env_vars; values come from the server's environment.
"""


def _hints(
    read_only: bool = False, destructive: bool = False, idempotent: bool = False, open_world: bool = True
) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=read_only, destructive_hint=destructive, idempotent_hint=idempotent, open_world_hint=open_world
    )


_READ = _hints(read_only=True, idempotent=True)

#: (tool, title, annotations). Open world by default: a target may be a remote workspace.
TOOLS: list[tuple[Callable[..., Any], str, ToolAnnotations]] = [
    (t.launch, "Launch runs of a project (build, upload, create job, trigger)", _hints()),
    (t.build_wheel, "Build a project into a wheel", _hints(idempotent=True, open_world=False)),
    (t.upload_wheel, "Upload a wheel to the target", _hints(idempotent=True)),
    (t.create_job, "Create a job", _hints()),
    (t.trigger_run, "Start one run", _hints()),
    (t.trigger_runs, "Start many runs", _hints()),
    (t.list_job_runs, "List a job's runs", _READ),
    (t.get_run, "Get a run's state", _READ),
    (t.get_run_logs, "Read a run's logs", _READ),
    (t.cancel_run, "Cancel a run", _hints(destructive=True, idempotent=True)),
    (t.list_jobs, "List jobs", _READ),
    (t.get_job, "Get a job", _READ),
    (j.status, "Summarize a job's runs", _READ),
    (j.rerun, "Start runs again", _hints()),
    (j.delete_job, "Delete a job", _hints(destructive=True)),
    (j.prune, "Remove old runs and unused uploads", _hints(destructive=True, idempotent=True)),
    (t.list_plugins, "List plugins, targets and builders", _hints(read_only=True, idempotent=True, open_world=False)),
]


def _plain_paths(schema: Any) -> None:
    """Drop pydantic's ``"format": "path"``: not a JSON Schema format, and JS clients (Ajv) warn on it."""
    if isinstance(schema, dict):
        if schema.get("format") == "path":
            del schema["format"]
        for value in schema.values():
            _plain_paths(value)
    elif isinstance(schema, list):
        for value in schema:
            _plain_paths(value)


class LakeflowMCPServer(MCPServer):
    """An MCPServer whose argument-validation errors name the bad fields but never echo their values."""

    async def list_tools(self) -> Any:
        tools = await super().list_tools()
        for tool in tools:
            _plain_paths(tool.output_schema)
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError):
                raise
            # pydantic's own text quotes each rejected value, which may be a secret pasted by mistake.
            problems = "; ".join(
                f"{'.'.join(str(part) for part in err['loc']) or 'arguments'}: {err['msg']}" for err in cause.errors()
            )
            raise ToolError(f"Error executing tool {name}: invalid arguments: {problems}") from cause


@asynccontextmanager
async def _stdout_to_stderr(server: MCPServer) -> AsyncIterator[None]:
    """While serving, Python-level prints go to stderr.

    The SDK already points fd 1 at stderr while it serves, but text buffered in ``sys.stdout``
    would be flushed at exit, after fd 1 is the wire again, and corrupt the client's stream. The
    lifespan runs after the SDK has claimed fd 1, so swapping ``sys.stdout`` here is safe.
    """
    sys.stdout.flush()
    saved, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved


def _version() -> str:
    try:
        return metadata.version("lakeflow-host")
    except metadata.PackageNotFoundError:
        return "0"


def create_server(*, guard_stdout: bool = True) -> MCPServer:
    """The lakeflow MCP server with every tool registered; nothing is loaded until a tool runs."""
    server = LakeflowMCPServer(
        "lakeflow",
        title="lakeflow",
        instructions=INSTRUCTIONS,
        version=_version(),
        lifespan=_stdout_to_stderr if guard_stdout else None,
    )
    for fn, title, hints in TOOLS:
        server.add_tool(fn, title=title, description=inspect.cleandoc(fn.__doc__ or ""), annotations=hints)
    return server


def main() -> None:
    """Serve over stdio until the client closes the connection (what ``lakeflow mcp`` runs)."""
    create_server().run()
