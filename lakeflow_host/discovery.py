"""Finding the ``lakeflow`` entry points, cached between commands.

Every command needs the plugins, and ``importlib.metadata`` (its import and a scan of every
installed distribution) was the largest part of a local command's start-up. The answer only
changes when something is installed or removed on ``sys.path``, which changes the modification
time of the folder holding the distribution's metadata, so the scan's result is kept under
``$XDG_CACHE_HOME/lakeflow`` keyed by ``sys.path`` and those times; for the working directory
(on ``sys.path`` under ``python -m lakeflow_host``), by the distributions it holds.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

GROUP = "lakeflow"
#: Set to 1 to scan every time (for a broken cache, or to measure).
NO_CACHE_ENV = "LAKEFLOW_NO_ENTRY_POINT_CACHE"
_FORMAT = 1


class Distribution:
    """The ``name`` and ``version`` of the distribution an entry point comes from."""

    # Plain classes, not dataclasses: creating a dataclass costs a millisecond at every start.
    __slots__ = ("name", "version")

    def __init__(self, name: str, version: str) -> None:
        self.name, self.version = name, version


class EntryPoint:
    """What the host needs of an entry point: ``importlib.metadata.EntryPoint``'s shape."""

    __slots__ = ("name", "value", "dist")

    def __init__(self, name: str, value: str, dist: Distribution | None) -> None:
        self.name, self.value, self.dist = name, value, dist

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r})"

    def load(self) -> Any:
        module, _, attrs = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


_METADATA = (".dist-info", ".egg-info")


def _metadata_in(entry: str) -> list[str] | None:
    try:
        return sorted(name for name in os.listdir(entry or ".") if name.endswith(_METADATA))
    except OSError:
        return None


def _entry_key(entry: str, cwd: str | None) -> list[Any]:
    # The working directory (sys.path[0] under `python -m lakeflow_host`, as MCP clients start
    # it) changes its mtime with every file a user writes there; only distribution metadata in it
    # can change the entry points.
    if os.path.abspath(entry or ".") == cwd:
        names = _metadata_in(entry)
        return [entry if names else "", names]  # which folder it is matters only if it has any
    try:
        return [entry, os.stat(entry or ".").st_mtime_ns]
    except OSError:
        return [entry, None]


def _cache_file(key: list[list[Any]]) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    import zlib  # hashlib costs 2 ms of every command's start-up; a name needs no strength

    # A working directory without distributions is left out of the name: one cache file serves
    # every folder `python -m lakeflow_host` is started from.
    entries = [entry for entry, state in key if state != []]
    digest = f"{zlib.crc32(json.dumps([sys.prefix, entries]).encode()):08x}"
    return Path(base) / "lakeflow" / f"entry-points-{digest}.json"


def _key() -> list[list[Any]]:
    try:
        cwd: str | None = os.getcwd()
    except OSError:  # the working directory was removed
        cwd = None
    return [_entry_key(entry, cwd) for entry in sys.path]


def _scan() -> list[EntryPoint]:
    from importlib import metadata

    return [
        EntryPoint(ep.name, ep.value, Distribution(ep.dist.name, ep.dist.version) if ep.dist else None)
        for ep in metadata.entry_points(group=GROUP)
    ]


def entry_points() -> list[EntryPoint]:
    """Every installed ``lakeflow`` entry point, from the cache when nothing changed on
    ``sys.path`` since it was written."""
    if os.environ.get(NO_CACHE_ENV, "") not in ("", "0"):
        return _scan()
    key = _key()
    path = _cache_file(key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["format"] == _FORMAT and data["key"] == key:
            return [EntryPoint(n, v, Distribution(*d) if d else None) for n, v, d in data["entry_points"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = _scan()
    record = {
        "format": _FORMAT,
        "key": key,
        "entry_points": [[ep.name, ep.value, [ep.dist.name, ep.dist.version] if ep.dist else None] for ep in found],
    }
    try:
        from lakeflow_host.tools import atomic_write

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(record), mode=0o644)
    except OSError:
        pass  # a read-only cache costs speed, never correctness
    return found
