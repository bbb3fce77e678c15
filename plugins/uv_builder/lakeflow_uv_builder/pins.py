"""Exact pins from ``uv.lock``: what a job installs besides the wheels, so that a run uses the
versions the user locked instead of whatever the index serves on the day the job is created."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lakeflow_host import LakeflowError
from lakeflow_uv_builder.project import Project, workspace_root

LOCK = "uv.lock"
STALE = "uv.lock is out of date; run `uv lock`"


def find_lock(project: Project) -> Path | None:
    """The lock covering ``project``: its own, else its workspace root's."""
    own = project.root / LOCK
    if own.is_file():
        return own
    root = workspace_root(project.root)
    if root is not None and (root / LOCK).is_file():
        return root / LOCK
    return None


def export(uv: str, project: Project) -> str:
    """The lock's pins for ``project``'s runtime dependencies, one ``name==version`` a line.

    Local packages (the project, workspace members, path dependencies) are left out: they travel
    as companion wheels. ``--locked`` is uv's own staleness check; it never re-resolves silently.
    """
    proc = subprocess.run(
        [
            uv,
            "export",
            "--locked",
            "--format",
            "requirements.txt",
            "--no-dev",
            "--no-emit-project",
            "--no-emit-workspace",
            "--no-emit-local",
            "--no-hashes",
            "--no-header",
            "--no-annotate",
            "--no-progress",
            "--project",
            str(project.root),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=project.root,
    )
    if proc.returncode != 0:
        if "needs to be updated" in proc.stderr:
            raise LakeflowError(STALE)
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith(("error:", "×"))]
        raise LakeflowError(
            f"exporting the pins of {project.name} from uv.lock failed: {' | '.join(lines) or proc.stderr.strip()}; "
            "check that `uv lock` succeeds"
        )
    return "".join(
        f"{line.strip()}\n" for line in proc.stdout.splitlines() if line.strip() and not line.startswith("#")
    )


def say_unpinned(project: Project) -> None:
    print(
        f"lakeflow: {project.name} has no uv.lock, so its dependencies are resolved at job creation "
        "(run `uv lock` to pin them)",
        file=sys.stderr,
    )
