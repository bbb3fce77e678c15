"""--env-var values reach the task but never the job settings, request bodies, output or logs;
each identity has its own secret scope, and nothing is left behind by a failed create-job."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks_server import USER, DatabricksServer
from dbx_helpers import TOKEN, finished, task_lines
from lakeflow_databricks_target.secrets import default_scope

import lakeflow_host as lf
from lakeflow_host import RunState

CANARY = "canary-7f3a9c-do-not-leak"
SECOND_TOKEN, SECOND_USER = "dapi-second-user-0000", "second.user@example.com"


@pytest.mark.slow
def test_env_var_values_stay_in_the_secret_scope(
    lakeflow, dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer, home: Path, tmp_path: Path
) -> None:
    project = dbx_project.path.parent.parent
    out = lakeflow(
        "launch",
        "--env-var",
        "DBX_CANARY",
        "--max-workers",
        "2",
        "--wait",
        "--timeout",
        "90",
        str(project),
        "first-arg",
        env={"DBX_CANARY": CANARY},
    )
    job_id, run_id = out.stdout.split()
    logs = lakeflow("get-run-logs", run_id)
    # The value arrived: the task printed its hash.
    assert task_lines(logs.stdout)["CANARY_SHA256"] == hashlib.sha256(CANARY.encode()).hexdigest()
    for text in (out.stdout, out.stderr, logs.stdout, logs.stderr):
        assert CANARY not in text
    settings = dbx.jobs.all_jobs()[0]["settings"]
    assert CANARY not in json.dumps(dbx.jobs.all_jobs())
    # Only the scope and key names travel, as a task parameter; the cluster spec holds nothing.
    (param,) = [p for p in settings["tasks"][0]["python_wheel_task"]["parameters"] if p.startswith("--lakeflow-env")]
    assert param.startswith(f"--lakeflow-env={default_scope(USER)}:DBX_CANARY=job-")
    assert "spark_env_vars" not in settings["tasks"][0]["new_cluster"]
    carriers = [r for r in dbx.recorded() if CANARY.encode() in r.body]
    assert [r.path for r in carriers] == ["/api/2.0/secrets/put"]
    for recorded in dbx.recorded():
        assert CANARY not in recorded.path and CANARY not in str(recorded.headers)
    # Nothing lakeflow stored on this machine holds it either.
    for path in [*home.rglob("*"), *project.rglob("*")]:
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    job = lf.get_job(job_id, target="databricks")
    assert job.env_var_names == ("DBX_CANARY",) and CANARY not in repr(job)


@pytest.fixture
def two_users(home: Path, dbx_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DatabricksServer]:
    with DatabricksServer(token=TOKEN, workers=2, root=dbx_root, users={SECOND_TOKEN: SECOND_USER}) as server:
        # Only a workspace admin may make a job run as another user (RW-22).
        server.compute.identity(USER).groups.add("admins")
        monkeypatch.setenv("DATABRICKS_HOST", server.host)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        yield server


def _job_with_env(artifact: lf.Artifact, value: str, monkeypatch: pytest.MonkeyPatch, **options: str) -> lf.Job:
    monkeypatch.setenv("DBX_CANARY", value)
    remote = lf.upload_wheel(artifact, target="databricks", options=options)
    return lf.create_job(
        "env", artifact.package, remote.path, env_vars=["DBX_CANARY"], target="databricks", options=options
    )


def test_each_user_has_a_scope_of_their_own(
    two_users: DatabricksServer, dbx_project: lf.Artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _job_with_env(dbx_project, "first-users-value", monkeypatch)
    monkeypatch.setenv("DATABRICKS_TOKEN", SECOND_TOKEN)
    second = _job_with_env(dbx_project, "second-users-value", monkeypatch)  # a shared scope refuses this
    mine, theirs = default_scope(USER), default_scope(SECOND_USER)
    assert mine != theirs and set(two_users.secrets.scope_names()) == {mine, theirs}
    # Each scope is its creator's alone: nobody else can read the other's values.
    assert two_users.secrets.acl(mine) == {USER: "MANAGE"}
    assert two_users.secrets.acl(theirs) == {SECOND_USER: "MANAGE"}
    # And each run reads its own creator's value.
    run = lf.trigger_run(second.job_id, ["b"], target="databricks")
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    run_first = lf.trigger_run(first.job_id, ["a"], target="databricks")
    done = finished([run.run_id, run_first.run_id])
    assert {r.state for r in done} == {RunState.SUCCEEDED}
    for run_id, value in ((run.run_id, "second-users-value"), (run_first.run_id, "first-users-value")):
        text = lf.get_run_logs(run_id, target="databricks").text
        assert task_lines(text)["CANARY_SHA256"] == hashlib.sha256(value.encode()).hexdigest()


def test_run_as_identity_gets_read_and_nothing_more(
    two_users: DatabricksServer, dbx_project: lf.Artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    _job_with_env(dbx_project, "for-the-service-principal", monkeypatch, run_as=SECOND_USER)
    assert two_users.secrets.acl(default_scope(USER)) == {USER: "MANAGE", SECOND_USER: "READ"}


@pytest.mark.parametrize("serverless", ["false", "true"])
def test_printed_values_are_redacted_on_classic_and_serverless(
    dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer, monkeypatch: pytest.MonkeyPatch, serverless: str
) -> None:
    job = _job_with_env(dbx_project, CANARY, monkeypatch, serverless=serverless)
    if serverless == "true":
        assert "environments" in dbx.jobs.all_jobs()[-1]["settings"]
    run = lf.trigger_run(job.job_id, ["--leak"], target="databricks")
    (done,) = finished([run.run_id])
    assert done.state is RunState.FAILED
    logs = lf.get_run_logs(run.run_id, target="databricks")
    assert task_lines(logs.text)["CANARY_SHA256"] == hashlib.sha256(CANARY.encode()).hexdigest()  # it arrived
    assert "LEAKED=[REDACTED]" in logs.text and "on stderr: [REDACTED]" in logs.text
    assert "SPLIT=[REDACTED]" in logs.text
    assert "could not connect with [REDACTED]" in (logs.error or "")
    for text in (logs.text, logs.error or "", logs.error_trace or "", json.dumps(dbx.jobs.all_jobs())):
        assert CANARY not in text


def test_a_failed_create_job_leaves_no_secrets(
    cli, dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = lf.upload_wheel(dbx_project, target="databricks").path
    monkeypatch.setenv("DBX_CANARY", CANARY)
    # The workspace refuses the job (a name over 4096 bytes) after the values were stored.
    result = cli("create-job", "n" * 5000, "dbx-task", remote, "--env-var", "DBX_CANARY", check=False)
    assert result.exit_code == 1 and "4096" in result.stderr
    assert [r.path for r in dbx.recorded() if r.path == "/api/2.0/secrets/put"]  # they were stored...
    assert dbx.secrets.scope_names() and not [
        s for s in dbx.secrets.scope_names() if dbx.secrets.keys(s)
    ]  # ...and deleted


def test_the_run_as_identity_reads_the_values_only_with_its_grant(
    two_users: DatabricksServer, dbx_project: lf.Artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job runs as the second user: the shim reads the values with that identity's READ."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    job = _job_with_env(dbx_project, "for-the-other-identity", monkeypatch, run_as=SECOND_USER)
    w = WorkspaceClient(config=Config(host=two_users.host, token=TOKEN, retry_timeout_seconds=10))
    settings = {**w.jobs.get(int(job.job_id)).settings.as_dict(), "run_as": {"user_name": SECOND_USER}}
    as_other = str(w.api_client.do("POST", "/api/2.2/jobs/create", body=settings)["job_id"])
    run = lf.trigger_run(as_other, ["x"], target="databricks")
    assert finished([run.run_id])[0].state is RunState.SUCCEEDED
    text = lf.get_run_logs(run.run_id, target="databricks").text
    assert task_lines(text)["CANARY_SHA256"] == hashlib.sha256(b"for-the-other-identity").hexdigest()
    w.secrets.delete_acl(default_scope(USER), SECOND_USER)
    refused = lf.trigger_run(as_other, ["x"], target="databricks")
    assert finished([refused.run_id])[0].state is RunState.FAILED
    logs = lf.get_run_logs(refused.run_id, target="databricks")
    assert "needs READ" in (logs.text + (logs.error or "")) and "for-the-other-identity" not in logs.text
