"""Small helpers for the Databricks tests (not fixtures)."""

from __future__ import annotations

import json
import re

import lakeflow_host as lf

#: The test server's personal access token (a made-up one).
TOKEN = "dapi-lakeflow-test-0123456789"


def finished(run_ids: list[str], timeout: float = 90) -> list[lf.Run]:
    """Wait (bounded) for runs through the public API."""
    return lf.wait(run_ids, target="databricks", timeout=timeout, poll_interval=0.2)


def task_lines(text: str) -> dict[str, str]:
    """KEY=VALUE lines the fixture task prints."""
    return dict(m.groups() for m in re.finditer(r"(?m)^([A-Z_0-9]+)=(.*)$", text))


def argv_of(text: str) -> list[str]:
    return json.loads(task_lines(text)["ARGV"])
