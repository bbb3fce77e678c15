"""The ``ray`` target against a real Ray head (tests/ray/conftest.py), through the real CLI."""

from __future__ import annotations

import hashlib
import json
import shlex
import stat
from pathlib import Path

import pytest
from ray_support import CLUSTER_SECRET, CLUSTER_SECRET_NAME
from support import copy_project, runs_json

pytestmark = pytest.mark.slow
CANARY = "canary-ray-9c2e-DO-NOT-LEAK"
# Everything after the job id is the task's: a leading dash, a lone "--", spaces, quotes, unicode.
ARGS = ["--shard", "3", "-v", "--", "two words", "ünïcødé ✓", "", 'it\'s "q"', "日本"]


def _logs(lakeflow, run_id: str) -> str:
    return lakeflow("get-run-logs", run_id).stdout


def _ray_job(ray_address: str, run_id: str):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(ray_address).get_job_info(run_id)


@pytest.fixture
def ray_job(ray_env, lakeflow, task_wheel):
    """Upload the test task to the ray target and create a job; returns the job id."""

    def make(*create_args: str, env: dict[str, str] | None = None) -> str:
        remote = lakeflow("upload-wheel", str(task_wheel)).stdout.strip()
        return lakeflow("create-job", "ray-job", "lakeflow-testtask", remote, *create_args, env=env).stdout.strip()

    return make


def test_task_sees_exact_argv_and_the_printed_run_id(ray_env, ray_address, lakeflow, ray_job):
    job_id = ray_job()
    run_id = lakeflow("trigger-run", job_id, *ARGS).stdout.strip()
    assert run_id.startswith(f"lakeflow-{job_id}-")
    lakeflow("wait", run_id, "--timeout", "300")
    log = _logs(lakeflow, run_id)
    argv = next(line for line in log.splitlines() if line.startswith("ARGV="))
    assert json.loads(argv[len("ARGV=") :]) == ARGS
    assert f"DATABRICKS_RUN_ID={run_id} LAKEFLOW_RUN_ID={run_id}" in log
    run = json.loads(lakeflow("get-run", run_id, "--json").stdout)
    assert (run["state"], run["exit_code"], run["args"]) == ("SUCCEEDED", 0, ARGS)
    assert run["start_time"] <= run["end_time"]
    # The run is one Ray job, submitted under the run id, its entry point quoted exactly.
    details = _ray_job(ray_address, run_id)
    assert (str(details.status), details.submission_id) == ("SUCCEEDED", run_id)
    assert details.entrypoint == shlex.join(["lakeflow-task", *ARGS])
    assert [r["run_id"] for r in runs_json(lakeflow, job_id)] == [run_id]


def test_path_dependency_is_installed_on_the_cluster_from_its_wheel(ray_env, lakeflow, tmp_path):
    app = copy_project("pathdep", tmp_path) / "app"
    out = lakeflow("launch", str(app), "--wait", "--timeout", "300", "--", "ray").stdout.split()
    log = _logs(lakeflow, out[1])
    assert "helper says hello to ray" in log and "SIX=1.16.0" in log
    helper = next(line for line in log.splitlines() if line.startswith("HELPER_FILE="))
    # Installed by Ray's pip step into the run's environment, not read from the source tree.
    assert "/runtime_resources/pip/" in helper and str(tmp_path) not in helper


def test_upload_is_content_addressed(ray_env, lakeflow, task_wheel, home):
    first = json.loads(lakeflow("upload-wheel", str(task_wheel), "--json").stdout)
    again = lakeflow("upload-wheel", str(task_wheel), "--json")
    assert first["bytes_uploaded"] == task_wheel.stat().st_size
    assert json.loads(again.stdout) == {**first, "bytes_uploaded": 0}
    assert "already uploaded, nothing copied" in again.stderr
    assert len(list((home / "ray" / "artifacts").iterdir())) == 1


def test_failing_task_is_failed_with_its_stderr_in_the_logs(ray_env, lakeflow, ray_job):
    job_id = ray_job()
    run_id = lakeflow("trigger-run", job_id, "fail", "now").stdout.strip()
    waited = lakeflow("wait", run_id, "--timeout", "300", check=False)
    assert waited.returncode == 1
    run = json.loads(lakeflow("get-run", run_id, "--json").stdout)
    assert (run["state"], run["exit_code"]) == ("FAILED", 1)
    assert run["message"].startswith("Job entrypoint command failed with exit code 1")
    logs = json.loads(lakeflow("get-run-logs", run_id, "--json").stdout)
    assert "RuntimeError: task failed on purpose with ['now']" in logs["text"]
    assert logs["error"] == run["message"]


def test_cancel_stops_a_running_run_and_a_queued_one(ray_env, ray_address, lakeflow, ray_job):
    from support import wait_until

    job_id = ray_job("--max-workers", "1")
    running = lakeflow("trigger-run", job_id, "sleep", "600").stdout.strip()
    queued = lakeflow("trigger-run", job_id, "sleep", "600").stdout.strip()
    assert json.loads(lakeflow("get-run", queued, "--json").stdout)["state"] == "QUEUED"
    wait_until(lambda: json.loads(lakeflow("get-run", running, "--json").stdout)["state"] == "RUNNING", 300, 0.5)
    canceled = json.loads(lakeflow("cancel-run", queued, "--json").stdout)
    assert (canceled["state"], canceled["message"]) == ("CANCELED", "canceled before it started")
    assert json.loads(lakeflow("cancel-run", running, "--json").stdout)["state"] == "CANCELED"
    assert str(_ray_job(ray_address, running).status) == "STOPPED"
    # The queued run was never sent to Ray.
    from ray.job_submission import JobSubmissionClient

    assert queued not in {j.submission_id for j in JobSubmissionClient(ray_address).list_jobs()}
    assert json.loads(lakeflow("cancel-run", running, "--json").stdout)["state"] == "CANCELED"  # no change


def test_launch_runs_from_20_lines_holds_the_cap_of_max_workers(ray_env, ray_address, lakeflow, tmp_path):
    import threading

    from ray.job_submission import JobSubmissionClient

    stamps = tmp_path / "stamps"
    stamps.mkdir()
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text("".join(f"stamp {stamps} --index {i} 'two words'\n" for i in range(20)))
    project = copy_project("tasks", tmp_path)
    # Half a CPU per run: Ray alone would run four at once on the 2-CPU head, so only
    # lakeflow's queue can hold the cap of 2. Ray's own view is sampled all along.
    active_on_ray: list[int] = []
    done = threading.Event()

    def sample() -> None:
        client = JobSubmissionClient(ray_address)
        while not done.is_set():
            jobs = [j for j in client.list_jobs() if (j.metadata or {}).get("lakeflow_job_name") == "cap-job"]
            active_on_ray.append(sum(not j.status.is_terminal() for j in jobs))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out = lakeflow(
            "launch", str(project), "--name", "cap-job", "--runs-from", str(runs_file), "--max-workers", "2",
            "-o", "num_cpus=0.5", "--wait", "--timeout", "600", timeout=700,
        ).stdout.split()  # fmt: skip
    finally:
        done.set()
        sampler.join(30)
    job_id, run_ids = out[0], out[1:]
    assert len(run_ids) == 20 == len(set(run_ids))
    runs = runs_json(lakeflow, job_id)
    assert {r["state"] for r in runs} == {"SUCCEEDED"}
    by_id = {r["run_id"]: r for r in runs}
    assert [by_id[r]["args"] for r in run_ids] == [
        ["stamp", str(stamps), "--index", str(i), "two words"] for i in range(20)
    ]
    assert max(active_on_ray) == 2  # the cap was reached, and held
    spans = [json.loads((stamps / f"{r}.json").read_text()) for r in run_ids]
    events = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak <= 2


def test_env_var_values_never_shown_or_stored_outside_the_secrets_file(ray_env, ray_address, lakeflow, ray_job, home):
    env = {"MY_SECRET_KEY": CANARY}
    outputs = [lakeflow("create-job", "--help")]
    job_id = ray_job("--env-var", "MY_SECRET_KEY", env=env)
    run_id = lakeflow("trigger-run", job_id, "secret", "MY_SECRET_KEY", env=env).stdout.strip()
    outputs.append(lakeflow("wait", run_id, "--timeout", "300"))
    log = _logs(lakeflow, run_id)
    assert f"len={len(CANARY)} sha256={hashlib.sha256(CANARY.encode()).hexdigest()}" in log
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
        assert CANARY not in proc.stdout + proc.stderr
    assert json.loads(lakeflow("list-jobs", "--json").stdout)[0]["env_var_names"] == ["MY_SECRET_KEY"]
    for path in home.rglob("*"):
        if path.is_file() and path.parent.name != "secrets":
            assert CANARY.encode() not in path.read_bytes(), path
    # What Ray was given: the value only in the runtime environment, never in the entry point.
    details = _ray_job(ray_address, run_id)
    assert CANARY not in details.entrypoint and details.runtime_env["env_vars"]["MY_SECRET_KEY"] == CANARY
    (secrets,) = (home / "ray" / "secrets").iterdir()
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.parent.stat().st_mode) == 0o700
    for folder in ("ray", "ray/jobs", "ray/runs"):
        assert stat.S_IMODE((home / folder).stat().st_mode) == 0o700
    for path in (home / "ray" / "jobs").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_env_from_cluster_sends_only_a_reference(ray_env, ray_address, lakeflow, ray_job, home):
    # The host reads --env-var values locally; with env_from=cluster the plugin ignores them.
    job_id = ray_job("--env-var", CLUSTER_SECRET_NAME, "-o", "env_from=cluster", env={CLUSTER_SECRET_NAME: "unused"})
    run_id = lakeflow("trigger-run", job_id, "secret", CLUSTER_SECRET_NAME).stdout.strip()
    lakeflow("wait", run_id, "--timeout", "300")
    digest = hashlib.sha256(CLUSTER_SECRET.encode()).hexdigest()
    assert f"len={len(CLUSTER_SECRET)} sha256={digest}" in _logs(lakeflow, run_id)
    details = _ray_job(ray_address, run_id)
    assert details.runtime_env["env_vars"][CLUSTER_SECRET_NAME] == "${" + CLUSTER_SECRET_NAME + "}"
    assert not (home / "ray" / "secrets").exists()


def test_a_duplicate_submission_is_refused_by_its_id(ray_env, ray_address, lakeflow, ray_job):
    from lakeflow_ray_target import runs, store
    from ray.job_submission import JobSubmissionClient

    job_id = ray_job()
    run_id = lakeflow("trigger-run", job_id, "sleep", "0").stdout.strip()
    client = JobSubmissionClient(ray_address)
    with pytest.raises(RuntimeError, match="already exists"):
        client.submit_job(entrypoint="echo a second run", submission_id=run_id)
    # lakeflow retrying the same submission (its answer lost) starts nothing new either.
    record = dict(store.read_runs(job_id)[run_id], submitted=False)
    runs.submit(job_id, store.job(job_id), run_id, record)
    assert record["submitted"] is True
    assert [j.submission_id for j in client.list_jobs()].count(run_id) == 1
    assert "echo" not in _ray_job(ray_address, run_id).entrypoint
    lakeflow("wait", run_id, "--timeout", "300")


def test_the_locks_pins_are_installed_on_the_cluster(ray_env, lakeflow, tmp_path):
    # The lock pins six 1.16.0 and the path dependency's iniconfig 2.0.0; newer ones exist.
    app = copy_project("locked", tmp_path) / "app"
    proc = lakeflow("launch", str(app), "--wait", "--timeout", "300", "--", "hi", timeout=400)
    log = _logs(lakeflow, proc.stdout.split()[1])
    seen = dict(line.split("=", 1) for line in log.splitlines() if "=" in line and not line.startswith("20"))
    assert (seen["SIX"], seen["HELPER_DEP"], seen["ARGS"]) == ("1.16.0", "2.0.0", "hi")
    assert "resolved at job creation" not in proc.stderr


def test_queued_runs_start_with_nobody_watching(ray_env, ray_address, lakeflow, ray_job, home):
    from ray.job_submission import JobSubmissionClient
    from support import wait_until

    job_id = ray_job("--max-workers", "1")
    first = lakeflow("trigger-run", job_id, "sleep", "1").stdout.strip()
    second = lakeflow("trigger-run", job_id, "sleep", "0").stdout.strip()
    # No lakeflow command runs from here on: the job's detached pump submits the second run
    # once the first has ended.
    client = JobSubmissionClient(ray_address)

    def ended(run_id: str) -> bool:
        found = [j for j in client.list_jobs() if j.submission_id == run_id]
        return bool(found) and found[0].status.is_terminal()

    wait_until(lambda: ended(first) and ended(second), 300, 0.5)
    assert client.get_job_info(first).end_time <= client.get_job_info(second).start_time
    # The pump is gone once the queue is empty.
    pid = int((home / "ray" / "locks" / f"pump-{job_id}.lock").read_text())
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), 30)


def test_a_second_launch_updates_the_job_and_delete_job_forgets_it(ray_env, lakeflow, tmp_path, home):
    project = copy_project("tasks", tmp_path)
    first = lakeflow("launch", str(project), "--wait", "--timeout", "300", "--", "one").stdout.split()
    task = project / "src" / "lakeflow_testtask" / "task.py"
    task.write_text(task.read_text().replace('print("DONE", flush=True)', 'print("DONE v2", flush=True)'))
    second = lakeflow("launch", str(project), "--wait", "--timeout", "300", "--", "two").stdout.split()
    assert second[0] == first[0]  # one job per project, pointed at the new artifact
    assert "DONE v2" not in _logs(lakeflow, first[1]) and "DONE v2" in _logs(lakeflow, second[1])
    assert [r["run_id"] for r in runs_json(lakeflow, first[0])] == [second[1], first[1]]
    lakeflow("delete-job", first[0])
    assert json.loads(lakeflow("list-jobs", "--json").stdout) == []
    assert lakeflow("get-run", second[1], check=False).returncode == 1
    assert len(list((home / "ray" / "artifacts").iterdir())) == 1  # the unused first set stays for prune
