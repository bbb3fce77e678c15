"""Facts about a workspace that a later command may reuse, kept on disk for a day, so that a
single `lakeflow trigger-run` sends run-now and little else (issue 10: its start-up within 1.1x of
a bare databricks-sdk script's).

Kept: the run page URL's base (the workspace's `?o=<id>` shape, RW-33), a fact that cannot hurt
when stale (it only shapes a link). Not kept: what a job's parameters are, since another launch
may update the job.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

TTL_S = 24 * 3600


def cache_dir() -> Path:
    home = os.environ.get("LAKEFLOW_HOME")
    if home:
        return Path(home).expanduser() / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lakeflow"


def _path(host: str):
    return cache_dir() / f"databricks-memo-{hashlib.sha256(host.encode()).hexdigest()[:16]}.json"


def recall(host: str, key: str) -> Any:
    try:
        data = json.loads(_path(host).read_text())
        entry = data.get(key) if data.get("host") == host else None
        if entry and time.time() - entry.get("time", 0) < TTL_S:
            return entry.get("value")
    except (OSError, ValueError, AttributeError):
        pass
    return None


def keep(host: str, key: str, value: Any) -> None:
    path = _path(host)
    try:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict) or data.get("host") != host:
            data = {"host": host}
        data[key] = {"time": time.time(), "value": value}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
    except OSError:
        pass  # a read-only home only costs the request next time
