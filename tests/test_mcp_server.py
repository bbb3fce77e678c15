"""``lakeflow mcp`` through a real MCP client: the SDK's ClientSession over stdio, against the local target.

Each test spawns ``python -m lakeflow_host mcp`` the way Claude Desktop or Cursor do (a minimal
environment plus the configured ``env``) and talks to it only through the protocol.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult
from support import REPO, copy_project

pytestmark = pytest.mark.anyio

CANARY_NAME = "LAKEFLOW_MCP_CANARY"
CANARY = "canary-mcp-5d1f-DO-NOT-LEAK"
FINAL = {"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"}
TOOLS = {
    "launch",
    "build_wheel",
    "upload_wheel",
    "create_job",
    "trigger_run",
    "trigger_runs",
    "list_job_runs",
    "get_run",
    "get_run_logs",
    "cancel_run",
    "list_jobs",
    "get_job",
    "status",
    "rerun",
    "delete_job",
    "prune",
    "list_plugins",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Agent:
    """One client session; remembers every result so that a test can check none of them leaks."""

    def __init__(self, session: ClientSession, transcript: list[str]) -> None:
        self.session, self.transcript = session, transcript

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        error: bool = False,
        progress: list[tuple[float, float | None, str | None]] | None = None,
    ) -> CallToolResult:
        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            assert progress is not None
            progress.append((value, total, message))

        result = await self.session.call_tool(
            tool, arguments, read_timeout_seconds=180, progress_callback=on_progress if progress is not None else None
        )
        self.transcript.append(result.model_dump_json())
        text = result.content[0].text if result.content else ""
        assert result.is_error == error, f"{tool}({arguments}) -> {text}"
        return result

    async def data(self, tool: str, arguments: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        result = await self.call(tool, arguments, **kwargs)
        assert result.structured_content is not None and result.content[0].text.strip()
        return result.structured_content


# How this machine reaches a package index (uv fetches the build backend); a user's host config
# would carry the same when their network needs it.
_NETWORK_ENV = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_CACHE_DIR",
    "XDG_CACHE_HOME",
)


def server_env() -> dict[str, str]:
    """What an MCP host's config would pass: the lakeflow home, the target, a secret to guard."""
    network = {name: os.environ[name] for name in _NETWORK_ENV if name in os.environ}
    return {
        **network,
        "LAKEFLOW_HOME": os.environ["LAKEFLOW_HOME"],
        "LAKEFLOW_TARGET": "local",
        "DATABRICKS_CONFIG_FILE": os.environ["DATABRICKS_CONFIG_FILE"],
        CANARY_NAME: CANARY,
    }


@pytest.fixture
def connect(home: Path, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Opens sessions with a fresh server process each; at the end, checks that no result leaked the
    secret. The servers' stderr (their log) is in tmp_path/server-stderr.log."""
    transcript: list[str] = []
    stray: list[Exception] = []

    @asynccontextmanager
    async def open_session() -> AsyncIterator[Agent]:
        params = StdioServerParameters(command=sys.executable, args=["-m", "lakeflow_host", "mcp"], env=server_env())

        async def on_message(message: Any) -> None:
            if isinstance(message, Exception):  # e.g. a line on stdout that is not JSON-RPC
                stray.append(message)

        with open(tmp_path / "server-stderr.log", "a") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=60, message_handler=on_message) as session:
                    init = await session.initialize()
                    assert "launch" in (init.instructions or "")
                    yield Agent(session, transcript)
        assert not stray, f"the server wrote something other than protocol to stdout: {stray}"

    yield open_session
    leaked = [t for t in transcript if CANARY in t]
    assert not leaked, f"a tool result carried the secret value: {leaked[0][:300]}"


async def poll(fn: Callable[[], Awaitable[Any]], timeout: float) -> Any:
    with anyio.fail_after(timeout):
        while True:
            value = await fn()
            if value:
                return value
            await anyio.sleep(0.3)


async def wait_for_progress(progress: list, count: int) -> None:
    # Over stdio, progress callbacks are spawned tasks that can land just after the result.
    with anyio.fail_after(5):
        while len(progress) < count:
            await anyio.sleep(0.05)


def demo_project(tmp_path: Path) -> Path:
    """The repo's example project, copied so that builds never write into the checkout."""
    source = REPO / "examples" / "lakeflow_demo"
    ignore = shutil.ignore_patterns("dist", "__pycache__")
    return Path(shutil.copytree(source, tmp_path / "lakeflow_demo", ignore=ignore))


async def test_every_tool_is_described_with_schemas_and_fitting_annotations(connect) -> None:
    async with connect() as agent:
        tools = {tool.name: tool for tool in (await agent.session.list_tools()).tools}
    assert TOOLS <= set(tools)
    for tool in tools.values():
        assert len(tool.description or "") > 40, tool.name
        assert tool.output_schema and '"format": "path"' not in json.dumps(tool.output_schema), tool.name
        assert "\n    " not in tool.description, f"{tool.name}: indented docstring text"
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    for name in ("launch", "build_wheel", "upload_wheel", "create_job", "trigger_run", "trigger_runs"):
        assert "target" in tools[name].input_schema["properties"] or name == "build_wheel"
    for name in ("launch", "build_wheel"):
        assert "builder" in tools[name].input_schema["properties"]
    for name in ("list_job_runs", "get_run", "get_run_logs", "list_jobs", "get_job", "status", "list_plugins"):
        assert tools[name].annotations.read_only_hint, name
    assert tools["cancel_run"].annotations.destructive_hint and tools["cancel_run"].annotations.idempotent_hint
    assert tools["delete_job"].annotations.destructive_hint and not tools["rerun"].annotations.idempotent_hint
    assert not tools["launch"].annotations.read_only_hint and not tools["launch"].annotations.idempotent_hint
    assert not tools["trigger_runs"].annotations.idempotent_hint
    assert tools["get_run_logs"].input_schema["properties"]["tail"]["type"] == "integer"


@pytest.mark.slow
async def test_launch_four_runs_poll_them_and_find_each_argument_in_its_log(connect, tmp_path: Path) -> None:
    words = ["fi", "fie", "fo", "fum"]
    progress: list = []
    async with connect() as agent:
        with anyio.fail_after(240):
            launched = await agent.data(
                "launch",
                {
                    "project_dir": str(demo_project(tmp_path)),
                    "arg_lists": [[w] for w in words],
                    "max_workers": 2,
                    "env_vars": [CANARY_NAME],
                },
                progress=progress,
            )
            job_id = launched["job"]["job_id"]
            assert launched["job"]["env_var_names"] == [CANARY_NAME]
            assert [run["args"] for run in launched["runs"]] == [[w] for w in words]
            assert not launched["failures"]
            run_ids = [run["run_id"] for run in launched["runs"]]
            assert len(set(run_ids)) == 4

            async def all_final() -> dict | None:
                listed = await agent.data("list_job_runs", {"job_id": job_id})
                return listed if sum(listed["counts"].get(s, 0) for s in FINAL) == 4 else None

            listed = await poll(all_final, 120)
            assert listed["counts"] == {"SUCCEEDED": 4} and listed["total"] == 4
            by_id = {run["run_id"]: run for run in listed["runs"]}
            for run_id, word in zip(run_ids, words, strict=True):
                assert by_id[run_id]["args"] == [word] and by_id[run_id]["exit_code"] == 0
                status = await agent.data("get_run", {"run_id": run_id})
                assert status["state"] == "SUCCEEDED"
                logs = await agent.call("get_run_logs", {"run_id": run_id})
                # The demo task prints its sys.argv[1:] and its DATABRICKS_RUN_ID.
                assert str([word]) in logs.content[0].text and str([word]) in logs.structured_content["text"]
                assert f"run {run_id}" in logs.structured_content["text"]
            tail = await agent.data("get_run_logs", {"run_id": run_ids[0], "tail": 1})
            assert tail["text"].count("\n") == 1 and tail["truncated"]
            await wait_for_progress(progress, 4 + len(words))
    values = [p[0] for p in progress]
    assert values == sorted(values) and len(set(values)) == len(values)
    messages = " ".join(p[2] or "" for p in progress)
    assert "building" in messages and f"created job {job_id}" in messages


@pytest.mark.slow
async def test_step_by_step_secret_reaches_the_task_and_a_slow_run_is_canceled_after_the_server_restarts(
    connect, lakeflow, tmp_path: Path
) -> None:
    project = copy_project("tasks", tmp_path)
    progress: list = []
    async with connect() as agent:
        with anyio.fail_after(240):
            built = await agent.data("build_wheel", {"project_dir": str(project)}, progress=progress)
            assert built["path"].endswith(".whl") and built["package"] == "lakeflow-testtask"
            remote = await agent.data("upload_wheel", {"wheel_path": built["path"]})
            job = await agent.data(
                "create_job",
                {
                    "name": "mcp-steps",
                    "package": built["package"],
                    "artifact": remote["path"],
                    "max_workers": 2,
                    "env_vars": [CANARY_NAME],
                },
            )
            job_id = job["job_id"]
            started = await agent.data(
                "trigger_runs", {"job_id": job_id, "arg_lists": [["secret", CANARY_NAME], ["sleep", "600"]]}
            )
            secret_run, slow_run = (run["run_id"] for run in started["runs"])
            one = await agent.data("trigger_run", {"job_id": int(job_id), "args": ["hello world"]})

            async def finished(run_id: str) -> dict | None:
                run = await agent.data("get_run", {"run_id": run_id})
                return run if run["state"] in FINAL else None

            assert (await poll(lambda: finished(secret_run), 120))["state"] == "SUCCEEDED"
            log = (await agent.data("get_run_logs", {"run_id": secret_run}))["text"]
            assert f"SECRET {CANARY_NAME} len={len(CANARY)}" in log  # the value arrived, unseen
            assert (await poll(lambda: finished(one["run_id"]), 120))["args"] == ["hello world"]

            async def sleeping() -> bool:
                logs = await agent.data("get_run_logs", {"run_id": slow_run})
                return logs["state"] == "RUNNING" and "ARGV=" in logs["text"]

            await poll(sleeping, 120)
            await wait_for_progress(progress, 2)
    assert "building" in (progress[0][2] or "")

    # A new server process (hosts restart servers freely) still knows the run, and the run
    # survived the old server's exit.
    async with connect() as agent:
        with anyio.fail_after(60):
            assert (await agent.data("get_run", {"run_id": slow_run}))["state"] == "RUNNING"
            canceled = await agent.data("cancel_run", {"run_id": slow_run})
            assert canceled["state"] == "CANCELED"
            again = await agent.data("cancel_run", {"run_id": slow_run})  # idempotent
            assert again["state"] == "CANCELED"
            logs = await agent.data("get_run_logs", {"run_id": slow_run})
            assert "DONE" not in logs["text"]
            jobs = await agent.data("list_jobs", {})
            assert job_id in [j["job_id"] for j in jobs["jobs"]]
            described = await agent.data("get_job", {"job_id": job_id})
            assert described["env_var_names"] == [CANARY_NAME]
            canceled_only = await agent.data("list_job_runs", {"job_id": job_id, "state": "CANCELED"})
            assert [r["run_id"] for r in canceled_only["runs"]] == [slow_run] and canceled_only["total"] == 1

            # A bigger fan-out: every run in the structured result, a readable excerpt in the text.
            many = await agent.call("trigger_runs", {"job_id": job_id, "arg_lists": [[f"n{i}"] for i in range(23)]})
            assert [r["args"] for r in many.structured_content["runs"]] == [[f"n{i}"] for i in range(23)]
            assert "... and 3 more" in many.content[0].text and "n22" not in many.content[0].text

            async def all_done() -> dict | None:
                listed = await agent.data("list_job_runs", {"job_id": job_id})
                return listed if listed["counts"].get("SUCCEEDED", 0) == 2 + 23 else None

            everything = await poll(all_done, 120)
            # limit means what the CLI's --limit means: the newest N (after the state filter), listed alone.
            newest = await agent.data("list_job_runs", {"job_id": job_id, "limit": 5})
            assert [r["run_id"] for r in newest["runs"]] == [r["run_id"] for r in everything["runs"][:5]]
            assert newest["total"] == 5 and sum(newest["counts"].values()) == 5
            succeeded = await agent.data("list_job_runs", {"job_id": job_id, "state": "SUCCEEDED", "limit": 3})
            assert [r["state"] for r in succeeded["runs"]] == ["SUCCEEDED"] * 3
            cli = lakeflow("list-job-runs", str(job_id), "--state", "SUCCEEDED", "--limit", "3", "--json")
            assert [r["run_id"] for r in json.loads(cli.stdout)] == [r["run_id"] for r in succeeded["runs"]]


def leaky_project(root: Path) -> Path:
    """A task that prints the value of the variable its argument names, then fails quoting it."""
    package = root / "leaky" / "src" / "leaky"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent("""\
        import os
        import sys


        def main() -> None:
            value = os.environ[sys.argv[1]]
            print(f"my secret is {value}")
            raise SystemExit(f"failing on purpose with {value}")
        """)
    )
    (root / "leaky" / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [project]
        name = "leaky"
        version = "0.1.0"
        [project.scripts]
        lakeflow-task = "leaky:main"
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        """)
    )
    return root / "leaky"


@pytest.mark.slow
async def test_which_run_failed_and_why_with_a_printed_secret_redacted(connect, tmp_path: Path) -> None:
    async with connect() as agent:
        with anyio.fail_after(240):
            launched = await agent.data(
                "launch",
                {"project_dir": str(leaky_project(tmp_path)), "arg_lists": [[CANARY_NAME]], "env_vars": [CANARY_NAME]},
            )
            job_id, run_id = launched["job"]["job_id"], launched["runs"][0]["run_id"]

            async def failed() -> dict | None:
                listed = await agent.data("list_job_runs", {"job_id": job_id, "state": "FAILED"})
                return listed if listed["runs"] else None

            listed = await poll(failed, 120)
            assert [r["run_id"] for r in listed["runs"]] == [run_id] and listed["runs"][0]["exit_code"] == 1
            logs = await agent.call("get_run_logs", {"run_id": run_id})
            text = logs.content[0].text
            # The runner redacts --env-var values before the log is written (the server would too).
            assert "my secret is [REDACTED]" in text
            assert "failing on purpose with [REDACTED]" in text
            assert logs.structured_content["state"] == "FAILED"


def cli_error(lakeflow, *args: str) -> str:
    """The one line the CLI prints for the same mistake."""
    proc = lakeflow(*args, env={"LAKEFLOW_TARGET": "local"}, check=False, timeout=120)
    assert proc.returncode != 0
    return next(line for line in proc.stderr.splitlines() if line.startswith("Error: "))[len("Error: ") :]


async def test_bad_inputs_are_tool_errors_with_the_clis_message_and_the_server_keeps_serving(
    connect, lakeflow, tmp_path: Path
) -> None:
    no_entry = tmp_path / "no_entry"
    (no_entry / "src" / "no_entry").mkdir(parents=True)
    (no_entry / "src" / "no_entry" / "__init__.py").write_text("")
    (no_entry / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [project]
        name = "no-entry"
        version = "0.1.0"
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        """)
    )
    unset = "LAKEFLOW_MCP_SURELY_UNSET"
    cases = [  # (tool, arguments, the same mistake on the command line)
        ("trigger_run", {"job_id": "4242", "args": ["x"]}, ["trigger-run", "4242", "x"]),
        ("list_job_runs", {"job_id": "4242"}, ["list-job-runs", "4242"]),
        ("get_run", {"run_id": "4242"}, ["get-run", "4242"]),
        ("build_wheel", {"project_dir": str(no_entry)}, ["build-wheel", str(no_entry)]),
        ("launch", {"project_dir": str(no_entry), "arg_lists": [["a"]]}, ["launch", str(no_entry), "a"]),
        (
            "create_job",
            {"name": "n", "package": "p", "artifact": "/nowhere", "env_vars": [unset]},
            ["create-job", "n", "p", "/nowhere", "--env-var", unset],
        ),
        (
            "launch",
            {"project_dir": str(no_entry), "arg_lists": [["a"]], "env_vars": [unset]},
            ["launch", "--env-var", unset, "--name", "x", str(no_entry), "a"],
        ),
        ("list_jobs", {"target": "nowhere"}, ["list-jobs", "--target", "nowhere"]),
        (
            "build_wheel",
            {"project_dir": str(no_entry), "builder": "nothing"},
            ["build-wheel", str(no_entry), "--builder", "nothing"],
        ),
    ]
    expected = [cli_error(lakeflow, *cli) for _, _, cli in cases]
    async with connect() as agent:
        with anyio.fail_after(120):
            for (tool, arguments, _), message in zip(cases, expected, strict=True):
                result = await agent.call(tool, arguments, error=True)
                assert result.content[0].text == f"Error executing tool {tool}: {message}"
            fan_out = await agent.call("trigger_runs", {"job_id": "4242", "arg_lists": [["a"], ["b"]]}, error=True)
            assert expected[0] in fan_out.content[0].text

            # Arguments that fail the schema: pydantic would quote the rejected values; we must not.
            for arguments in (
                {"name": "n", "package": "p", "artifact": "r", "env_vars": CANARY},
                {"name": "n", "package": "p", "artifact": "r", "max_workers": CANARY},
                {"name": "n", "package": "p", "artifact": "r", "options": {"k": [CANARY]}},
            ):
                result = await agent.call("create_job", arguments, error=True)
                assert "invalid arguments" in result.content[0].text
            # limit has the CLI's bound (--limit is an IntRange(min=1)).
            for limit in (0, -1):
                result = await agent.call("list_job_runs", {"limit": limit}, error=True)
                assert "invalid arguments" in result.content[0].text
            assert (await agent.data("list_jobs", {}))["jobs"] == []  # still serving


def test_serving_imports_no_databricks_sdk_for_local_work(home: Path) -> None:
    # No LAKEFLOW_TARGET: choosing the default target must not import the SDK either.
    script = textwrap.dedent("""\
        import sys, anyio
        from mcp import Client
        from lakeflow_host.mcp_server import create_server

        async def main():
            async with Client(create_server(guard_stdout=False)) as client:
                await client.list_tools()
                assert not (await client.call_tool("list_jobs", {})).is_error
                await client.call_tool("get_run", {"run_id": "1"})
            print(sorted(m for m in sys.modules if m.split(".")[0] == "databricks"))

        anyio.run(main)
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_buffered_print_never_reaches_the_wire(home: Path, tmp_path: Path) -> None:
    # A tool (or a plugin it calls) that prints without a newline: the text sits in sys.stdout's
    # buffer and would be flushed at exit, after fd 1 is the wire again. Hosts start servers with
    # buffered stdout, so the test does too (this machine sets PYTHONUNBUFFERED, which hides it).
    script = tmp_path / "noisy_server.py"
    script.write_text(
        textwrap.dedent("""\
        from lakeflow_host.mcp_server import create_server

        def noisy() -> str:
            \"\"\"Print without a newline.\"\"\"
            print("stray text from a tool", end="")
            return "ok"

        server = create_server()
        server.add_tool(noisy)
        server.run()
        """)
    )
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "noisy", "arguments": {}}},
    ]
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=buffered,
    )
    watchdog = threading.Timer(60, proc.kill)  # a server that never answers fails the test, not hangs it
    watchdog.start()
    try:
        for message in messages:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
        lines = [proc.stdout.readline() for _ in messages[::2]]  # the answers to the two requests
        rest, stderr = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        proc.kill()
    lines += rest.splitlines(keepends=True)
    assert "stray text" not in "".join(lines), "a print reached the client's stream"
    assert [json.loads(line).get("id") for line in lines] == [1, 2]
    assert json.loads(lines[1])["result"]["structuredContent"] == {"result": "ok"}
    assert "stray text from a tool" in stderr


@pytest.mark.slow
async def test_status_rerun_and_delete_job_tools_with_secrets_redacted(connect, tmp_path: Path) -> None:
    async with connect() as agent:
        with anyio.fail_after(240):
            launched = await agent.data(
                "launch",
                {"project_dir": str(leaky_project(tmp_path)), "arg_lists": [[CANARY_NAME]], "env_vars": [CANARY_NAME]},
            )
            job_id, run_id = launched["job"]["job_id"], launched["runs"][0]["run_id"]

            async def failed() -> dict | None:
                status = await agent.data("status", {"job_id": job_id})
                return status if status["counts"].get("FAILED") else None

            status = await poll(failed, 120)
            assert status["total"] == 1 and [f["run_id"] for f in status["failed"]] == [run_id]
            # The local target redacts at the source ([REDACTED]); the tool redacts what remains.
            error = status["failed"][0]["error"]
            assert (
                error.startswith("failing on purpose with [") and "redacted]" in error.lower() and CANARY not in error
            )
            again = await agent.data("rerun", {"failed_of": job_id})
            assert [r["args"] for r in again["runs"]] == [[CANARY_NAME]] and again["runs"][0]["job_id"] == job_id
            await agent.call("rerun", {}, error=True)
            deleted = await agent.data("delete_job", {"job_id": job_id, "cancel_runs": True})
            assert deleted["job_id"] == job_id
            gone = await agent.call("get_job", {"job_id": job_id}, error=True)
            assert f"unknown job id {job_id}" in gone.content[0].text
            pruned = await agent.data("prune", {"older_than_days": 0})
            assert pruned == {"target": "local", "runs": 0, "removed": [], "bytes_freed": 0}  # delete_job left nothing
