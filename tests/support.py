"""Helpers for tests (not fixtures): paths, fixture projects, bounded polling."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def copy_project(name: str, dest: Path) -> Path:
    """A fixture project copied out of the repo, so that builds never write into it."""
    target = dest / name
    shutil.copytree(FIXTURES / name, target, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return target


def wait_until(predicate: Callable[[], object], timeout: float = 60, interval: float = 0.1) -> object:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def runs_json(lakeflow: Callable[..., subprocess.CompletedProcess], job_id: str) -> list[dict]:
    return json.loads(lakeflow("list-job-runs", job_id, "--json").stdout)
