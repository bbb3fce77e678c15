"""Helpers for tests (not fixtures): paths, fixture projects, bounded polling."""

from __future__ import annotations

import contextlib
import json
import os
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


def stop_runs(root: Path) -> None:
    """Kill whatever a test left running, so that no process outlives the test."""
    if not (root / "lakeflow.db").exists():
        return
    import sqlite3

    pids: list[int] = []
    with contextlib.suppress(sqlite3.Error, OSError):  # a test may have broken the database on purpose
        db = sqlite3.connect(root / "lakeflow.db", timeout=30)
        try:
            # Supervisors first, so that they start nothing new.
            pids += [row[0] for row in db.execute("SELECT pid FROM supervisors WHERE pid IS NOT NULL")]
        finally:
            pids += [row[0] for row in db.execute("SELECT pid FROM runs WHERE state = 'RUNNING' AND pid IS NOT NULL")]
            db.close()
    for pid in pids:
        try:
            os.killpg(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
