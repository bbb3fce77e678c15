"""The per-job worker: a detached process that starts a job's queued runs, at most
``max_concurrent_runs`` at a time in trigger order, and records how each one ends.

One worker runs per job at a time. Whoever starts it takes the job's lock first and hands the
locked file to the worker, so two triggers can never start two workers. The worker exits when
the job has nothing queued or running, and it lives in its own session, so it outlives the
``lakeflow`` command (or MCP server) that started it.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakeflow_host import LakeflowError, RunState
from lakeflow_local_target import envs, jobs_admin, procs, store

_TICK = 0.005


def _lock_path(root: Path, job_id: int | str) -> Path:
    return root / "locks" / f"job-{job_id}.lock"


def _pid_path(root: Path, job_id: int | str) -> Path:
    return root / "locks" / f"job-{job_id}.worker"


def ensure_worker(root: Path, job_id: int | str) -> None:
    """Start the job's worker unless one is running."""
    path = _lock_path(root, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        with open(root / "worker.log", "ab") as log:
            subprocess.Popen(
                [sys.executable, "-m", "lakeflow_local_target.worker", str(root), str(job_id), str(fd)],
                pass_fds=(fd,),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
    finally:
        os.close(fd)


def worker_alive(root: Path, job_id: int | str) -> bool:
    try:
        pid, start = _pid_path(root, job_id).read_text().split()
    except (OSError, ValueError):
        return False
    return procs.alive(int(pid), start)


def _describe_exit(code: int) -> str | None:
    if code == 0:
        return None
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"the task exited with code {code}"


class Worker:
    def __init__(self, root: Path, job_id: int, lock_fd: int) -> None:
        self.root, self.job_id, self.lock_fd = root, job_id, lock_fd
        self.db = store.connect(root)
        job = store.job_row(self.db, job_id)
        self.cap = job["max_concurrent_runs"]
        self.job = job
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self._commands: dict[str, list[str]] = {}

    def command(self, run_id: int) -> list[str]:
        # A launch may update the job meanwhile: each run installs what the job had at its trigger.
        artifact = jobs_admin.run_artifact(self.db, self.job_id, run_id)
        if artifact not in self._commands:
            kind = "pex" if artifact.endswith(".pex") else "wheel"
            self._commands[artifact] = envs.command(self.root, kind, self.job["package"], artifact)
        return self._commands[artifact]

    def environment(self, run_id: int) -> dict[str, str]:
        env = dict(os.environ)
        try:
            env.update(json.loads(store.secrets_path(self.root, self.job_id).read_text()))
        except FileNotFoundError:
            pass
        env.update(
            DATABRICKS_RUN_ID=str(run_id),
            LAKEFLOW_RUN_ID=str(run_id),
            LAKEFLOW_JOB_ID=str(self.job_id),
            PYTHONUNBUFFERED="1",
        )
        return env

    def reap(self) -> None:
        for run_id, proc in list(self.children.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.children[run_id]
            state = RunState.SUCCEEDED if code == 0 else RunState.FAILED
            with store.transaction(self.db):
                if not store.finish_run(self.db, run_id, state, code, _describe_exit(code)):
                    # Canceled meanwhile: keep the cancel, but record how the process ended.
                    self.db.execute("UPDATE runs SET exit_code = ? WHERE id = ? AND exit_code IS NULL", (code, run_id))

    def claim(self, free: int) -> list[tuple[int, list[str]]]:
        with store.transaction(self.db):
            queued = store.rows(
                self.db,
                "SELECT id, args FROM runs WHERE job_id = ? AND state = 'QUEUED' ORDER BY id LIMIT ?",
                (self.job_id, free),
            )
            now = time.time()
            for row in queued:
                self.db.execute("UPDATE runs SET state = 'RUNNING', started_at = ? WHERE id = ?", (now, row["id"]))
        return [(row["id"], json.loads(row["args"])) for row in queued]

    def start(self, run_id: int, args: list[str]) -> None:
        folder = store.run_dir(self.root, run_id)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            command = self.command(run_id) + args
            with open(store.log_path(self.root, run_id), "ab") as log:
                proc = subprocess.Popen(
                    command,
                    cwd=folder,
                    env=self.environment(run_id),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except (LakeflowError, OSError) as exc:
            with store.transaction(self.db):
                store.finish_run(self.db, run_id, RunState.FAILED, None, f"the run could not start: {exc}")
            return
        self.children[run_id] = proc
        self.db.execute(
            "UPDATE runs SET pid = ?, pid_started = ? WHERE id = ?", (proc.pid, procs.started(proc.pid), run_id)
        )
        state = self.db.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()["state"]
        if state == RunState.CANCELED.value:  # canceled between the claim and the start
            procs.kill_tree(proc.pid)

    def has_queued(self) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM runs WHERE job_id = ? AND state = 'QUEUED' LIMIT 1", (self.job_id,)
            ).fetchone()
            is not None
        )

    def loop(self) -> None:
        while True:
            self.reap()
            started_any = False
            free = self.cap - len(self.children)
            if free > 0:
                for run_id, args in self.claim(free):
                    self.start(run_id, args)
                    started_any = True
            if not self.children and not started_any:
                # Release, then look once more: a trigger that found the lock held before the
                # release has already queued its run, and we see it here.
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
                if not self.has_queued():
                    return
                try:
                    fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another worker took over
                continue
            time.sleep(_TICK)


def main(argv: list[str]) -> None:
    root, job_id, lock_fd = Path(argv[0]), int(argv[1]), int(argv[2])
    _pid_path(root, job_id).write_text(f"{os.getpid()} {procs.started(os.getpid())}")
    Worker(root, job_id, lock_fd).loop()


if __name__ == "__main__":
    main(sys.argv[1:])
