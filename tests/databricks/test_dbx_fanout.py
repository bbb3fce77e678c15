"""One job per project on Databricks: launch resets the job (jobs/reset) and replaces its
secrets, delete-job removes the job and its secret keys, rerun repeats the parameters with a
fresh idempotency token, status counts the runs. Real databricks-sdk over HTTP to the test server."""

from __future__ import annotations

import hashlib
import json

import pytest
from databricks_server import DatabricksServer
from dbx_helpers import finished, task_lines

import lakeflow_host as lf


def _keys(dbx: DatabricksServer) -> list[str]:
    """Every secret key in the workspace, across scopes."""
    return sorted(key for scope in dbx.secrets.scope_names() for key in dbx.secrets.keys(scope))


@pytest.mark.slow
def test_second_launch_resets_the_job_and_replaces_its_secret(
    dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = dbx_project.path.parent.parent
    monkeypatch.setenv("DBX_CANARY", "first-value")
    first = lf.launch(project, [["a"]], target="databricks", env_vars=["DBX_CANARY"])
    finished([r.run_id for r in first.runs])
    old_keys = _keys(dbx)
    monkeypatch.setenv("DBX_CANARY", "second-value")
    second = lf.launch(project, [["b"]], target="databricks", env_vars=["DBX_CANARY"])
    assert second.updated and second.job.job_id == first.job.job_id
    assert [r.path for r in dbx.recorded() if r.path.startswith("/api/2.2/jobs/reset")] == ["/api/2.2/jobs/reset"]
    assert len(dbx.jobs.all_jobs()) == 1
    # Found by jobs/list's name filter, not by paging through every job of the workspace.
    assert any(r.path.startswith("/api/2.2/jobs/list?") and f"name={first.job.name}" in r.path for r in dbx.recorded())
    (run,) = finished([r.run_id for r in second.runs])
    logs = lf.get_run_logs(run.run_id, target="databricks").text
    assert task_lines(logs)["CANARY_SHA256"] == hashlib.sha256(b"second-value").hexdigest()
    # The old value's key is gone (no run was active), the new one is the only one left.
    new_keys = _keys(dbx)
    assert len(old_keys) == len(new_keys) == 1 and old_keys != new_keys
    assert "second-value" not in json.dumps(dbx.jobs.all_jobs())


def test_delete_job_refuses_active_runs_then_removes_the_job_and_its_secrets(
    dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBX_CANARY", "to-delete")
    remote = lf.upload_wheel(dbx_project, target="databricks")
    job = lf.create_job("doomed", dbx_project.package, remote.path, env_vars=["DBX_CANARY"], target="databricks")
    assert len(_keys(dbx)) == 1
    run = lf.trigger_run(job.job_id, ["--sleep", "30"], target="databricks")
    with pytest.raises(lf.LakeflowError, match="--cancel-runs"):
        lf.delete_job(job.job_id, target="databricks")
    deleted = lf.delete_job(job.job_id, cancel_runs=True, target="databricks")
    assert deleted.job_id == job.job_id and dbx.jobs.all_jobs() == []
    assert _keys(dbx) == []
    with pytest.raises(lf.NotFoundError):
        lf.get_job(job.job_id, target="databricks")
    # runs/cancel-all "cancels asynchronously" (SDK 0.162 `JobsAPI.cancel_all_runs`): wait for the end.
    assert [r.state for r in finished([run.run_id])] == [lf.RunState.CANCELED]


def test_rerun_repeats_the_parameters_with_a_fresh_token_and_status_counts(
    dbx_job: lf.Job, dbx: DatabricksServer
) -> None:
    runs, _ = lf.trigger_runs(dbx_job.job_id, [["ok", "日本"], ["--fail", "boom"]], target="databricks")
    finished([r.run_id for r in runs])
    status = lf.status(dbx_job.job_id, target="databricks")
    assert status.total == 2 and dict(status.counts) == {"SUCCEEDED": 1, "FAILED": 1}
    assert dict(status.artifacts) == {dbx_job.artifact: tuple(sorted((r.run_id for r in runs), reverse=True))}
    (failed,) = status.failed
    assert failed.run_id == runs[1].run_id and failed.error == "RuntimeError: task failed on purpose: boom"
    again, failures = lf.rerun(failed_of=dbx_job.job_id, target="databricks")
    assert not failures and [r.args for r in again] == [("--fail", "boom")] and again[0].job_id == dbx_job.job_id
    bodies = [json.loads(r.body) for r in dbx.recorded() if r.path == "/api/2.2/jobs/run-now"]
    # The same parameters as the failed run's run-now (the fan-out's two requests may arrive in any order).
    assert sum(b["python_params"] == bodies[-1]["python_params"] for b in bodies) == 2
    assert len({b["idempotency_token"] for b in bodies}) == 3
    finished([r.run_id for r in again])


def test_follow_and_bulk_logs(cli, dbx_job: lf.Job, tmp_path) -> None:
    runs, _ = lf.trigger_runs(dbx_job.job_id, [["one"], ["--fail", "two"]], target="databricks")
    pieces: list[str] = []
    logs = lf.follow_run_logs(runs[0].run_id, pieces.append, target="databricks", timeout=90)
    assert logs.state is lf.RunState.SUCCEEDED and 'ARGV=["one"]' in "".join(pieces)
    finished([r.run_id for r in runs])
    out = tmp_path / "logs"
    saved = cli("get-run-logs", "--job", dbx_job.job_id, "--state", "FAILED", "--to", str(out))
    assert saved.stdout.strip() == str(out.resolve())
    text = (out / f"{runs[1].run_id}.log").read_text()
    assert 'ARGV=["--fail", "two"]' in text and "RuntimeError: task failed on purpose: two" in text
    assert [p.name for p in out.iterdir()] == [f"{runs[1].run_id}.log"]


def test_prune_deletes_upload_folders_no_job_uses(
    dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer
) -> None:
    remote = lf.upload_wheel(dbx_project, target="databricks")
    folder = remote.path.rsplit("/", 1)[0].removeprefix("/Workspace")
    job = lf.create_job("kept", dbx_project.package, remote.path, target="databricks")
    assert lf.prune(30, target="databricks").removed == ()
    assert lf.prune(0, target="databricks").removed == ()  # the job installs it
    lf.delete_job(job.job_id, target="databricks")
    report = lf.prune(0, target="databricks")
    assert report.removed == (folder,) and report.bytes_freed > 0
    with pytest.raises(Exception, match="doesn't exist"):
        dbx.workspace.list(folder)


@pytest.mark.slow
def test_launch_wait_with_a_job_option_from_the_command_line(cli, dbx_env: dict, dbx_project: lf.Artifact) -> None:
    project = dbx_project.path.parent.parent
    out = cli("launch", "--node-type", "Standard_DS3_v2", "--wait", "--timeout", "90", str(project), "a")
    assert "1 run: 1 succeeded" in out.stderr
