"""External programs the host and its plugins share."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from lakeflow_host.errors import LakeflowError


def uv_binary() -> str:
    """The uv executable: the one the PyPI ``uv`` package ships, else one on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise LakeflowError(
                "the uv binary was not found; run `pip install uv` (lakeflow-host depends on it)"
            ) from None
        return found


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks (wheels and PEX files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
