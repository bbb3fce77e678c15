"""External programs the host and its plugins share."""

from __future__ import annotations

import shutil

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
