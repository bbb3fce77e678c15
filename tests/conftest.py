"""Shared fixtures: an isolated lakeflow home, the real CLI in a subprocess, built fixture projects."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pants_support import pants_cmd, pants_env, pants_repo  # noqa: F401 - shared session fixtures
from support import copy_project, stop_runs

# Variables that would make the Databricks target the default, or change the builder.
_FOREIGN_ENV = (
    "LAKEFLOW_TARGET",
    "LAKEFLOW_BUILDER",
    "LAKEFLOW_DISABLE_PLUGINS",
    "LAKEFLOW_DEBUG",
    "DATABRICKS_HOST",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_CONFIG_FILE",
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh ``LAKEFLOW_HOME`` on the local target, for this process and the CLIs it starts."""
    root = tmp_path / "lakeflow-home"
    for name in _FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEFLOW_HOME", str(root))
    # No ~/.databrickscfg DEFAULT profile may turn the Databricks target on.
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    yield root
    stop_runs(root)


CLI = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def lakeflow(home: Path) -> CLI:
    """Run the real ``lakeflow`` command in a subprocess; returns the completed process."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        input: str | None = None,
        timeout: float = 180,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "lakeflow_host", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            input=input,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"lakeflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def task_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test-task project, built once per session with the real uv builder."""
    import lakeflow_host as lf

    root = tmp_path_factory.mktemp("task-project")
    artifact = lf.build_wheel(copy_project("tasks", root), builder="uv")
    return artifact.path


@pytest.fixture
def task_job(home: Path, lakeflow: CLI, task_wheel: Path) -> Callable[..., str]:
    """Upload the test task and create a job from it with the CLI; returns the job id."""

    def make(*create_args: str, env: dict[str, str] | None = None) -> str:
        remote = lakeflow("upload-wheel", str(task_wheel)).stdout.strip()
        return lakeflow("create-job", "test-job", "lakeflow-testtask", remote, *create_args, env=env).stdout.strip()

    return make
