"""Write lakeflow's bytecode before a start-up is timed, as ``pip install`` does for a regular
install: an editable install (this checkout) has none until a run writes it, and never gets any
under ``PYTHONDONTWRITEBYTECODE``, so that every start would compile lakeflow from source while
the baseline (click, databricks-sdk, mcp) was compiled when pip installed it."""

from __future__ import annotations

import compileall
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def compile_bytecode() -> None:
    for folder in (REPO / "lakeflow_host", REPO / "plugins"):
        compileall.compile_dir(folder, quiet=1)
