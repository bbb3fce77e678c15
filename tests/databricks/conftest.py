"""Fixtures for the Databricks target: the Databricks-compatible server on 127.0.0.1, a workspace
configured for it, and the fixture project built once per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks_server import DatabricksServer
from dbx_helpers import TOKEN

import lakeflow_host as lf

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def dbx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by every server of the session, so task venvs (keyed by wheel hashes) are reused."""
    return tmp_path_factory.mktemp("dbx-server")


@pytest.fixture
def dbx(dbx_root: Path) -> Iterator[DatabricksServer]:
    """A fresh workspace per test; its threads and task processes stop at teardown."""
    with DatabricksServer(token=TOKEN, workers=2, task_timeout=60, root=dbx_root) as server:
        yield server


@pytest.fixture
def dbx_env(home: Path, dbx: DatabricksServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process and the CLIs it starts talk to the test server through unified auth env vars."""
    # Runs on the test server take a second, not minutes: poll faster than the default 5 s.
    env = {"DATABRICKS_HOST": dbx.host, "DATABRICKS_TOKEN": TOKEN, "LAKEFLOW_DATABRICKS_POLL_INTERVAL": "0.2"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def dbx_project(tmp_path_factory: pytest.TempPathFactory) -> lf.Artifact:
    """dbx-task and its path dependency dbx-helper, built once with the real uv builder."""
    root = tmp_path_factory.mktemp("dbx-project")
    for name in ("dbxtask", "dbxhelper"):
        shutil.copytree(FIXTURES / name, root / name, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return lf.build_wheel(root / "dbxtask", builder="uv")


@pytest.fixture
def dbx_job(dbx_env: dict[str, str], dbx_project: lf.Artifact) -> lf.Job:
    """dbx-task uploaded and a job created for it, through the Python API."""
    remote = lf.upload_wheel(dbx_project, target="databricks")
    return lf.create_job("dbx-test", dbx_project.package, remote.path, max_workers=2, target="databricks")


@pytest.fixture
def cli(home: Path):
    """The lakeflow CLI in this process (click's runner): the same commands as the subprocess
    fixture ``lakeflow`` without paying databricks-sdk's import on every call."""
    from click.testing import CliRunner

    from lakeflow_host.cli import cli as command

    def run(*args: str, check: bool = True):
        result = CliRunner().invoke(command, list(args), catch_exceptions=False)
        if check and result.exit_code != 0:
            raise AssertionError(f"lakeflow {' '.join(args)} failed ({result.exit_code}):\n{result.stderr}")
        return result

    return run
