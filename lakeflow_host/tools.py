"""External programs the host and its plugins share."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from lakeflow_host.errors import LakeflowError


def uv_binary() -> str:
    """The uv executable: the one the PyPI ``uv`` package ships, else one on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        import shutil

        found = shutil.which("uv")
        if not found:
            raise LakeflowError(
                "the uv binary was not found; run `pip install uv` (lakeflow-host depends on it)"
            ) from None
        return found


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks (wheels and PEX files can be large)."""
    import hashlib  # here: plugins import this module at every start, and few of them hash

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _LazyModule:
    """Stands in for a module until one of its names is used.

    Not :class:`importlib.util.LazyLoader`: pluggy's registration looks at every attribute of a
    plugin (``isinstance`` reads ``__class__``), which would load such a module at once.
    """

    def __init__(self, name: str) -> None:
        self.__dict__["_lazy_name"] = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__dict__["_lazy_name"]), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_lazy_name']!r}>"


def lazy_module(name: str) -> Any:
    """Module ``name``, imported when one of its names is first used instead of now.

    Every command loads every plugin to learn its builder and target names, so a plugin keeps
    its heavy submodules behind this: ``jobs = lazy_module("my_plugin.jobs")``.
    """
    return _LazyModule(name)
