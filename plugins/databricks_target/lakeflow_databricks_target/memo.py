"""Facts about a workspace that a later command may reuse, kept on disk for a day, so that a
single `lakeflow trigger-run` sends run-now and little else (issue 10: its start-up within 1.1x of
a bare databricks-sdk script's).

Kept: the run page URL's base (the workspace's `?o=<id>` shape, RW-33), a fact that cannot hurt
when stale (it only shapes a link), and the host's metadata answer (its account and workspace
ids and OIDC endpoint, or that it has none), facts of the host itself (client.py). Not kept:
what a job's parameters are, since another launch may update the job.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from lakeflow_host import atomic_write

TTL_S = 24 * 3600


def cache_dir() -> Path:
    home = os.environ.get("LAKEFLOW_HOME")
    if home:
        return Path(home).expanduser() / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lakeflow"


def _path(host: str) -> Path:
    return cache_dir() / f"databricks-memo-{hashlib.sha256(host.encode()).hexdigest()[:16]}.json"


def read_private(path: Path) -> Any:
    """The JSON in ``path`` if this user owns it and its folder and nobody else may write either;
    else None. A planted answer could send OAuth's token exchange to someone else's endpoint."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        for st in (os.fstat(fd), os.stat(path.parent)):
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return None
        with os.fdopen(fd, closefd=False) as handle:
            return json.loads(handle.read())
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def write_private(path: Path, data: Any) -> None:
    """Replace ``path`` whole with ``data`` as JSON, readable and writable by this user only."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, json.dumps(data), mode=0o600)
    except OSError:
        pass  # a read-only home only costs the request next time


def recall(host: str, key: str) -> Any:
    data = read_private(_path(host))
    entry = data.get(key) if isinstance(data, dict) and data.get("host") == host else None
    if isinstance(entry, dict) and time.time() - entry.get("time", 0) < TTL_S:
        return entry.get("value")
    return None


def keep(host: str, key: str, value: Any) -> None:
    path = _path(host)
    data = read_private(path)
    if not isinstance(data, dict) or data.get("host") != host:
        data = {"host": host}
    data[key] = {"time": time.time(), "value": value}
    write_private(path, data)
