"""``lakeflow init``: a ready project, so that the first ``launch`` works right away."""

from __future__ import annotations

import re
from pathlib import Path

from lakeflow_host.errors import LakeflowError

_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")  # PEP 508 distribution names

_PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = []

[project.scripts]
# What every run executes, with the run's arguments in sys.argv[1:].
lakeflow-task = "{module}.task:main"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

# Defaults for `lakeflow launch .` (command-line flags and LAKEFLOW_TARGET override them).
[tool.lakeflow]
job-name = "{name}"
max-workers = 4
# target = "databricks"
# env-vars = ["API_TOKEN"]

# [tool.lakeflow.options.databricks]
# node_type = "m5d.large"
"""

_TASK = '''\
"""The task: one run per line of args.txt, each with that line's arguments."""

import os
import sys


def main() -> None:
    args = sys.argv[1:]
    print(f"run {{os.environ.get('LAKEFLOW_RUN_ID')}} of {name} got {{args}}")
'''

_ARGS = """\
# One run per line: the line's arguments, quoted as in a shell. Lines starting with # are skipped.
--shard 1
--shard 2
--shard 3 --verbose
"""


def init(directory: str | Path, name: str | None = None) -> list[Path]:
    """Write a new project into ``directory`` (created if missing); returns the files written.
    Refuses, writing nothing, when any of them exists."""
    folder = Path(directory).expanduser()
    name = name or folder.resolve().name
    if not _NAME.match(name):
        raise LakeflowError(
            f"{name!r} is not a valid project name; pass --name with letters, digits, - _ or ., e.g. --name my-task"
        )
    module = re.sub(r"[-_.]+", "_", name).lower()
    if not module.isidentifier() or module[0].isdigit():
        raise LakeflowError(f"{name!r} does not make a Python module name; pass --name starting with a letter")
    files = {
        folder / "pyproject.toml": _PYPROJECT.format(name=name, module=module),
        folder / "src" / module / "__init__.py": "",
        folder / "src" / module / "task.py": _TASK.format(name=name),
        folder / "args.txt": _ARGS,
        folder / ".gitignore": "dist/\n__pycache__/\n",
    }
    existing = [path for path in files if path.exists()]
    if existing:
        raise LakeflowError(f"{existing[0]} already exists; lakeflow init never overwrites, choose an empty folder")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
