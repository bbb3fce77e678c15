"""Every bad input gives one line that names the fix: no traceback, no multi-minute retry loop."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from databricks_server import DatabricksServer

import lakeflow_host as lf


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_no_credentials(cli, home: Path) -> None:
    message = one_line_error(cli("list-jobs", "--target", "databricks", check=False))
    assert "DATABRICKS_HOST" in message and "DATABRICKS_TOKEN" in message and "--profile" in message


def test_unknown_profile(cli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "databrickscfg"
    config.write_text("[other]\nhost = http://127.0.0.1:1\ntoken = x\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(config))
    message = one_line_error(cli("list-jobs", "--profile", "nope", check=False))
    assert "'nope'" in message and "--profile" in message


def test_invalid_token_fails_fast(cli, dbx_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-wrong")
    start = time.monotonic()
    message = one_line_error(cli("list-jobs", check=False))
    assert time.monotonic() - start < 10
    assert "Invalid access token" in message and "DATABRICKS_TOKEN" in message


def test_unreachable_host_fails_within_seconds(cli, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-x")
    start = time.monotonic()
    message = one_line_error(cli("list-jobs", check=False))
    assert time.monotonic() - start < 15
    assert "cannot reach Databricks workspace" in message


@pytest.mark.parametrize(
    "args, expected",
    [
        (["trigger-run", "424242", "a"], "Job 424242 does not exist"),
        (["trigger-run", "not-a-number"], "not a Databricks job id"),
        (["get-run", "777"], "Run 777 does not exist"),
        (["get-run-logs", "777"], "Run 777 does not exist"),
        (["cancel-run", "777"], "Run 777 does not exist"),
        (["list-job-runs", "424242"], "Job 424242 does not exist"),
        (["create-job", "j", "dbx-task", "/Workspace/Users/x/none/dbx_task-0.1.0-py3-none-any.whl"], "upload-wheel"),
        (["create-job", "j", "dbx-task", "dbfs:/x.whl"], "upload-wheel"),
    ],
)
def test_unknown_ids_and_paths(cli, dbx_env: dict, args: list[str], expected: str) -> None:
    assert expected in one_line_error(cli(*args, check=False))


def test_bad_options(
    cli, dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = str(dbx_project.path)
    assert "Unity Catalog volume" in one_line_error(cli("upload-wheel", wheel, "-o", "volume=/tmp/x", check=False))
    remote = lf.upload_wheel(dbx_project, target="databricks").path
    assert "takes true or false" in one_line_error(
        cli("create-job", "j", "dbx-task", remote, "-o", "serverless=maybe", check=False)
    )
    assert "1 to 1000" in one_line_error(
        cli("create-job", "j", "dbx-task", remote, "--max-concurrent-runs", "5000", check=False)
    )
    assert "not other-pkg" in one_line_error(cli("create-job", "j", "other-pkg", remote, check=False))
    monkeypatch.setenv("SOME_SECRET", "value")
    message = one_line_error(
        cli("create-job", "j", "dbx-task", remote, "-o", "queue=maybe", "--env-var", "SOME_SECRET", check=False)
    )
    assert "option 'queue' of target databricks takes true or false" in message
    # Refused before anything was stored or created.
    assert not [r for r in dbx.recorded() if "/secrets/" in r.path or r.path.endswith("/jobs/create")]


def test_arguments_too_long_are_refused_before_sending(cli, dbx_job: lf.Job, dbx: DatabricksServer) -> None:
    message = one_line_error(cli("trigger-run", dbx_job.job_id, "é" * 6000, check=False))
    assert "10000-byte limit" in message
    assert not [r for r in dbx.recorded() if r.path.endswith("/run-now")]
    # Plain ASCII that fits is sent as it is.
    run = lf.trigger_run(dbx_job.job_id, ["a" * 9000], target="databricks")
    assert run.run_id


def test_default_target_follows_the_workspace_configuration(
    cli, home: Path, dbx: DatabricksServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "lakeflow: target local" in cli("list-jobs").stderr
    config = tmp_path / "databrickscfg"
    config.write_text(
        f"[DEFAULT]\nhost = {dbx.host}\ntoken = {dbx.token}\n\n[other]\nhost = {dbx.host}\ntoken = {dbx.token}\n"
    )
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(config))
    assert "lakeflow: target databricks" in cli("list-jobs").stderr  # the DEFAULT profile
    config.write_text(f"[dev]\nhost = {dbx.host}\ntoken = {dbx.token}\n")
    assert "lakeflow: target local" in cli("list-jobs").stderr
    result = cli("list-jobs", "--profile", "dev")  # a named profile also authenticates
    assert "lakeflow: target databricks" in result.stderr and "Failed to automatically" not in result.stderr


def test_oauth_machine_to_machine(cli, home: Path, dbx_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unified auth: a service principal's client id and secret, exchanged for a token by the SDK."""
    with DatabricksServer(token="unused", oauth_clients={"sp-id": "sp-secret"}, root=dbx_root) as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.host)
        monkeypatch.setenv("DATABRICKS_CLIENT_ID", "sp-id")
        monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", "sp-secret")
        assert cli("list-jobs").exit_code == 0
        assert any(r.path == "/oidc/v1/token" and r.status == 200 for r in server.recorded())
        monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", "wrong")
        message = one_line_error(cli("list-jobs", check=False))
        assert "authentication failed" in message and "invalid_client" in message


def test_jobs_lakeflow_did_not_create_are_not_triggered(cli, dbx_env: dict, dbx: DatabricksServer) -> None:
    foreign = dbx.jobs.create(  # made by someone else, e.g. in the Databricks UI
        {
            "name": "theirs",
            "tasks": [
                {
                    "task_key": "t",
                    "python_wheel_task": {"package_name": "x", "entry_point": "main"},
                    "new_cluster": {"spark_version": "15.4.x-scala2.12", "num_workers": 1},
                }
            ],
        }
    )["job_id"]
    assert "not created by lakeflow" in one_line_error(cli("trigger-run", str(foreign), "a", check=False))
    assert not [r for r in dbx.recorded() if r.path.endswith("/run-now")]


def test_cli_flags_are_the_target_options(
    cli, dbx_env: dict, dbx_project: lf.Artifact, dbx: DatabricksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    wheel = str(dbx_project.path)
    assert "Unity Catalog volume" in one_line_error(cli("upload-wheel", wheel, "--volume", "/tmp/x", check=False))
    remote = lf.upload_wheel(dbx_project, target="databricks").path
    job_id = cli(
        "create-job", "j", "dbx-task", remote, "--node-type", "Standard_D4ds_v5", "--spark-version", "15.4.x-scala2.12"
    ).stdout.strip()
    created = [json.loads(r.body) for r in dbx.recorded() if r.path.endswith("/jobs/create")][-1]
    cluster = (
        created["job_clusters"][0]["new_cluster"] if "job_clusters" in created else created["tasks"][0]["new_cluster"]
    )
    assert cluster["node_type_id"] == "Standard_D4ds_v5" and cluster["spark_version"] == "15.4.x-scala2.12"
    assert job_id.isdigit()
