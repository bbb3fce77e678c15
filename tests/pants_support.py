"""Pants for the tests: one install (by .ci/install-pants.sh), one cache, and the fixture repo
built once per session. Shared by the Pants builder's tests and the Databricks target's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, copy_project

INSTALLED_PANTS = REPO / ".ci" / ".pants" / "bin" / "pants"
WHEEL = "my_package-0.1.0-py3-none-any.whl"
COMPANION = "greeting-0.2.0-py3-none-any.whl"


@pytest.fixture(scope="session")
def pants_cmd() -> str:
    """The Pants the tests use: $LAKEFLOW_TEST_PANTS, else the one .ci/install-pants.sh installs."""
    explicit = os.environ.get("LAKEFLOW_TEST_PANTS")
    if explicit:
        if not os.access(explicit, os.X_OK):
            pytest.fail(f"LAKEFLOW_TEST_PANTS={explicit} is not executable")
        return explicit
    if not INSTALLED_PANTS.exists():
        # Installing Pants is 400 MB: it happens in one visible place, `.ci/install-pants.sh`
        # (which `.ci/run` calls), never silently inside a test run.
        pytest.skip(
            f"Pants is not installed at {INSTALLED_PANTS}: run `bash .ci/install-pants.sh` "
            "(needs a CPython 3.7-3.9), or set LAKEFLOW_TEST_PANTS to a pants command"
        )
    return str(INSTALLED_PANTS)


@pytest.fixture(scope="session")
def pants_env(pants_cmd: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # A PEX unpacks itself into PEX_ROOT (default ~/.pex) when it runs.
    return {"LAKEFLOW_PANTS": pants_cmd, "PEX_ROOT": str(tmp_path_factory.mktemp("pex-root"))}


def run_cli(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lakeflow_host", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line lakeflow prints for a failure the user can fix (and no traceback)."""
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: "), proc.stderr
    return line


@pytest.fixture(scope="session")
def pants_repo(
    pants_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess]:
    """The fixture repo, built once with `lakeflow build-wheel REPO --builder pants` (the cold run),
    into an --output-dir outside the repo (Pants itself writes only inside it)."""
    root = tmp_path_factory.mktemp("pants")
    repo = copy_project("pants_repo", root)
    proc = run_cli("build-wheel", str(repo), "--builder", "pants", "--output-dir", str(root / "out"), env=pants_env)
    assert proc.returncode == 0, proc.stderr
    return repo, proc
