"""The ``uv`` builder: ``uv build --wheel`` for the project and each of its local path dependencies.

Needs nothing installed by hand: the uv binary comes from the PyPI ``uv`` package. Wheels of
path dependencies (``[tool.uv.sources] x = { path = "../x" }``, workspace members, packages in
git submodules) travel with the artifact as companions, so that a job installs them from the
uploaded files instead of looking their names up on a package index.

A build is skipped when a hash of every input file matches the previous build's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeflow_host import BuilderInfo, Option, hookimpl

if TYPE_CHECKING:
    from lakeflow_host import Artifact

NAME = "uv"
OPTIONS = (Option("rebuild", "Build even when no input file changed since the last build.", type=bool, default=False),)


@hookimpl
def builders() -> list[BuilderInfo]:
    return [BuilderInfo(NAME, OPTIONS, "uv build --wheel, with wheels of local path dependencies")]


@hookimpl
def build_artifact(project_dir: Path, output_dir: Path | None, options: Mapping[str, Any]) -> Artifact:
    from lakeflow_uv_builder import build  # uv, hashing, TOML: only a build pays for them

    return build.build(project_dir, output_dir, options)
