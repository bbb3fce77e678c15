"""Building with ``uv build``: the checks, path dependencies, and the input hash."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakeflow_host import Artifact, LakeflowError, uv_binary
from lakeflow_uv_builder import NAME, pins
from lakeflow_uv_builder.inputs import input_hash
from lakeflow_uv_builder.project import Project, load_project, path_dependencies

STAMP = ".lakeflow-build.json"
#: Beside the main wheel: ``<main wheel>.requirements.txt``, the pins exported from uv.lock.
PINS_SUFFIX = ".requirements.txt"
_TAIL_LINES = 8
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:")
_NO_INTERPRETER = re.compile(r"No interpreter found for Python ([^ ]+)")


def _tail(text: str) -> str:
    """The lines that say what went wrong: the build backend's exception and uv's own
    ``error:``/``cause:`` lines; else the last few lines."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    exceptions = [line for line in lines if _EXCEPTION_LINE.match(line)]
    uv_lines = [line for line in lines if line.startswith(("error:", "cause:", "×", "╰─▶"))]
    picked = exceptions[-1:] + uv_lines if exceptions or uv_lines else lines[-_TAIL_LINES:]
    return " | ".join(picked) or "no output"


def _build_one(uv: str, project: Project, output_dir: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix=".lakeflow-build-", dir=output_dir) as tmp:
        proc = subprocess.run(
            [uv, "build", "--wheel", "--no-progress", "--out-dir", tmp, str(project.root)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            missing = _NO_INTERPRETER.search(proc.stderr)
            if missing:
                raise LakeflowError(
                    f"{project.name} requires Python {missing[1]}, but uv found no such interpreter (lakeflow runs on "
                    f"Python {platform.python_version()} at {sys.executable}); install one with "
                    f"`uv python install '{missing[1]}'` or widen requires-python in pyproject.toml"
                )
            raise LakeflowError(
                f"uv build failed for {project.name} ({project.root}): {_tail(proc.stderr + proc.stdout)}"
            )
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise LakeflowError(f"uv build of {project.name} produced {len(wheels)} wheels, expected one")
        final = output_dir / wheels[0].name
        os.replace(wheels[0], final)
        return final


def _version_of(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def _reuse(stamp: Path, digest: str) -> tuple[Path, tuple[Path, ...], Path | None] | None:
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    if data.get("input_hash") != digest:
        return None
    main = stamp.parent / data["main"]
    companions = tuple(stamp.parent / c for c in data["companions"])
    requirements = stamp.parent / data["requirements"] if data.get("requirements") else None
    if all(p.is_file() for p in (main, *companions, *([requirements] if requirements else []))):
        return main, companions, requirements
    return None


def build(project_dir: Path, output_dir: Path | None, options: Mapping[str, Any]) -> Artifact:
    """Build the project and its path dependencies, unless the inputs are unchanged."""
    project = load_project(project_dir, need_entry_point=True)
    deps = path_dependencies(project)
    out = output_dir or project_dir / "dist"
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / STAMP
    lock = pins.find_lock(project)
    # The lock is an input: a changed pin rebuilds, and a stale lock is caught before a build.
    outside = []
    if lock is not None and not lock.is_relative_to(project.root):
        outside = [p for p in (lock, lock.parent / "pyproject.toml") if p.is_file()]
    digest = input_hash([p.root for p in (project, *deps)], out.resolve(), outside)
    if not options.get("rebuild"):
        reused = _reuse(stamp, digest)
        if reused:
            main, companions, requirements = reused
            if lock is None:
                pins.say_unpinned(project)
            return Artifact(
                main, "wheel", project.name, _version_of(main), companions, NAME, built=False, requirements=requirements
            )
    uv = uv_binary()
    locked = pins.export(uv, project) if lock is not None else None
    companions = tuple(_build_one(uv, dep, out) for dep in deps)
    main = _build_one(uv, project, out)
    requirements = None
    if locked is not None:
        requirements = out / (main.name + PINS_SUFFIX)
        requirements.write_text(locked)
    stamp.write_text(
        json.dumps(
            {
                "input_hash": digest,
                "main": main.name,
                "companions": [c.name for c in companions],
                "requirements": requirements.name if requirements else None,
            },
            indent=2,
        )
        + "\n"
    )
    if lock is None:  # after the build, so that a failing build stays one line
        pins.say_unpinned(project)
    return Artifact(
        main, "wheel", project.name, _version_of(main), companions, NAME, built=True, requirements=requirements
    )
