"""The test server itself, driven by the real databricks-sdk (fact sheet §13.14 checklist).

If the server drifts from what the SDK expects, these fail before any plugin test can mislead.
"""

from __future__ import annotations

import io
import time

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import (
    InvalidParameterValue,
    OperationFailed,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from databricks.sdk.service import compute, jobs
from databricks.sdk.service.workspace import ImportFormat
from databricks_server import USER, DatabricksServer
from databricks_server.wheelmaker import make_wheel
from dbx_helpers import TOKEN

TASK = """
import os, sys, time
def main():
    print("ARGS", sys.argv[1:], "TOKEN", os.environ.get("MY_TOKEN"))
    if "sleep" in sys.argv: time.sleep(30)
    if "fail" in sys.argv: raise ValueError("boom")
"""


def client(server: DatabricksServer, token: str = TOKEN, retry: int = 30) -> WorkspaceClient:
    return WorkspaceClient(config=Config(host=server.host, token=token, retry_timeout_seconds=retry))


@pytest.fixture
def w(dbx: DatabricksServer) -> WorkspaceClient:
    return client(dbx)


@pytest.fixture
def wheel_path(w: WorkspaceClient) -> str:
    name, data = make_wheel("demo-pkg", "0.1.0", {"demo_pkg/__init__.py": TASK}, {"demo": "demo_pkg:main"})
    w.workspace.mkdirs(f"/Users/{USER}/w")
    w.workspace.upload(f"/Users/{USER}/w/{name}", data, format=ImportFormat.AUTO, overwrite=True)
    return f"/Workspace/Users/{USER}/w/{name}"


def make_job(w: WorkspaceClient, whl: str, max_runs: int = 10, queue: bool = True, env: dict | None = None) -> int:
    task = jobs.Task(
        task_key="main",
        python_wheel_task=jobs.PythonWheelTask(package_name="demo-pkg", entry_point="demo", parameters=["x"]),
        libraries=[compute.Library(whl=whl)],
        new_cluster=compute.ClusterSpec(
            spark_version="15.4.x-scala2.12",
            node_type_id="Standard_DS3_v2",
            autoscale=compute.AutoScale(min_workers=1, max_workers=2),
            spark_env_vars=env,
        ),
    )
    return w.jobs.create(
        name="t", tasks=[task], max_concurrent_runs=max_runs, queue=jobs.QueueSettings(enabled=queue)
    ).job_id


def test_client_constructs_fast_and_knows_the_user(dbx: DatabricksServer) -> None:
    start = time.monotonic()
    w = client(dbx)
    assert time.monotonic() - start < 1
    assert w.current_user.me().user_name == USER


def test_workspace_upload_overwrite_rules(w: WorkspaceClient) -> None:
    path = f"/Users/{USER}/a.whl"
    w.workspace.upload(path, b"x", format=ImportFormat.AUTO, overwrite=True)
    w.workspace.upload(path, b"y", format=ImportFormat.AUTO, overwrite=True)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(path, b"z", format=ImportFormat.AUTO)
    assert w.workspace.get_status(f"/Workspace{path}").size == 1
    with pytest.raises(ResourceDoesNotExist):
        w.workspace.get_status(f"/Users/{USER}/missing.whl")


def test_files_upload_of_51_mib_falls_back_to_one_put(w: WorkspaceClient, dbx: DatabricksServer) -> None:
    data = b"\0" * (51 * 1024 * 1024)
    w.files.upload("/Volumes/main/default/vol/big.bin", io.BytesIO(data), overwrite=True)
    assert dbx.workspace.read("/Volumes/main/default/vol/big.bin") == data


def test_idempotency_token_gives_one_run(w: WorkspaceClient, wheel_path: str, dbx: DatabricksServer) -> None:
    job = make_job(w, wheel_path)
    ids = {w.jobs.run_now(job, python_params=["a"], idempotency_token="same").run_id for _ in range(3)}
    other = w.jobs.run_now(job, python_params=["a"], idempotency_token="other").run_id
    assert len(ids) == 1 and other not in ids
    assert len(dbx.jobs.all_runs()) == 2


def test_over_the_limit_runs_are_skipped_without_queue(w: WorkspaceClient, wheel_path: str) -> None:
    job = make_job(w, wheel_path, max_runs=1, queue=False)
    first = w.jobs.run_now(job, python_params=["sleep"]).run_id
    second = w.jobs.run_now(job, python_params=["a"]).run_id
    skipped = w.jobs.get_run(second)
    assert skipped.state.life_cycle_state == jobs.RunLifeCycleState.SKIPPED
    assert "maximum concurrent runs" in skipped.state.state_message
    w.jobs.cancel_run(first)


def test_over_the_limit_runs_queue_then_run(w: WorkspaceClient, wheel_path: str) -> None:
    job = make_job(w, wheel_path, max_runs=1, queue=True)
    first = w.jobs.run_now(job, python_params=["sleep"]).run_id
    second = w.jobs.run_now(job, python_params=["a"]).run_id
    queued = w.jobs.get_run(second)
    assert queued.state.life_cycle_state == jobs.RunLifeCycleState.QUEUED
    assert queued.status.queue_details.code == jobs.QueueDetailsCodeCode.MAX_CONCURRENT_RUNS_REACHED
    w.jobs.cancel_run(first).result(timeout=timedelta_s(30))
    done = w.jobs.wait_get_run_job_terminated_or_skipped(second, timeout=timedelta_s(60))
    assert done.state.result_state == jobs.RunResultState.SUCCESS


def test_runs_really_execute_with_secrets_and_dynamic_values(w: WorkspaceClient, wheel_path: str) -> None:
    w.secrets.create_scope("s")
    w.secrets.put_secret("s", "k", string_value="v@lue")
    job = make_job(w, wheel_path, env={"MY_TOKEN": "{{secrets/s/k}}"})
    run = w.jobs.run_now(job, python_params=["{{job.run_id}}", "a b"]).result(timeout=timedelta_s(60))
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    out = w.jobs.get_run_output(run.tasks[0].run_id)
    assert out.logs.strip() == f"ARGS ['{run.run_id}', 'a b'] TOKEN v@lue"
    assert "v@lue" not in str(w.jobs.get(job).as_dict())


def test_errors_match_the_real_service(w: WorkspaceClient, wheel_path: str) -> None:
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(999)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get(999)
    job = make_job(w, wheel_path)
    run = w.jobs.run_now(job, python_params=["fail"]).result(timeout=timedelta_s(60))
    with pytest.raises(InvalidParameterValue, match="multiple tasks"):
        w.jobs.get_run_output(run.run_id)
    out = w.jobs.get_run_output(run.tasks[0].run_id)
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert out.error == "ValueError: boom" and "Traceback" in out.error_trace
    with pytest.raises(InvalidParameterValue, match="ASCII"):
        w.jobs.run_now(job, python_params=["héllo"])


def test_missing_library_fails_the_run_not_the_create(w: WorkspaceClient) -> None:
    job = make_job(w, f"/Workspace/Users/{USER}/nowhere.whl")
    run_id = w.jobs.run_now(job).run_id
    with pytest.raises(OperationFailed, match="library file does not exist"):
        w.jobs.wait_get_run_job_terminated_or_skipped(run_id, timeout=timedelta_s(30))
    run = w.jobs.get_run(run_id)
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
    assert run.status.termination_details.code == jobs.TerminationCodeCode.LIBRARY_INSTALLATION_ERROR


def test_throttling_is_retried_and_wrong_token_refused(w: WorkspaceClient, dbx: DatabricksServer) -> None:
    dbx.faults.p429, dbx.faults.retry_after = 1.0, 1
    with pytest.raises(TimeoutError):  # the SDK keeps retrying 429s until its budget runs out
        client(dbx, retry=1).current_user.me()
    dbx.faults.p429 = 0.5
    assert w.current_user.me().user_name == USER
    assert any(r.status == 429 for r in dbx.recorded())
    dbx.faults.p429 = 0
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        client(dbx, token="wrong").current_user.me()


def test_commit_then_drop_is_retried_by_the_sdk(w: WorkspaceClient, wheel_path: str, dbx: DatabricksServer) -> None:
    job = make_job(w, wheel_path)
    dbx.faults.p_drop_run_now = 1.0
    with pytest.raises(TimeoutError):
        client(dbx, retry=1).jobs.run_now(job, idempotency_token="t")
    dbx.faults.p_drop_run_now = 0
    run_id = w.jobs.run_now(job, idempotency_token="t").run_id  # the committed run, not a new one
    assert [r.run_id for r in dbx.jobs.all_runs()] == [run_id]


def test_list_runs_pages_24_at_a_time(w: WorkspaceClient, wheel_path: str, dbx: DatabricksServer) -> None:
    job = make_job(w, wheel_path, max_runs=0, queue=False)  # every run is skipped at once
    for i in range(30):
        w.jobs.run_now(job, python_params=[str(i)])
    assert len(list(w.jobs.list_runs(job_id=job, limit=24))) == 30
    pages = [r for r in dbx.recorded() if r.path.startswith("/api/2.2/jobs/runs/list")]
    assert len(pages) == 2
    before = len(dbx.recorded())
    assert len(list(w.jobs.list_runs(job_id=job, limit=0))) == 30  # 0: the service maximum, 25
    assert len([r for r in dbx.recorded()[before:] if r.path.startswith("/api/2.2/jobs/runs/list")]) == 2
    with pytest.raises(InvalidParameterValue):  # "greater than 0 and less than 25" (RW-32)
        next(iter(w.jobs.list_runs(job_id=job, limit=25)))


def timedelta_s(seconds: float):
    from datetime import timedelta

    return timedelta(seconds=seconds)


def _create(w: WorkspaceClient, whl: str, **cluster) -> int:
    spec = {"spark_version": "16.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 1, **cluster}
    task = jobs.Task(
        task_key="main",
        python_wheel_task=jobs.PythonWheelTask(package_name="demo-pkg", entry_point="demo"),
        libraries=[compute.Library(whl=whl)],
        new_cluster=compute.ClusterSpec.from_dict({k: v for k, v in spec.items() if v is not None}),
    )
    return w.jobs.create(name="rules", tasks=[task]).job_id


SINGLE = {
    "num_workers": 0,
    "spark_conf": {"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*, 4]"},
    "custom_tags": {"ResourceClass": "SingleNode"},
}


@pytest.mark.parametrize(
    ("cluster", "refusal"),
    [
        ({"num_workers": None, "autoscale": {"min_workers": 1, "max_workers": 1}}, "strictly greater"),
        ({"autoscale": {"min_workers": 1, "max_workers": 2}}, "exactly one of num_workers or autoscale"),
        ({"num_workers": 0}, "single node"),
        ({"spark_conf": SINGLE["spark_conf"]}, "requires num_workers 0"),
        ({"node_type_id": "m5d.large"}, "Node type m5d.large is not supported"),
        ({"node_type_id": "Standard_D2ds_v5"}, "not available in this region"),
        ({"spark_version": "15.3.x-scala2.12"}, "Invalid spark version"),
        ({"instance_pool_id": "pool-1"}, "cannot be supplied when an instance pool ID is provided"),
        ({"policy_id": "missing"}, "does not exist"),
    ],
)
def test_cluster_rules(w: WorkspaceClient, wheel_path: str, dbx: DatabricksServer, cluster: dict, refusal: str) -> None:
    dbx.compute.pools["pool-1"] = {"node_type_id": "Standard_DS3_v2"}
    with pytest.raises(InvalidParameterValue, match=refusal):
        _create(w, wheel_path, **cluster)


def test_valid_shapes(w: WorkspaceClient, wheel_path: str, dbx: DatabricksServer) -> None:
    dbx.compute.pools["pool-1"] = {"node_type_id": "Standard_DS3_v2"}
    _create(w, wheel_path, **SINGLE)
    _create(w, wheel_path, num_workers=None, autoscale={"min_workers": 1, "max_workers": 2})
    _create(w, wheel_path, node_type_id=None, instance_pool_id="pool-1")


def test_cluster_create_needs_the_entitlement_or_a_policy(
    w: WorkspaceClient, wheel_path: str, dbx: DatabricksServer
) -> None:
    dbx.compute.identity(USER).entitlements.clear()
    assert not w.current_user.me().entitlements
    with pytest.raises(PermissionDenied, match="allow-cluster-create"):
        _create(w, wheel_path)
    dbx.compute.policies["p"] = {
        "name": "Jobs",
        "users": {USER},
        "definition": {"node_type_id": {"type": "fixed", "value": "Standard_F4s"}},
    }
    assert [p.policy_id for p in w.cluster_policies.list()] == ["p"]
    with pytest.raises(InvalidParameterValue, match="Validation failed for node_type_id"):
        _create(w, wheel_path, policy_id="p")
    _create(w, wheel_path, policy_id="p", node_type_id=None)
    dbx.compute.policies["p"]["users"] = {"someone-else@example.com"}
    assert not list(w.cluster_policies.list())
    with pytest.raises(PermissionDenied):
        _create(w, wheel_path, policy_id="p", node_type_id=None)


def test_status_only_mode_and_system_exit(w: WorkspaceClient, dbx: DatabricksServer) -> None:
    name, data = make_wheel(
        "exit-pkg", "0.1.0", {"exit_pkg/__init__.py": "def main():\n    raise SystemExit(0)\n"}, {"m": "exit_pkg:main"}
    )
    w.workspace.mkdirs(f"/Users/{USER}/e")
    w.workspace.upload(f"/Users/{USER}/e/{name}", data, format=ImportFormat.AUTO, overwrite=True)
    task = jobs.Task(
        task_key="main",
        python_wheel_task=jobs.PythonWheelTask(package_name="exit-pkg", entry_point="m"),
        libraries=[compute.Library(whl=f"/Workspace/Users/{USER}/e/{name}")],
        new_cluster=compute.ClusterSpec(
            spark_version="16.4.x-scala2.12", node_type_id="Standard_DS3_v2", num_workers=1
        ),
    )
    job = w.jobs.create(name="exit", tasks=[task]).job_id
    dbx.jobs.legacy_state = False
    run_id = w.jobs.run_now(job).run_id
    deadline = time.monotonic() + 60
    while (run := w.jobs.get_run(run_id)).status.state != jobs.RunLifecycleStateV2State.TERMINATED:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run.state is None  # the deprecated field is gone in this mode
    # A wheel task fails on SystemExit, even SystemExit(0) (RW-39 field reports).
    assert run.status.termination_details.code == jobs.TerminationCodeCode.RUN_EXECUTION_ERROR
    assert run.run_page_url.endswith(f"?o=1234567890#job/{job}/run/{run_id}")


def test_secret_scopes_have_per_scope_acls(dbx_root) -> None:
    from databricks.sdk.errors import BadRequest
    from databricks.sdk.service.workspace import AclPermission

    with DatabricksServer(token=TOKEN, root=dbx_root, users={"dapi-other": "other@example.com"}) as server:
        mine, theirs = client(server), client(server, token="dapi-other")
        assert theirs.current_user.me().user_name == "other@example.com"
        mine.secrets.create_scope("team")
        mine.secrets.put_secret("team", "k", string_value="v")
        assert [(a.principal, a.permission) for a in mine.secrets.list_acls("team")] == [(USER, AclPermission.MANAGE)]
        with pytest.raises(PermissionDenied):  # the creator alone holds MANAGE
            theirs.secrets.put_secret("team", "k2", string_value="v2")
        with pytest.raises(PermissionDenied):
            list(theirs.secrets.list_secrets("team"))
        mine.secrets.put_acl("team", "other@example.com", AclPermission.READ)
        assert [s.key for s in theirs.secrets.list_secrets("team")] == ["k"]
        with pytest.raises(PermissionDenied):  # READ is not WRITE
            theirs.secrets.put_secret("team", "k2", string_value="v2")
        with pytest.raises(BadRequest):  # values are read by DBUtils on a cluster, never by a person
            mine.secrets.get_secret("team", "k")
        theirs.secrets.create_scope("theirs")
        with pytest.raises(PermissionDenied):
            mine.secrets.put_secret("theirs", "k", string_value="v")


def test_volumes_have_no_implicit_parent_directories(w: WorkspaceClient) -> None:
    from databricks.sdk.errors import NotFound

    with pytest.raises(NotFound, match="parent directory"):
        w.files.upload("/Volumes/main/default/vol/a/b/c.whl", io.BytesIO(b"x"), overwrite=True)
    w.files.create_directory("/Volumes/main/default/vol/a/b")
    w.files.upload("/Volumes/main/default/vol/a/b/c.whl", io.BytesIO(b"x"), overwrite=True)
    assert [e.name for e in w.files.list_directory_contents("/Volumes/main/default/vol/a")] == ["b"]
