"""``lakeflow prune`` on the local target: old run records and logs, unused artifacts and venvs."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from lakeflow_host import PruneReport
from lakeflow_local_target import jobs_admin, store


def _size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(folder) / name).lstat().st_size
            except OSError:
                pass
    return total


def _remove(path: Path) -> int:
    size = _size(path)
    shutil.rmtree(path, ignore_errors=True)
    return size


def prune(root: Path, older_than_days: float) -> PruneReport:
    cutoff = time.time() - older_than_days * 86400
    db = jobs_admin._connect(root)
    with store.transaction(db):
        old = store.rows(
            db,
            "SELECT id FROM runs WHERE state NOT IN ('QUEUED', 'RUNNING') AND COALESCE(ended_at, queued_at) < ?",
            (cutoff,),
        )
        run_ids = [row["id"] for row in old]
        db.executemany("DELETE FROM runs WHERE id = ?", [(run_id,) for run_id in run_ids])
        # An artifact a job had before an update stays in use while runs triggered with it remain.
        db.execute(
            "DELETE FROM job_artifacts WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.job_id = job_artifacts.job_id"
            " AND runs.id <= job_artifacts.last_run_id)"
        )
        used = {row["artifact"] for row in store.rows(db, "SELECT artifact FROM jobs")}
        used |= {row["artifact"] for row in store.rows(db, "SELECT artifact FROM job_artifacts")}
    freed = sum(_remove(store.run_dir(root, run_id)) for run_id in run_ids)
    removed: list[str] = []
    used_folders = {Path(path).parent.name for path in used}
    artifacts = root / "artifacts"
    for folder in sorted(artifacts.iterdir()) if artifacts.is_dir() else []:
        # Age too, not only use: an upload waiting for its create-job is used by no job yet.
        if folder.name in used_folders or folder.stat().st_mtime >= cutoff:
            continue
        freed += _remove(folder)
        removed.append(str(folder))
    env_root = root / "envs"
    for venv in sorted(env_root.iterdir()) if env_root.is_dir() else []:
        if not (artifacts / venv.name).exists():
            freed += _remove(venv)
            removed.append(str(venv))
    return PruneReport("local", len(run_ids), tuple(removed), freed)
