"""How long ``lakeflow mcp`` takes from spawn to its ``tools/list`` answer, against a minimal server.

The baseline is a one-tool MCPServer on the same SDK and interpreter, so the ratio shows what
lakeflow itself adds (click, the API module, registering its tools). Goal: at most 1.3x.

Each sample spawns a fresh process, writes ``initialize``, ``notifications/initialized`` and
``tools/list`` as raw JSON-RPC lines, and stops the clock when the ``tools/list`` answer arrives.
Variants run interleaved so that load from other processes hits them alike.

    python benchmarks/bench_mcp_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.3

MINIMAL_SERVER = '''\
from mcp.server.mcpserver import MCPServer

server = MCPServer("minimal")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


server.run()
'''

REQUESTS = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


def time_to_tools_list(command: list[str], env: dict[str, str], timeout: float = 60) -> tuple[float, int]:
    """Seconds from spawn to the tools/list answer, and how many tools it listed."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write("".join(json.dumps(r) + "\n" for r in REQUESTS))
        proc.stdin.flush()
        deadline = start + timeout
        while time.perf_counter() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{command} exited before answering tools/list")
            message = json.loads(line)
            if message.get("id") == 2:
                return time.perf_counter() - start, len(message["result"]["tools"])
        raise RuntimeError(f"{command} did not answer within {timeout}s")
    finally:
        proc.kill()
        proc.wait(timeout=10)


def lakeflow_script() -> Path | None:
    """The installed console script next to this interpreter (not a shell shim such as pyenv's)."""
    script = Path(sys.executable).parent / "lakeflow"
    return script if script.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="samples per variant (median is reported)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lakeflow-bench-") as tmp:
        minimal = Path(tmp) / "minimal_server.py"
        minimal.write_text(MINIMAL_SERVER)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", tmp),
            "LAKEFLOW_HOME": str(Path(tmp) / "home"),
            "LAKEFLOW_TARGET": "local",
        }
        variants = {
            "minimal MCPServer, 1 tool (python minimal_server.py)": [sys.executable, str(minimal)],
            "lakeflow mcp (python -m lakeflow_host mcp)": [sys.executable, "-m", "lakeflow_host", "mcp"],
        }
        script = lakeflow_script()
        if script:
            variants["lakeflow mcp (console script)"] = [str(script), "mcp"]

        for command in variants.values():  # warm the OS file cache; not counted
            time_to_tools_list(command, env)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        tools: dict[str, int] = {}
        for _ in range(options.runs):
            for name, command in variants.items():
                seconds, tools[name] = time_to_tools_list(command, env)
                samples[name].append(seconds)

    baseline = statistics.median(next(iter(samples.values())))
    width = max(len(name) for name in variants)
    print(
        f"spawn -> tools/list answer, median of {options.runs} runs (Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs)"
    )
    print(f"{'server'.ljust(width)}  tools  median ms  min ms  ratio")
    worst = 0.0
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = median / baseline
        worst = max(worst, ratio)
        print(
            f"{name.ljust(width)}  {tools[name]:>5}  {median * 1000:>9.0f}  {min(values) * 1000:>6.0f}  {ratio:>5.2f}x"
        )
    print(f"goal: <= {GOAL}x -> {'met' if worst <= GOAL else 'NOT met'} (worst {worst:.2f}x)")


if __name__ == "__main__":
    main()
