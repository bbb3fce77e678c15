"""The local target tried as a hostile user would: killed background processes, bad input,
leaky environments, planted files, a full disk. Through the real CLI, API and MCP server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from support import runs_json, stop_runs, wait_until
from test_mcp_server import CANARY, CANARY_NAME, connect  # noqa: F401 - the MCP session fixture

import lakeflow_host as lf

FINAL = ("SUCCEEDED", "FAILED", "CANCELED")
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount, chown); CI runs the tests as root")


def _db_rows(home: Path, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    """The run records as stored, read without any lakeflow process (which would settle them)."""
    db = sqlite3.connect(home / "lakeflow.db", timeout=30)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def _stored_run(home: Path, run_id: str) -> sqlite3.Row:
    return _db_rows(home, "SELECT * FROM runs WHERE id = ?", (int(run_id),))[0]


def _wait_stored(home: Path, run_id: str, states: tuple[str, ...], timeout: float = 60) -> sqlite3.Row:
    return wait_until(lambda: (row := _stored_run(home, run_id))["state"] in states and row, timeout=timeout)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("lakeflow: target")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _peak(spans: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def _log(lakeflow, run_id: str) -> str:
    return lakeflow("get-run-logs", run_id).stdout


# --- outcomes are never lost ---------------------------------------------------------------


def test_killing_the_supervisor_mid_run_loses_neither_the_outcome_nor_the_queue(home, lakeflow, task_job):
    job_id = task_job("--max-workers", "1")
    first = lakeflow("trigger-run", job_id, "sleep", "2").stdout.strip()
    second = lakeflow("trigger-run", job_id, "sleep", "0").stdout.strip()
    running = _wait_stored(home, first, ("RUNNING",))
    wait_until(lambda: _stored_run(home, first)["pid"])
    os.kill(running["sup_pid"], signal.SIGKILL)
    # No lakeflow command from here on: the records alone must come out right.
    done = _wait_stored(home, second, FINAL)
    first_row = _stored_run(home, first)
    assert first_row["state"] == "SUCCEEDED" and first_row["exit_code"] == 0
    assert first_row["ended_at"] - first_row["started_at"] >= 2
    assert done["state"] == "SUCCEEDED" and done["started_at"] >= first_row["ended_at"] - 0.5
    assert _log(lakeflow, first).endswith("DONE\n")  # the task's output after its supervisor died is kept


def test_a_supervisor_killed_between_its_tasks_exit_and_the_record_loses_nothing(home, lakeflow, task_job):
    job_id = task_job("--max-workers", "1")
    first = lakeflow("trigger-run", job_id, "sleep", "1").stdout.strip()
    second = lakeflow("trigger-run", job_id, "sleep", "0").stdout.strip()
    row = wait_until(lambda: (row := _stored_run(home, first))["pid"] and row)
    os.kill(row["sup_pid"], signal.SIGSTOP)  # it can no longer record the end it is about to see
    wait_until(lambda: (pid := _stored_run(home, first)["pid"]) and not _alive(pid))
    os.kill(row["sup_pid"], signal.SIGKILL)
    wait_until(lambda: not _alive(row["sup_pid"]))
    # The next lakeflow process that looks records the true exit code and starts the queue.
    run = json.loads(lakeflow("get-run", first, "--json").stdout)
    assert run["state"] == "SUCCEEDED" and run["exit_code"] == 0
    lakeflow("list-job-runs", job_id)
    assert _wait_stored(home, second, FINAL)["state"] == "SUCCEEDED"


def test_the_cap_holds_when_supervisors_die_and_queued_runs_still_start(home, lakeflow, task_job, tmp_path):
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    job_id = task_job("--max-workers", "2")
    slow = [lakeflow("trigger-run", job_id, "sleep", "3").stdout.strip() for _ in range(2)]
    for run_id in slow:
        wait_until(lambda run_id=run_id: _stored_run(home, run_id)["pid"])
        os.kill(_stored_run(home, run_id)["sup_pid"], signal.SIGKILL)
    # Both tasks are orphans now; they still hold the job's two slots.
    queued = [lakeflow("trigger-run", job_id, "stamp", str(stamps)).stdout.strip() for _ in range(3)]
    time.sleep(1)
    assert [_stored_run(home, r)["state"] for r in queued] == ["QUEUED"] * 3
    for run_id in slow + queued:
        assert _wait_stored(home, run_id, FINAL)["state"] == "SUCCEEDED"
    spans = [json.loads(p.read_text()) for p in stamps.iterdir()]
    assert len(spans) == 3
    # The orphans' ends as recorded (a little after they really ended), the stamps' own times.
    spans += [{"start": row["started_at"], "end": row["ended_at"]} for row in map(lambda r: _stored_run(home, r), slow)]
    assert _peak([(s["start"], s["end"]) for s in spans]) <= 2


def test_a_fan_out_fills_every_slot_while_its_first_supervisor_starts(home, lakeflow, task_job, tmp_path):
    """The triggers that come while the job's first supervisor is starting spawn nothing; it
    fills the other slots when it takes its first run, each with a supervisor of its own."""
    job_id = task_job("--max-workers", "3")
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text("sleep 1\n" * 6)
    run_ids = lakeflow("trigger-runs", job_id, "--runs-from", str(runs_file)).stdout.split()
    # Watched without any lakeflow process: one would start a supervisor for the free slots too.
    rows = [_wait_stored(home, r, FINAL) for r in run_ids]
    assert [row["state"] for row in rows] == ["SUCCEEDED"] * 6
    assert _peak([(row["started_at"], row["ended_at"]) for row in rows]) == 3
    assert len({row["sup_pid"] for row in rows}) == 3
    wait_until(lambda: not _db_rows(home, "SELECT 1 FROM supervisors"), timeout=15)


def test_a_run_triggered_while_the_job_is_busy_takes_a_free_slot_at_once(home, lakeflow, task_job):
    job_id = task_job("--max-workers", "2")
    slow = lakeflow("trigger-run", job_id, "sleep", "4").stdout.strip()
    _wait_stored(home, slow, ("RUNNING",))
    quick = lakeflow("trigger-run", job_id, "sleep", "0.1").stdout.strip()
    assert _wait_stored(home, quick, FINAL, timeout=3)["state"] == "SUCCEEDED"
    assert _stored_run(home, slow)["state"] == "RUNNING"
    assert _wait_stored(home, slow, FINAL)["state"] == "SUCCEEDED"


def test_a_grandchild_in_its_own_session_keeps_the_run_going_and_its_output_is_kept(home, lakeflow, task_job, tmp_path):
    job_id = task_job()
    pidfile = tmp_path / "pids.json"
    run_id = lakeflow("trigger-run", job_id, "outlive", "3", str(pidfile)).stdout.strip()
    pids = wait_until(lambda: pidfile.exists() and pidfile.read_text() and json.loads(pidfile.read_text()))
    wait_until(lambda: not _alive(pids["task"]))
    assert _alive(pids["grandchild"])
    assert json.loads(lakeflow("get-run", run_id, "--json").stdout)["state"] == "RUNNING"
    run = _wait_stored(home, run_id, FINAL)
    assert run["state"] == "SUCCEEDED" and not _alive(pids["grandchild"])
    assert "GRANDCHILD DONE" in _log(lakeflow, run_id)


def test_cancel_kills_a_grandchild_that_left_the_tasks_session_and_tree(home, lakeflow, task_job, tmp_path):
    job_id = task_job()
    pidfile = tmp_path / "pids.json"
    run_id = lakeflow("trigger-run", job_id, "outlive", "600", str(pidfile)).stdout.strip()
    pids = wait_until(lambda: pidfile.exists() and pidfile.read_text() and json.loads(pidfile.read_text()))
    wait_until(lambda: not _alive(pids["task"]))
    assert lakeflow("cancel-run", run_id).stdout.strip() == f"{run_id} CANCELED"
    wait_until(lambda: not _alive(pids["grandchild"]), timeout=15)
    wait_until(lambda: not _db_rows(home, "SELECT 1 FROM supervisors"), timeout=15)  # it waited, then ended
    assert _stored_run(home, run_id)["state"] == "CANCELED"


# --- input checked before anything is stored ---------------------------------------------


def test_bad_arguments_are_refused_at_trigger_time_and_nothing_is_stored(
    home, lakeflow, task_job, task_wheel, tmp_path
):
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text("a b\0c\nok " + "x" * (128 * 1024) + "\n")
    proc = lakeflow("launch", "--runs-from", str(runs_file), str(task_wheel.parent.parent), check=False)
    assert "argument 2 holds a NUL byte" in proc.stderr and "Traceback" not in proc.stderr
    assert "argument 2 is 131072 bytes, over the 131071 bytes" in proc.stderr
    assert runs_json(lakeflow, proc.stdout.split()[0]) == []
    job_id = task_job()
    cases = [
        (["a\0b"], "argument 1 holds a NUL byte"),
        (["a", 7], "argument 2 is a int, not a string"),
        (["y" * 120_000] * 20, "a command line may take here"),
    ]
    for args, message in cases:
        with pytest.raises(lf.LakeflowError, match=message):
            lf.trigger_run(job_id, args, target="local")
    assert runs_json(lakeflow, job_id) == []


def test_an_env_var_name_that_is_a_pasted_value_is_not_echoed(home, lakeflow, task_wheel):
    remote = lakeflow("upload-wheel", str(task_wheel)).stdout.strip()
    pasted = "sk-live-4f9a8b7c6d"
    proc = lakeflow("create-job", "j", "lakeflow-testtask", remote, "--env-var", pasted, check=False)
    line = _one_line_error(proc)
    assert "not a valid environment variable name" in line and pasted not in proc.stderr + proc.stdout
    with pytest.raises(lf.LakeflowError) as raised:
        lf.create_job("j", "lakeflow-testtask", remote, env_vars=[pasted], target="local")
    assert pasted not in str(raised.value)


def test_out_of_range_worker_counts_are_one_line(home, lakeflow, task_wheel):
    remote = lakeflow("upload-wheel", str(task_wheel)).stdout.strip()
    proc = lakeflow("create-job", "j", "lakeflow-testtask", remote, "--max-workers", str(10**26), check=False)
    assert "--max-workers" in _one_line_error(proc)
    proc = lakeflow("create-job", "j", "lakeflow-testtask", remote, "--max-concurrent-runs", "20000", check=False)
    assert "out of range for the local target" in _one_line_error(proc)


# --- the run's environment is what the job declares ---------------------------------------


def _env_of(lakeflow, run_id: str) -> tuple[dict[str, str], str]:
    lakeflow("wait", run_id, "--timeout", "120")
    log = _log(lakeflow, run_id)
    env = json.loads(next(line for line in log.splitlines() if line.startswith("ENV="))[4:])
    cwd = next(line for line in log.splitlines() if line.startswith("CWD="))[4:]
    return env, cwd


def test_runs_see_only_the_base_environment_their_job_values_and_run_ids(home, lakeflow, task_job):
    shell = {"MY_SECRET": "from-the-shell", "DATABRICKS_TOKEN": "dapi-shell-token", "JOB_VALUE": "declared"}
    job_id = task_job("--env-var", "JOB_VALUE", env=shell)
    first = lakeflow("trigger-run", job_id, "env", env=shell).stdout.strip()
    second = lakeflow("trigger-run", job_id, "env", env=shell).stdout.strip()
    env, cwd = _env_of(lakeflow, first)
    allowed = {"PATH", "HOME", "LANG", "TMPDIR", "USER", "SHELL", "TERM", "PYTHONUNBUFFERED"}
    assert {k for k in env if not k.startswith("LC_")} - allowed == {
        "JOB_VALUE",
        "LAKEFLOW_RUN_ID",
        "DATABRICKS_RUN_ID",
    }
    assert (
        env["JOB_VALUE"] == "[REDACTED]" and env["LAKEFLOW_RUN_ID"]
    )  # it was there, and printed redacted == env["DATABRICKS_RUN_ID"] == first
    other_env, other_cwd = _env_of(lakeflow, second)
    assert str(home) not in cwd and cwd != other_cwd  # a fresh folder per run, outside the home
    assert not any(str(home) in value for value in [*env.values(), *other_env.values()])


def test_inherit_env_is_the_explicit_escape_hatch_but_never_passes_the_home(home, lakeflow, task_job):
    shell = {"MY_SECRET": "from-the-shell"}
    job_id = task_job("-o", "inherit_env=true", env=shell)
    env, _ = _env_of(lakeflow, lakeflow("trigger-run", job_id, "env", env=shell).stdout.strip())
    assert env["MY_SECRET"] == "from-the-shell" and "LAKEFLOW_HOME" not in env


def test_another_jobs_env_file_is_not_reachable_from_a_task(home, lakeflow, task_job):
    task_job("--env-var", "JOB_VALUE", env={"JOB_VALUE": "job-one-secret"})
    other = task_job()
    # Where the old layout put a run's working directory: home/runs/<id>.
    run_id = lakeflow("trigger-run", other, "read", "../../secrets/job-1.json").stdout.strip()
    lakeflow("wait", run_id, "--timeout", "120")
    assert "READ FAILED" in _log(lakeflow, run_id)


# --- private state -------------------------------------------------------------------------


@contextlib.contextmanager
def _umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def test_everything_in_the_home_is_private_whatever_the_umask(home, lakeflow, task_wheel):
    with _umask(0):
        remote = lakeflow("upload-wheel", str(task_wheel)).stdout.strip()
        job_id = lakeflow(
            "create-job", "j", "lakeflow-testtask", remote, "--env-var", "JOB_VALUE", env={"JOB_VALUE": "v"}
        ).stdout.strip()
        run_id = lakeflow("trigger-run", job_id, "sleep", "0").stdout.strip()
        lakeflow("wait", run_id, "--timeout", "120")
    assert home.stat().st_mode & 0o777 == 0o700
    for name in ("lakeflow.db", f"runs/{run_id}/output.log", "secrets/job-1.json", "supervisor.log"):
        assert (home / name).stat().st_mode & 0o777 == 0o600, name
    shared = [
        p for p in home.rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o077
    ]  # installed task code included
    assert shared == []


def test_a_home_others_can_write_to_or_own_is_refused(home, lakeflow, tmp_path):
    home.mkdir()
    home.chmod(0o777)
    assert "writable by other users" in _one_line_error(lakeflow("list-jobs", check=False))
    if os.geteuid() == 0:
        home.chmod(0o700)
        os.chown(home, 65534, 65534)
        assert "belongs to another user" in _one_line_error(lakeflow("list-jobs", check=False))
        os.chown(home, 0, 0)


def test_symlinks_planted_in_the_home_are_never_followed(home, lakeflow, task_job, tmp_path):
    job_id = task_job()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (home / "runs").rename(tmp_path / "old-runs") if (home / "runs").exists() else None
    (home / "runs").symlink_to(elsewhere)
    run_id = lakeflow("trigger-run", job_id, "sleep", "0").stdout.strip()
    run = _wait_stored(home, run_id, FINAL)
    assert run["state"] == "FAILED" and "symlink" in run["message"]
    assert list(elsewhere.iterdir()) == []
    db = home / "lakeflow.db"
    db.rename(tmp_path / "real.db")
    db.symlink_to(tmp_path / "real.db")
    assert "symlink" in _one_line_error(lakeflow("list-jobs", check=False))


# --- secrets redacted at the source --------------------------------------------------------


@pytest.mark.anyio
async def test_a_printed_secret_is_redacted_in_the_log_file_cli_api_and_mcp(connect, home, lakeflow, task_job):  # noqa: F811
    job_id = task_job("--env-var", CANARY_NAME, env={CANARY_NAME: CANARY})
    run_id = lakeflow("trigger-run", job_id, "echo", CANARY_NAME).stdout.strip()
    lakeflow("wait", run_id, "--timeout", "120")
    expected = "HALVES [REDACTED] WHOLE [REDACTED]"
    on_disk = (home / "runs" / run_id / "output.log").read_bytes()
    assert CANARY.encode() not in on_disk and expected.encode() in on_disk
    assert expected in _log(lakeflow, run_id)
    assert expected in lf.get_run_logs(run_id, target="local").text
    async with connect() as agent:
        with anyio.fail_after(60):
            logs = await agent.data("get_run_logs", {"run_id": run_id})
            assert expected in logs["text"]
            # Bad arguments over MCP: the same one line as from the API, and nothing stored.
            for args, message in ((["a\0b"], "argument 1 holds a NUL byte"), (["x" * (128 * 1024)], "over the")):
                refused = await agent.call("trigger_run", {"job_id": job_id, "args": args}, error=True)
                assert message in refused.content[0].text
    assert len(runs_json(lakeflow, job_id)) == 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- failures of the environment -------------------------------------------------------------


def test_a_corrupted_database_says_how_to_recover(home, lakeflow):
    home.mkdir(mode=0o700)
    (home / "lakeflow.db").write_bytes(b"this is not a database" * 100)
    line = _one_line_error(lakeflow("list-jobs", check=False))
    assert "corrupted" in line and ".recover" in line


@pytest.mark.anyio
async def test_over_mcp_a_corrupted_database_is_the_same_one_line(connect, home, lakeflow):  # noqa: F811
    home.mkdir(mode=0o700)
    (home / "lakeflow.db").write_bytes(b"this is not a database" * 100)
    line = _one_line_error(lakeflow("list-jobs", check=False))[len("Error: ") :]
    async with connect() as agent:
        with anyio.fail_after(60):
            result = await agent.call("list_jobs", {}, error=True)
            assert result.content[0].text == f"Error executing tool list_jobs: {line}"


def test_a_home_under_a_file_is_one_line(home, lakeflow, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("LAKEFLOW_HOME", str(tmp_path / "a-file" / "home"))
    assert "under a file" in _one_line_error(lakeflow("list-jobs", check=False))


def test_a_truncated_env_file_fails_its_runs_with_the_fix_and_the_machinery_goes_on(home, lakeflow, task_job):
    job_id = task_job("--env-var", "JOB_VALUE", env={"JOB_VALUE": "value"})
    secrets = home / "secrets" / f"job-{job_id}.json"
    secrets.write_bytes(secrets.read_bytes()[:5])
    runs = [lakeflow("trigger-run", job_id, "sleep", "0").stdout.strip() for _ in range(2)]
    for run_id in runs:
        run = _wait_stored(home, run_id, FINAL)
        assert run["state"] == "FAILED" and "create the job again" in run["message"]
    healthy = task_job()
    run_id = lakeflow("trigger-run", healthy, "sleep", "0").stdout.strip()
    assert _wait_stored(home, run_id, FINAL)["state"] == "SUCCEEDED"


def test_the_log_keeps_its_head_and_tail_with_a_marker(home, lakeflow, task_job):
    job_id = task_job("-o", "max_log_bytes=4096")
    run_id = lakeflow("trigger-run", job_id, "spam", "200000").stdout.strip()
    lakeflow("wait", run_id, "--timeout", "120")
    log = _log(lakeflow, run_id)
    assert log.startswith("ARGV=") and "bytes of output cut here" in log and "max_log_bytes=4096" in log
    assert "001999 " in log.splitlines()[-2] or "DONE" in log.splitlines()[-1]
    assert (home / "runs" / run_id / "output.log").stat().st_size < 4096 + 200
    assert json.loads(lakeflow("get-run-logs", run_id, "--json").stdout)["truncated"] is True
    assert lakeflow("get-run-logs", run_id, "--tail", "1").stdout.strip() == "DONE"


@ROOT_ONLY
def test_a_full_disk_fails_the_run_honestly_and_commands_say_so(home, lakeflow, task_wheel, tmp_path, monkeypatch):
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        monkeypatch.setenv("LAKEFLOW_HOME", str(mount / "home"))
        remote = lakeflow("upload-wheel", str(task_wheel)).stdout.strip()
        job_id = lakeflow("create-job", "j", "lakeflow-testtask", remote).stdout.strip()
        run_id = lakeflow("trigger-run", job_id, "spam", str(64 * 1024 * 1024)).stdout.strip()
        lakeflow("wait", run_id, "--timeout", "120", check=False)
        run = json.loads(lakeflow("get-run", run_id, "--json").stdout)
        assert run["state"] == "FAILED" and "full" in run["message"]
        with contextlib.suppress(OSError), open(mount / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
        line = _one_line_error(lakeflow("trigger-run", job_id, "sleep", "0", check=False))
        assert "full" in line and "free some space" in line
    finally:
        try:
            stop_runs(mount / "home")
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)


@ROOT_ONLY
def test_a_read_only_home_is_one_line(home, lakeflow, tmp_path, monkeypatch):
    mount = tmp_path / "ro"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        monkeypatch.setenv("LAKEFLOW_HOME", str(mount / "home"))
        lakeflow("list-jobs")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        line = _one_line_error(lakeflow("list-jobs", check=False))
        assert "writable" in line
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_the_supervisor_waits_without_polling(home, lakeflow, task_job):
    job_id = task_job()
    run_id = lakeflow("trigger-run", job_id, "sleep", "5").stdout.strip()
    wait_until(lambda: _stored_run(home, run_id)["pid"])
    pid = _stored_run(home, run_id)["sup_pid"]
    time.sleep(0.5)

    # A 5 ms poll wakes up hundreds of times a second; blocking in read/waitpid never does.
    def switches() -> int:
        status = Path(f"/proc/{pid}/status").read_text()
        return sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line)

    before = switches()
    time.sleep(2)
    assert switches() - before < 20
    lakeflow("cancel-run", run_id)


def test_test_cleanup_kills_a_canceled_task_its_supervisor_never_stopped(home, lakeflow, task_job):
    # A cancel that reaches a supervisor which dies before killing the task leaves the task
    # running with a CANCELED record; the fixtures' cleanup must still find it.
    job_id = task_job()
    run_id = lakeflow("trigger-run", job_id, "sleep", "30").stdout.strip()
    row = wait_until(lambda: (row := _stored_run(home, run_id))["pid"] and row)
    os.kill(row["sup_pid"], signal.SIGSTOP)  # the cancel's signal waits, unhandled
    lakeflow("cancel-run", run_id)
    assert _stored_run(home, run_id)["state"] == "CANCELED" and _alive(row["pid"])
    stop_runs(home)
    assert not _alive(row["sup_pid"]) and not _alive(row["pid"])
