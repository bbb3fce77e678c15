"""The whole workflow on the local target, through the real CLI in subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

from support import runs_json, wait_until

TRICKY = ["--shard", "3", "-v", "--", "with space", "héllo wörld", "", "a'b\"c", "日本"]


def _logs(lakeflow, run_id: str) -> str:
    return lakeflow("get-run-logs", run_id).stdout


def _argv_in(log: str) -> list[str]:
    line = next(line for line in log.splitlines() if line.startswith("ARGV="))
    return json.loads(line[len("ARGV=") :])


def test_seed_workflow_passes_args_verbatim_and_the_run_id(home, lakeflow, task_wheel):
    built = lakeflow("build-wheel", str(task_wheel.parent.parent))
    assert built.stdout.splitlines() == [str(task_wheel)]
    remote = lakeflow("upload-wheel", str(task_wheel))
    assert len(remote.stdout.splitlines()) == 1 and Path(remote.stdout.strip()).is_file()
    job = lakeflow("create-job", "my-job", "lakeflow-testtask", remote.stdout.strip(), "--max-workers", "4")
    job_id = job.stdout.strip()
    assert job.stdout == f"{job_id}\n" and job_id.isdigit()
    assert "target local" in job.stderr

    run = lakeflow("trigger-run", job_id, *TRICKY)
    run_id = run.stdout.strip()
    assert run.stdout == f"{run_id}\n"
    second = lakeflow("trigger-run", job_id, "arg11", "arg12").stdout.strip()
    assert second != run_id

    waited = lakeflow("wait", run_id, second, "--timeout", "120")
    assert waited.stdout == "2 runs: 2 succeeded\n"  # one summary line, not a table of every run
    log = _logs(lakeflow, run_id)
    assert _argv_in(log) == TRICKY
    assert f"DATABRICKS_RUN_ID={run_id} LAKEFLOW_RUN_ID={run_id}" in log
    assert _argv_in(_logs(lakeflow, second)) == ["arg11", "arg12"]

    listed = runs_json(lakeflow, job_id)
    assert [r["run_id"] for r in listed] == [second, run_id]  # newest first
    assert all(r["state"] == "SUCCEEDED" and r["exit_code"] == 0 and r["duration"] >= 0 for r in listed)
    table = lakeflow("list-job-runs", job_id).stdout.splitlines()
    assert table[0].split()[:3] == ["RUN", "STATE", "STARTED"] and table[1].split()[:2] == [second, "SUCCEEDED"]


def test_env_var_reaches_the_task_and_its_value_is_never_shown_or_stored(home, lakeflow, task_job, task_wheel):
    canary = "canary-7f3e-DO-NOT-LEAK"
    env = {"MY_SECRET_KEY": canary, "MY_OTHER_SECRET_KEY": "other-canary-91ab"}
    outputs = []
    job_id = task_job("--env-var", "MY_SECRET_KEY", "MY_OTHER_SECRET_KEY", env=env)
    outputs.append(lakeflow("get-run", "1", check=False))
    run_id = lakeflow("trigger-run", job_id, "secret", "MY_SECRET_KEY", env=env).stdout.strip()
    lakeflow("wait", run_id, "--timeout", "120")
    log = _logs(lakeflow, run_id)
    assert f"len={len(canary)} sha256={hashlib.sha256(canary.encode()).hexdigest()}" in log

    outputs += [
        lakeflow(*cmd)
        for cmd in (
            ["list-jobs", "--json"],
            ["list-jobs"],
            ["list-job-runs", job_id, "--json"],
            ["get-run", run_id, "--json"],
            ["get-run-logs", run_id, "--json"],
        )
    ]
    for proc in outputs:
        assert canary not in proc.stdout + proc.stderr
    job = json.loads(lakeflow("list-jobs", "--json").stdout)[0]
    assert job["env_var_names"] == ["MY_OTHER_SECRET_KEY", "MY_SECRET_KEY"]
    # Nothing lakeflow stores outside the per-job secrets file holds the value.
    for path in home.rglob("*"):
        if path.is_file() and "secrets" not in path.parts and path.parent.name != "envs":
            assert canary.encode() not in path.read_bytes(), path
    secrets = list((home / "secrets").iterdir())
    assert len(secrets) == 1 and secrets[0].stat().st_mode & 0o077 == 0


def test_launch_runs_from_file_caps_concurrency_at_max_workers(home, lakeflow, tmp_path, task_wheel):
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    lines = [f"stamp {stamps} --index {i} 'two words'" for i in range(20)]
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text("# one run per line\n" + "\n".join(lines) + "\n\n")
    project = task_wheel.parent.parent
    proc = lakeflow("launch", "--runs-from", str(runs_file), "--max-workers", "4", "--wait", str(project), timeout=300)
    job_id, *run_ids = proc.stdout.split()
    assert len(run_ids) == 20 and len(set(run_ids)) == 20
    assert "20/20 finished: 20 succeeded" in proc.stderr
    for i, run_id in enumerate(run_ids):
        assert _argv_in(_logs(lakeflow, run_id)) == ["stamp", str(stamps), "--index", str(i), "two words"]
    spans = [json.loads(p.read_text()) for p in stamps.iterdir()]
    assert len(spans) == 20
    events = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert 1 < peak <= 4


def test_max_concurrent_runs_overrides_and_queue_keeps_trigger_order(home, lakeflow, task_job):
    job_id = task_job("--max-workers", "8", "--max-concurrent-runs", "1")
    run_ids = [lakeflow("trigger-run", job_id, "sleep", "0.2").stdout.strip() for _ in range(4)]
    lakeflow("wait", *run_ids, "--timeout", "120")
    runs = {r["run_id"]: r for r in runs_json(lakeflow, job_id)}
    ordered = [runs[r] for r in run_ids]
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        assert earlier["end_time"] <= later["start_time"]


def test_failing_task_reports_its_error(home, lakeflow, task_job):
    job_id = task_job()
    run_id = lakeflow("trigger-run", job_id, "fail", "x").stdout.strip()
    waited = lakeflow("wait", run_id, "--timeout", "120", check=False)
    assert waited.returncode == 1
    assert waited.stdout == f"1 run: 1 failed (ids: {run_id})\n" and "get-run-logs" in waited.stderr
    logs = lakeflow("get-run-logs", run_id)
    assert "RuntimeError: task failed on purpose with ['x']" in logs.stdout
    assert "exited with code 1" in logs.stdout
    assert runs_json(lakeflow, job_id)[0]["state"] == "FAILED"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def test_cancel_stops_the_whole_process_tree(home, lakeflow, task_job, tmp_path):
    job_id = task_job()
    pidfile = tmp_path / "pids.json"
    run_id = lakeflow("trigger-run", job_id, "tree", "600", str(pidfile)).stdout.strip()
    pids = wait_until(lambda: pidfile.exists() and pidfile.read_text() and json.loads(pidfile.read_text()))
    assert _alive(pids["task"]) and _alive(pids["grandchild"])
    partial = wait_until(lambda: "ARGV=" in _logs(lakeflow, run_id))  # logs are readable while it runs
    assert partial
    canceled = lakeflow("cancel-run", run_id)
    assert canceled.stdout.strip() == f"{run_id} CANCELED"
    wait_until(lambda: not _alive(pids["task"]) and not _alive(pids["grandchild"]), timeout=15)
    run = json.loads(lakeflow("get-run", run_id, "--json").stdout)
    assert run["state"] == "CANCELED" and run["end_time"] is not None


def test_cancel_a_queued_run_keeps_it_from_starting(home, lakeflow, task_job):
    job_id = task_job("--max-workers", "1")
    first = lakeflow("trigger-run", job_id, "sleep", "30").stdout.strip()
    queued = lakeflow("trigger-run", job_id, "sleep", "0").stdout.strip()
    wait_until(lambda: json.loads(lakeflow("get-run", first, "--json").stdout)["state"] == "RUNNING")
    assert json.loads(lakeflow("get-run", queued, "--json").stdout)["state"] == "QUEUED"
    assert "has not started" in lakeflow("get-run-logs", queued).stderr
    assert lakeflow("cancel-run", queued).stdout.strip() == f"{queued} CANCELED"
    lakeflow("cancel-run", first)
    time.sleep(0.5)
    run = json.loads(lakeflow("get-run", queued, "--json").stdout)
    assert run["state"] == "CANCELED" and run["start_time"] is None


def test_a_run_whose_processes_died_is_reported_failed(home, lakeflow, task_job, tmp_path):
    job_id = task_job()
    pidfile = tmp_path / "pids.json"
    run_id = lakeflow("trigger-run", job_id, "tree", "600", str(pidfile)).stdout.strip()
    pids = wait_until(lambda: pidfile.exists() and pidfile.read_text() and json.loads(pidfile.read_text()))
    db = sqlite3.connect(home / "lakeflow.db")
    supervisor_pid = db.execute("SELECT sup_pid FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    db.close()
    # As if the machine went down: the supervisor and the task vanish without recording anything.
    os.kill(supervisor_pid, signal.SIGKILL)
    os.killpg(pids["task"], signal.SIGKILL)
    os.kill(pids["grandchild"], signal.SIGKILL)
    run = wait_until(
        lambda: (r := json.loads(lakeflow("get-run", run_id, "--json").stdout))["state"] != "RUNNING" and r, timeout=20
    )
    assert run["state"] == "FAILED" and "supervisor and its task were both killed" in run["message"]


def test_several_lakeflow_processes_at_once(home, lakeflow, task_job):
    import subprocess
    import sys

    job_id = task_job("--max-workers", "4")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lakeflow_host", "trigger-run", job_id, f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    run_ids = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and len(set(run_ids)) == 8
    lakeflow("wait", *run_ids, "--timeout", "120")
    db = sqlite3.connect(home / "lakeflow.db")
    assert db.execute("SELECT count(*) FROM runs WHERE state = 'SUCCEEDED'").fetchone()[0] == 8


def test_upload_of_the_same_bytes_copies_nothing(home, lakeflow, task_wheel):
    first = lakeflow("upload-wheel", str(task_wheel), "--json")
    second = lakeflow("upload-wheel", str(task_wheel), "--json")
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["path"] == b["path"] and a["bytes_uploaded"] == task_wheel.stat().st_size and b["bytes_uploaded"] == 0
    assert "already uploaded" in second.stderr
