"""Building with ``uv build``: the checks, path dependencies, and the input hash."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakeflow_host import Artifact, LakeflowError, uv_binary
from lakeflow_uv_builder import NAME
from lakeflow_uv_builder.project import Project, load_project, path_dependencies

STAMP = ".lakeflow-build.json"
_SKIP_DIRS = {
    ".git",
    ".hg",
    ".venv",
    "venv",
    "__pycache__",
    "dist",
    "build",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
    ".pants.d",
    ".idea",
    ".vscode",
}
_TAIL_LINES = 8
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:")


def input_hash(projects: list[Project], skip: Path) -> str:
    """A hash of every file that can change a wheel: paths and contents, for each project."""
    digest = hashlib.sha256()
    for project in projects:
        digest.update(f"project {project.root}\0".encode())
        for directory, dirnames, filenames in os.walk(project.root):
            here = Path(directory)
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in _SKIP_DIRS and not d.endswith(".egg-info") and (here / d).resolve() != skip
            )
            for filename in sorted(filenames):
                path = here / filename
                if filename.endswith((".pyc", ".pyo")) or not path.is_file():
                    continue
                digest.update(f"{path.relative_to(project.root)}\0".encode())
                with open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                digest.update(b"\0")
    return digest.hexdigest()


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


def _reuse(stamp: Path, digest: str) -> tuple[Path, tuple[Path, ...]] | None:
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    if data.get("input_hash") != digest:
        return None
    main = stamp.parent / data["main"]
    companions = tuple(stamp.parent / c for c in data["companions"])
    if all(p.is_file() for p in (main, *companions)):
        return main, companions
    return None


def build(project_dir: Path, output_dir: Path | None, options: Mapping[str, Any]) -> Artifact:
    """Build the project and its path dependencies, unless the inputs are unchanged."""
    project = load_project(project_dir, need_entry_point=True)
    deps = path_dependencies(project)
    out = output_dir or project_dir / "dist"
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / STAMP
    digest = input_hash([project, *deps], out.resolve())
    if not options.get("rebuild"):
        reused = _reuse(stamp, digest)
        if reused:
            main, companions = reused
            return Artifact(main, "wheel", project.name, _version_of(main), companions, NAME, built=False)
    uv = uv_binary()
    companions = tuple(_build_one(uv, dep, out) for dep in deps)
    main = _build_one(uv, project, out)
    stamp.write_text(
        json.dumps(
            {
                "input_hash": digest,
                "main": main.name,
                "companions": [c.name for c in companions],
            },
            indent=2,
        )
        + "\n"
    )
    return Artifact(main, "wheel", project.name, _version_of(main), companions, NAME, built=True)
