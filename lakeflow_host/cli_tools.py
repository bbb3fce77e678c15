"""lakeflow's own tooling: init (a new project), plugins (what is installed), mcp (the server)."""

from __future__ import annotations

from pathlib import Path

import click

from lakeflow_host import api, render
from lakeflow_host.cli_options import common, emit, notice, quiet_option


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", help="The project's name [default: the folder's name].")
@quiet_option()
def init_cmd(directory: str, name: str | None) -> None:
    """Create a ready project in DIRECTORY: pyproject.toml with a lakeflow-task entry point and
    [tool.lakeflow] defaults, src/, and args.txt. Never overwrites a file."""
    from lakeflow_host.init_project import init

    init(directory, name)
    notice(f"created a project; next: lakeflow launch {directory} --runs-from {Path(directory) / 'args.txt'} --wait")
    click.echo(str(Path(directory).resolve()))


@click.command("plugins")
@common(target=False)
def plugins_cmd(options: dict[str, str], as_json: bool) -> None:
    """List loaded plugins: name, kind, builder/target names, distribution and version."""
    plugins = api.list_plugins()
    emit(plugins, as_json, render.plugins_table(plugins))


@click.command("mcp")
def mcp_cmd() -> None:
    """Serve lakeflow's tools to AI agents over MCP (stdio)."""
    from lakeflow_host import mcp_server  # the mcp SDK is heavy; only this command pays for it

    mcp_server.main()


COMMANDS = (init_cmd, plugins_cmd, mcp_cmd)
