"""Helpers for tests (not fixtures): paths, fixture projects, bounded polling."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
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


def stop_runs(root: Path, timeout: float = 10.0) -> None:
    """Kill every process a test's runs started, so that none outlives the test.

    That is each supervisor (found by the home folder in its command line, so also one that has
    not recorded its pid yet, or whose database a test broke), each task the database recorded
    (one that outlived its supervisor is nobody's child any more, and a canceled one may still
    be dying), and everything below them. Each is stopped before its tree is read, so that
    nothing forks or escapes meanwhile.
    """
    from lakeflow_local_target import procs

    deadline = time.monotonic() + timeout
    while True:
        found = [pid for pid, start in _recorded(root) if procs.alive(pid, start) and not _zombie(pid)]
        found += [pid for pid in _supervisors_by_command_line(root) if pid not in found]
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        tree = {child for pid in found for child in procs.descendants(pid)}
        for pid in found:
            # Supervisors and tasks lead their own session; never signal the test's own group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == pid != os.getpgid(0):
                    os.killpg(pid, signal.SIGKILL)
        for pid in {*found, *tree}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of {root} still alive after {timeout}s: {found}")
        time.sleep(0.05)  # a killed process is gone once its new parent reaped it


def _recorded(root: Path) -> list[tuple[int, str | None]]:
    """Every supervisor and task pid the database holds, with its start time."""
    import sqlite3

    if not (root / "lakeflow.db").exists():
        return []
    found: list[tuple[int, str | None]] = []
    with contextlib.suppress(sqlite3.Error, OSError):  # a test may have broken the database on purpose
        db = sqlite3.connect(root / "lakeflow.db", timeout=30)
        try:
            for query in (
                "SELECT pid, pid_started FROM supervisors WHERE pid IS NOT NULL",
                "SELECT sup_pid, sup_started FROM runs WHERE sup_pid IS NOT NULL",
                "SELECT pid, pid_started FROM runs WHERE pid IS NOT NULL",
            ):
                with contextlib.suppress(sqlite3.Error):
                    found += [(row[0], row[1]) for row in db.execute(query)]
        finally:
            db.close()
    return found


def _supervisors_by_command_line(root: Path) -> list[int]:
    """Live processes whose command line names the home folder: supervisors, adopted tasks."""
    names = {str(root).encode(), str(root.resolve()).encode()}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if names.intersection(args) and not _zombie(int(entry)):
            found.append(int(entry))
    return found


def _zombie(pid: int) -> bool:
    """Dead but not reaped yet (or gone): nothing left to kill."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
