"""Run supervisors: detached processes that start a job's queued runs and record how they end.

A job has at most ``max_concurrent_runs`` slots, each one supervisor. Whoever finds a queued run
and a free slot while none of the job's supervisors is starting (a trigger, any ``lakeflow``
command that looks at the job) starts one in a session of its own; each time a supervisor claims
a run, it forks one more for every free slot the queue calls for (a fork costs a fraction of an
interpreter start). A supervisor takes the oldest queued run, executes it, records its end (exit
code or signal, times), then takes the next one, and exits when nothing is queued: an idle job
has no process at all. It blocks on the task's output pipe and on ``waitpid``, never polls.

Nothing depends on one process staying alive:

- the supervisor is a child subreaper, so a run ends only once every process it started has
  exited (``setsid`` or not), and a cancel reaches all of them;
- the task's launcher writes its exit code to the run's folder; if its supervisor was killed,
  the launcher turns itself into the job's next supervisor, which records that outcome and goes
  on with the queue;
- a run whose supervisor and task are both gone is settled by the next process that looks
  (another supervisor, a trigger, any ``lakeflow`` command); a task that outlived its
  supervisor still holds its slot until it ends, so the cap holds across crashes.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from lakeflow_host import LakeflowError, RunState
from lakeflow_local_target import jobs_admin, output, procs, safety, slots, store

#: What every run's environment starts from; the job's env vars and the run ids are added.
_PR_SET_CHILD_SUBREAPER = 36
_KILL_GRACE = 3.0
# Where lakeflow itself is imported from, for a task that execs into a supervisor (see adopt).
_HOST_SPEC = importlib.util.find_spec("lakeflow_host")
_PACKAGE_DIRS = sorted(
    {str(Path(__file__).resolve().parents[1])}
    | ({str(Path(_HOST_SPEC.origin).resolve().parents[1])} if _HOST_SPEC and _HOST_SPEC.origin else set())
)


class Supervisor:
    def __init__(self, root: Path, job_id: int, slot: int | None, task_umask: int | None = None) -> None:
        self.root, self.job_id = root, job_id
        umask = os.umask(0o077)  # what lakeflow writes is private; tasks keep the user's umask
        self.task_umask = umask if task_umask is None else task_umask
        _set_subreaper(True)
        self.db = store.connect(root)
        self.job = store.job_row(self.db, job_id)
        self.options = store.job_options(self.job)
        self.me = (os.getpid(), procs.started(os.getpid()))
        with store.transaction(self.db):
            updated = (
                slot is not None
                and self.db.execute(
                    "UPDATE supervisors SET pid = ?, pid_started = ? WHERE id = ?", (*self.me, slot)
                ).rowcount
            )
            if not updated:
                self.db.execute(
                    "INSERT INTO supervisors (job_id, pid, pid_started, created_at) VALUES (?, ?, ?, ?)",
                    (job_id, *self.me, time.time()),
                )
        self.commands: dict[str, list[str]] = {}  # per artifact: a job updated by a launch has two
        self.current: int | None = None
        self.killer: threading.Thread | None = None
        signal.signal(signal.SIGUSR1, self._on_cancel)

    def loop(self) -> None:
        while True:
            with store.transaction(self.db):
                busy = slots.busy_slots(self.db, self.root, self.job_id)  # and settle what nobody watches
                row = self.db.execute(
                    "SELECT * FROM runs WHERE job_id = ? AND state = 'QUEUED' ORDER BY id LIMIT 1", (self.job_id,)
                ).fetchone()
                if row is None:
                    self.db.execute("DELETE FROM supervisors WHERE pid = ? AND pid_started IS ?", self.me)
                    return
                self.db.execute(
                    "UPDATE runs SET state = 'RUNNING', started_at = ?, sup_pid = ?, sup_started = ? WHERE id = ?",
                    (time.time(), *self.me, row["id"]),
                )
                cap = store.job_row(self.db, self.job_id)["max_concurrent_runs"]
                siblings = slots.reserve_free_slots(self.db, self.job_id, cap, busy)
            self._start_siblings(siblings)
            try:
                self.execute(row["id"], row["args"])
            except Exception as exc:  # noqa: BLE001 - the queue must go on whatever one run hit
                self._finish(row["id"], RunState.FAILED, None, f"lakeflow's supervisor failed: {exc}")

    def _finish(self, run_id: int, state: RunState, code: int | None, message: str | None) -> None:
        for attempt in range(30):  # a full disk or a busy database may clear up
            try:
                with store.transaction(self.db):
                    if not store.finish_run(self.db, run_id, state, code, message) and code is not None:
                        # Canceled meanwhile: keep the cancel, but record how the process ended.
                        self.db.execute(
                            "UPDATE runs SET exit_code = ? WHERE id = ? AND exit_code IS NULL", (code, run_id)
                        )
                return
            except sqlite3.OperationalError:
                time.sleep(min(2.0, 0.1 * 2**attempt))

    def prepare(self, run_id: int, stored_args: str) -> tuple[list[str], dict[str, str], list[str]]:
        """The run's arguments, environment and the job's secret values; one line if broken."""
        try:
            args = safety.check_args(json.loads(stored_args))
        except ValueError as exc:
            raise LakeflowError(f"its stored arguments are unreadable ({exc}); trigger it again") from None
        path = store.secrets_path(self.root, self.job_id)
        secrets: dict[str, str] = {}
        if json.loads(self.job["env_names"]):
            try:
                secrets = safety.check_env(json.loads(safety.read_private(path)))
            except (OSError, ValueError, AttributeError) as exc:
                raise LakeflowError(
                    f"the job's env-var file {path} is unreadable ({type(exc).__name__}); create the job again"
                ) from None
        if slots.flag(self.options.get("inherit_env")):
            env = dict(os.environ)
            env.pop("LAKEFLOW_HOME", None)
        else:
            env = slots.base_env(os.environ)
        env.update(secrets)
        env.update(DATABRICKS_RUN_ID=str(run_id), LAKEFLOW_RUN_ID=str(run_id), PYTHONUNBUFFERED="1")
        return args, env, list(secrets.values())

    def execute(self, run_id: int, stored_args: str) -> None:
        from lakeflow_local_target import envs

        folder = store.make_run_dir(self.root, run_id)
        try:
            # A launch may have updated the job meanwhile: its env values apply from now on, and
            # each run installs the artifact the job had when the run was triggered.
            self.job = store.job_row(self.db, self.job_id)
            args, env, secrets = self.prepare(run_id, stored_args)
            secret_names = json.loads(self.job["env_names"])
            artifact = jobs_admin.run_artifact(self.db, self.job_id, run_id)
            kind = "pex" if artifact.endswith(".pex") else "wheel"
            command = self.commands.get(artifact)
            if command is None:
                with safety.private_umask():
                    command = self.commands[artifact] = envs.command(self.root, kind, self.job["package"], artifact)
                    if kind == "wheel":
                        safety.seal_env(envs.env_dir(self.root, Path(artifact)))
        except (LakeflowError, OSError) as exc:
            self._finish(run_id, RunState.FAILED, None, f"the run could not start: {exc}")
            return
        workdir = tempfile.mkdtemp(prefix=f"lakeflow-run-{run_id}-", dir=env.get("TMPDIR"))
        out_r, out_w = os.pipe()
        lifeline_r, lifeline_w = os.pipe()
        plan_r, plan_w = os.pipe()
        fds = {
            "status": safety.open_private(store.status_path(self.root, run_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            "log": safety.open_private(store.log_path(self.root, run_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND),
            "lifeline": lifeline_r,
            "output": out_r,
        }
        passed = (*fds.values(), plan_r)
        try:
            wheel = kind == "wheel"
            if wheel:
                adopt_argv, adopt_env = self._adopt_command(run_id)
                plan = envs.launch_plan(os.getpid(), list(fds.values()), secret_names, adopt_argv, adopt_env)
                os.write(plan_w, plan)  # far below a pipe's buffer
            os.close(plan_w)
            argv = [*command, str(plan_r), *args] if wheel else [*command, *args]
            self.current = run_id
            proc = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                start_new_session=True,
                pass_fds=passed if wheel else (),
                umask=self.task_umask,
            )
        except OSError as exc:
            self.current = None
            for fd in (*passed, out_w, lifeline_w):
                os.close(fd)
            self._finish(run_id, RunState.FAILED, None, f"the run could not start: {exc}")
            shutil.rmtree(workdir, ignore_errors=True)
            return
        for fd in (fds["status"], fds["log"], lifeline_r, plan_r, out_w):
            os.close(fd)
        self.db.execute("UPDATE runs SET pid = ? WHERE id = ?", (proc.pid, run_id))
        if self.db.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()["state"] == "CANCELED":
            self._start_killer(run_id)  # canceled between the claim and the start
        # The start time that tells a reused pid apart comes from a thread: reading
        # /proc/PID/stat waits until the task's exec is done (3 ms a run here), time better spent
        # pumping. Until then the pid alone stands for the task.
        stamper = threading.Thread(target=self._stamp, args=(run_id, proc.pid), daemon=True)
        stamper.start()
        disk_error = self._pump(out_r, folder, secrets)
        code = self._reap(proc.pid)
        stamper.join()
        os.close(lifeline_w)  # only now: the task's launcher must not take over the log
        proc.returncode = code  # reaped here, so that Popen never waits for it
        self.current = None  # before the join: no cancel may start a killer that outlives this run
        if self.killer is not None:
            self.killer.join()
            self.killer = None
        shutil.rmtree(workdir, ignore_errors=True)
        if disk_error:
            self._finish(run_id, RunState.FAILED, code, disk_error)
        else:
            self._finish(run_id, RunState.SUCCEEDED if code == 0 else RunState.FAILED, code, slots.describe_exit(code))

    def _start_siblings(self, slot_ids: list[int]) -> None:
        """A supervisor for each reserved slot, forked from this one. Each is double-forked with
        subreaping off meanwhile, so that none is a child of this process, whose ``waitpid(-1)``
        must only ever see its own run's processes. Called between runs: no task, no thread."""
        if not slot_ids:
            return
        self.db.close()  # a SQLite connection must never cross a fork (SQLite's "How To Corrupt")
        sys.stdout.flush()
        sys.stderr.flush()
        lost = []
        _set_subreaper(False)
        try:
            for slot in slot_ids:
                try:
                    forked = _fork_detached()
                except OSError:
                    lost.append(slot)
                    continue
                if forked:
                    _run_slot(self.root, self.job_id, slot, self.task_umask)  # never returns
        finally:
            _set_subreaper(True)
        self.db = self._reconnect()
        for slot in lost:  # its runs stay queued for the supervisors that did start
            self.db.execute("DELETE FROM supervisors WHERE id = ?", (slot,))

    def _reconnect(self) -> sqlite3.Connection:
        for attempt in range(30):  # out of file descriptors or a full disk may clear up
            try:
                return store.connect(self.root)
            except sqlite3.OperationalError:
                time.sleep(min(2.0, 0.1 * 2**attempt))
        return store.connect(self.root)

    def _stamp(self, run_id: int, pid: int) -> None:
        started = procs.started(pid)
        if started is not None:
            with contextlib.suppress(sqlite3.Error):  # the pid alone still marks the task
                self.db.execute("UPDATE runs SET pid_started = ? WHERE id = ? AND pid = ?", (started, run_id, pid))

    def _pump(self, out_r: int, folder: Path, secrets: list[str]) -> str | None:
        """Copy the task's output into its log until every writer closed it; blocks, no polling."""
        redactor = output.Redactor(secrets)
        error = None
        log = output.CappedLog(folder, slots.log_cap(self.options))
        try:
            while True:
                data = os.read(out_r, 1 << 16)
                if not data:
                    break
                if error is None:
                    try:
                        log.write(redactor.feed(data))
                    except OSError as exc:
                        # Keep draining, so the task never blocks on a full pipe.
                        error = safety.describe_os_error(exc, self.root) or f"writing its log failed: {exc}"
                        error += " (the run's log is incomplete)"
                        with contextlib.suppress(OSError):
                            log.give_back_space()
            if error is None:
                with contextlib.suppress(OSError):
                    log.write(redactor.flush())
        finally:
            os.close(out_r)
            try:
                if error is not None:
                    raise OSError("no room to put head and tail together: they stay as they are")
                log.close()
            except OSError:
                with contextlib.suppress(OSError):
                    os.close(log.fd)
        return error

    def _reap(self, task_pid: int) -> int:
        """Wait for every descendant (we are their subreaper); the task's exit code."""
        code = -1
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return code
            if pid == task_pid:
                code = os.waitstatus_to_exitcode(status)

    def _adopt_command(self, run_id: int) -> tuple[list[str], dict[str, str]]:
        boot = (
            f"import sys; sys.path[:0] = {_PACKAGE_DIRS!r}\n"
            "from lakeflow_local_target.supervisor import adopt\n"
            "adopt(sys.argv[1:])\n"
        )
        env = slots.base_env(os.environ)
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return [sys.executable, "-c", boot, str(self.root), str(self.job_id), str(run_id)], env

    def _on_cancel(self, signum: int, frame: object) -> None:
        if self.current is not None and self.killer is None:
            self._start_killer(self.current)

    def _start_killer(self, run_id: int) -> None:
        def kill() -> None:
            db = store.connect(self.root)
            try:
                if db.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()["state"] == "CANCELED":
                    procs.kill_descendants(os.getpid(), _KILL_GRACE)
            finally:
                db.close()

        self.killer = threading.Thread(target=kill, daemon=True)
        self.killer.start()


def _set_subreaper(on: bool) -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


def _fork_detached() -> bool:
    """True in a new process that nobody here waits for (its parent exited at once), False in
    the caller; OSError if either fork failed."""
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork():
                os._exit(0)
        except BaseException:  # noqa: BLE001 - the caller learns it from the exit code
            os._exit(1)
        return True
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise OSError("fork failed")
    return False


def _run_slot(root: Path, job_id: int, slot: int, task_umask: int) -> None:
    """The life of a forked supervisor; it exits here, never returning into its parent's stack."""
    code = 0
    try:
        Supervisor(root, job_id, slot, task_umask).loop()
    except BaseException:  # noqa: BLE001 - logged; the slot is settled by whoever looks next
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str]) -> None:
    """Entry point of a spawned supervisor (started in a session of its own): ROOT JOB_ID SLOT_ID."""
    Supervisor(Path(argv[0]), int(argv[1]), int(argv[2])).loop()


def adopt(argv: list[str]) -> None:
    """A task whose supervisor died execs into this: ROOT JOB_ID RUN_ID. Same pid as the task."""
    root, job_id, run_id = Path(argv[0]), int(argv[1]), int(argv[2])
    _set_subreaper(True)
    with contextlib.suppress(ChildProcessError):  # the task's own children, now ours
        while True:
            os.waitpid(-1, 0)
    sup = Supervisor(root, job_id, None)
    code = slots.read_status(root, run_id)
    if code is None:
        sup._finish(run_id, RunState.FAILED, None, "its supervisor was killed and the task's exit code was lost")
    else:
        sup._finish(run_id, RunState.SUCCEEDED if code == 0 else RunState.FAILED, code, slots.describe_exit(code))
    sup.loop()
