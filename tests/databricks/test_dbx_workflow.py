"""The Databricks target end to end: the real CLI and Python API, the real databricks-sdk, over
HTTP to the Databricks-compatible server, which installs the uploaded wheels and runs the task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from databricks_server import DatabricksServer
from dbx_helpers import argv_of, finished, task_lines

import lakeflow_host as lf
from lakeflow_host import RunState


@pytest.mark.slow
def test_seed_workflow_through_the_cli(
    lakeflow, dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer, tmp_path: Path
) -> None:
    remote = lakeflow("upload-wheel", str(dbx_project.path))
    path = remote.stdout.strip()
    assert "lakeflow: target databricks" in remote.stderr
    assert "host metadata" not in remote.stderr  # the SDK's warning noise stays out of users' terminals
    assert path.startswith("/Workspace/Users/lakeflow-test@example.com/lakeflow/wheels/")
    assert "+lf" in path.rsplit("/", 1)[1]  # version unique per content
    job_id = lakeflow("create-job", "seed", dbx_project.package, path, "--max-workers", "3").stdout.strip()
    args = ["plain", "héllo wörld", "--opt=\"quoted\" 'single'", "", "{{job.run_id}}", "-x"]
    trigger = lakeflow("trigger-run", job_id, *args)
    run_id = trigger.stdout.strip()
    assert f"#job/{job_id}/run/{run_id}" in trigger.stderr
    lakeflow("wait", run_id, "--timeout", "90")
    logs = lakeflow("get-run-logs", run_id).stdout
    seen = task_lines(logs)
    assert argv_of(logs) == args
    assert seen["DATABRICKS_RUN_ID"] == run_id == seen["LAKEFLOW_RUN_ID"]
    # The path dependency came from its uploaded companion wheel, installed in the task's venv.
    assert path.endswith(f"dbx_task-{seen['VERSION']}-py3-none-any.whl")  # the uploaded, re-versioned wheel ran
    assert seen["HELPER"].startswith("dbx-helper 0.2.0 says hello from ") and "site-packages" in seen["HELPER"]
    runs = json.loads(lakeflow("list-job-runs", job_id, "--json").stdout)
    assert [(r["run_id"], r["state"], r["args"]) for r in runs] == [(run_id, "SUCCEEDED", args)]
    settings = dbx.jobs.all_jobs()[0]["settings"]
    cluster = settings["tasks"][0]["new_cluster"]
    assert cluster["autoscale"] == {"min_workers": 1, "max_workers": 3}
    assert settings["max_concurrent_runs"] == 1000 and settings["queue"] == {"enabled": True}
    assert settings["tags"]["created_by"] == "lakeflow"
    whls = [lib["whl"] for lib in settings["tasks"][0]["libraries"]]
    assert whls[0].split("/")[-1].startswith("dbx_helper-0.2.0+lf") and whls[1] == path


def test_tricky_arguments_arrive_exactly(dbx_job: lf.Job) -> None:
    args = [
        "lakeflow:b64:aGk=",
        "--lakeflow-run-id=7",
        "tab\there",
        "new\nline",
        "{{task.run_id}}",
        "日本語",
        "x" * 3000,
        "$HOME",
        "a'b\"c",
        "\\",
    ]
    run = lf.trigger_run(dbx_job.job_id, args, target="databricks")
    assert run.args == tuple(args)
    assert finished([run.run_id])[0].state is RunState.SUCCEEDED
    logs = lf.get_run_logs(run.run_id, target="databricks")
    assert argv_of(logs.text) == args
    assert task_lines(logs.text)["DATABRICKS_RUN_ID"] == run.run_id
    assert lf.get_run(run.run_id, target="databricks").args == tuple(args)  # decoded back for listings


@pytest.mark.slow
def test_launch_runs_from_20_lines(lakeflow, dbx_env: dict, dbx_project: lf.Artifact, tmp_path: Path) -> None:
    lines = [f"--index {i} 'word {i}' ünï-{i}" for i in range(20)]
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text("# one run per line\n" + "\n".join(lines) + "\n")
    project = dbx_project.path.parent.parent
    out = lakeflow(
        "launch",
        "--runs-from",
        str(runs_file),
        "--max-workers",
        "2",
        "--wait",
        "--timeout",
        "120",
        str(project),
        timeout=240,
    )
    job_id, *run_ids = out.stdout.split()
    assert len(run_ids) == 20 == len(set(run_ids))
    for index, run_id in enumerate(run_ids):
        logs = lf.get_run_logs(run_id, target="databricks")
        assert logs.state is RunState.SUCCEEDED
        assert argv_of(logs.text) == ["--index", str(index), f"word {index}", f"ünï-{index}"]
        assert task_lines(logs.text)["DATABRICKS_RUN_ID"] == run_id


def test_failing_task_error_in_logs(cli, dbx_job: lf.Job, dbx: DatabricksServer) -> None:
    run_id = cli("trigger-run", dbx_job.job_id, "--fail", "on purpose").stdout.strip()
    waited = cli("wait", run_id, "--timeout", "90", check=False)
    assert waited.exit_code == 1 and waited.stdout == f"1 run: 1 failed (ids: {run_id})\n"
    logs = cli("get-run-logs", run_id).stdout
    assert "RuntimeError: task failed on purpose: on purpose" in logs
    assert "Traceback (most recent call last)" in logs  # the error trace follows the output
    assert lf.get_run(run_id, target="databricks").state is RunState.FAILED
    # The task run id the Databricks UI shows works too.
    task_run_id = str(dbx.jobs.all_runs()[-1].task_run_id)
    assert "on purpose" in (lf.get_run_logs(task_run_id, target="databricks").error or "")


def test_cancel_a_running_task(dbx_job: lf.Job, dbx: DatabricksServer) -> None:
    run = lf.trigger_run(dbx_job.job_id, ["--sleep", "60"], target="databricks")
    _wait_state(run.run_id, RunState.RUNNING)
    assert lf.cancel_run(run.run_id, target="databricks").state in (RunState.RUNNING, RunState.CANCELED)
    (done,) = finished([run.run_id], timeout=30)
    assert done.state is RunState.CANCELED
    logs = lf.get_run_logs(run.run_id, target="databricks")
    assert logs.state is RunState.CANCELED and "cancel" in (logs.error or "").lower()
    # Cancelling again is a no-op.
    assert lf.cancel_run(run.run_id, target="databricks").state is RunState.CANCELED


def test_skipped_runs_are_reported_not_waited_on(dbx_env: dict, dbx_project: lf.Artifact) -> None:
    remote = lf.upload_wheel(dbx_project, target="databricks")
    job = lf.create_job(
        "no-queue",
        dbx_project.package,
        remote.path,
        max_concurrent_runs=1,
        target="databricks",
        options={"queue": "false"},
    )
    busy = lf.trigger_run(job.job_id, ["--sleep", "60"], target="databricks")
    extra = lf.trigger_run(job.job_id, ["late"], target="databricks")
    (skipped,) = finished([extra.run_id], timeout=20)
    assert skipped.state is RunState.SKIPPED and "maximum concurrent runs" in skipped.message
    logs = lf.get_run_logs(extra.run_id, target="databricks")
    assert logs.text == "" and "skipped" in logs.note
    lf.cancel_run(busy.run_id, target="databricks")
    assert finished([busy.run_id], timeout=30)[0].state is RunState.CANCELED


def test_identical_upload_sends_nothing(dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer) -> None:
    first = lf.upload_wheel(dbx_project, target="databricks")
    assert first.bytes_uploaded > 0 and len(first.companions) == 1
    before = len([r for r in dbx.recorded() if r.path == "/api/2.0/workspace/import"])
    again = lf.upload_wheel(dbx_project.path, target="databricks")  # by path, through the manifest
    after = len([r for r in dbx.recorded() if r.path == "/api/2.0/workspace/import"])
    assert again == first.__class__(first.target, first.path, first.companions, 0)
    assert before == 4 and after == before  # main, companion, shim, manifest; nothing the second time


def test_volume_upload_and_run(dbx_env: dict, dbx_project: lf.Artifact) -> None:
    options = {"volume": "/Volumes/main/default/wheels"}
    remote = lf.upload_wheel(dbx_project, target="databricks", options=options)
    assert remote.path.startswith("/Volumes/main/default/wheels/lakeflow/wheels/")
    job = lf.create_job("vol", dbx_project.package, remote.path, target="databricks", options=options)
    run = lf.trigger_run(job.job_id, ["from-volume"], target="databricks")
    assert finished([run.run_id])[0].state is RunState.SUCCEEDED
    assert argv_of(lf.get_run_logs(run.run_id, target="databricks").text) == ["from-volume"]


def test_serverless_job(dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer) -> None:
    remote = lf.upload_wheel(dbx_project, target="databricks")
    job = lf.create_job("sls", dbx_project.package, remote.path, target="databricks", options={"serverless": "true"})
    settings = dbx.jobs.all_jobs()[-1]["settings"]
    assert "new_cluster" not in settings["tasks"][0]
    assert remote.path in settings["environments"][0]["spec"]["dependencies"]
    run = lf.trigger_run(job.job_id, ["serverless"], target="databricks")
    assert finished([run.run_id])[0].state is RunState.SUCCEEDED


def test_listing_pages_through_all_runs(dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer) -> None:
    remote = lf.upload_wheel(dbx_project, target="databricks")
    job = lf.create_job(
        "many", dbx_project.package, remote.path, target="databricks", max_concurrent_runs=1, options={"queue": "off"}
    )
    busy = lf.trigger_run(job.job_id, ["--sleep", "60"], target="databricks")  # holds the only slot
    runs, failures = lf.trigger_runs(job.job_id, [[str(i)] for i in range(29)], target="databricks")
    runs = [busy, *runs]
    assert not failures
    listed = lf.list_job_runs(job.job_id, target="databricks")
    assert sorted(r.run_id for r in listed) == sorted(r.run_id for r in runs)
    assert len([r for r in dbx.recorded() if r.path.startswith("/api/2.2/jobs/runs/list")]) == 2
    assert sum(r.state is RunState.SKIPPED for r in listed) == 29
    assert [j.job_id for j in lf.list_jobs(target="databricks")] == [job.job_id]
    lf.cancel_run(runs[0].run_id, target="databricks")


def _wait_state(run_id: str, state: RunState, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lf.get_run(run_id, target="databricks").state is state:
            return
        time.sleep(0.1)
    pytest.fail(f"run {run_id} never reached {state}")
