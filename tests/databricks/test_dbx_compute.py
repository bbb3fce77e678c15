"""Where a Databricks job runs: the cluster lakeflow asks for, checked by the strict test server
the way a real workspace checks it (autoscale ranges, its own node types and runtimes, policies,
entitlements, pools, existing clusters, access modes, run-as, tags), through the real SDK."""

from __future__ import annotations

import json

import pytest
from databricks_server import USER, DatabricksServer
from dbx_helpers import argv_of, finished

import lakeflow_host as lf
from lakeflow_host import LakeflowError, RunState

SP = "6b7f6a4e-1f0e-4d6c-9a52-3f1c2b0d9e11"  # a service principal's application id


def _cluster(dbx: DatabricksServer) -> dict:
    return dbx.jobs.all_jobs()[-1]["settings"]["tasks"][0].get("new_cluster")


def _job(dbx_project: lf.Artifact, remote: str, options: dict | None = None, **kw) -> lf.Job:
    return lf.create_job("c", dbx_project.package, remote, target="databricks", options=options or {}, **kw)


def _runs_ok(job: lf.Job, args: list[str]) -> None:
    run = lf.trigger_run(job.job_id, args, target="databricks")
    (done,) = finished([run.run_id])
    assert done.state is RunState.SUCCEEDED, done.message
    assert argv_of(lf.get_run_logs(run.run_id, target="databricks").text) == args


@pytest.fixture
def remote(dbx_env: dict, dbx_project: lf.Artifact) -> str:
    return lf.upload_wheel(dbx_project, target="databricks").path


def _calls(dbx: DatabricksServer, path: str) -> list:
    return [r for r in dbx.recorded() if r.path.split("?")[0] == path]


def test_default_job_is_one_fixed_worker_from_the_workspace_lists(
    dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str
) -> None:
    job = _job(dbx_project, remote)
    cluster = _cluster(dbx)
    assert cluster["num_workers"] == 1 and "autoscale" not in cluster
    # The smallest available general-purpose type of this (Azure-like) workspace, and its latest
    # LTS runtime: not a guess from the host name.
    assert cluster["node_type_id"] == "Standard_F4s"
    assert cluster["spark_version"] == "16.4.x-scala2.12"
    assert cluster["data_security_mode"] == "SINGLE_USER" and "single_user_name" not in cluster
    _runs_ok(job, ["default"])


def test_more_workers_autoscale_from_one(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str) -> None:
    _job(dbx_project, remote, max_workers=4)
    assert _cluster(dbx)["autoscale"] == {"min_workers": 1, "max_workers": 4}


def test_single_node_is_driver_only(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str) -> None:
    job = _job(dbx_project, remote, {"single_node": "true"})
    cluster = _cluster(dbx)
    assert cluster["num_workers"] == 0 and "autoscale" not in cluster
    assert cluster["spark_conf"]["spark.databricks.cluster.profile"] == "singleNode"
    assert cluster["spark_conf"]["spark.master"].startswith("local[")
    assert cluster["custom_tags"] == {"ResourceClass": "SingleNode"}
    _runs_ok(job, ["single"])
    with pytest.raises(LakeflowError, match="no workers"):
        _job(dbx_project, remote, {"single_node": "true"}, max_workers=3)


def test_the_workspace_lists_are_read_once_per_workspace(
    lakeflow, dbx_env: dict, dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str
) -> None:
    for name in ("a", "b"):  # two commands, two processes
        lakeflow("create-job", name, dbx_project.package, remote)
    assert len(_calls(dbx, "/api/2.1/clusters/list-node-types")) == 1
    assert len(_calls(dbx, "/api/2.1/clusters/spark-versions")) == 1
    lakeflow("create-job", "c", dbx_project.package, remote, "--node-type", "Standard_D4ds_v5")
    assert _cluster(dbx)["node_type_id"] == "Standard_D4ds_v5"


def test_old_runtime_refused_before_anything_is_created(
    cli, dbx_env: dict, dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str
) -> None:
    result = cli("create-job", "old", dbx_project.package, remote, "--spark-version", "12.2.x-scala2.12", check=False)
    lines = [ln for ln in result.stderr.strip().splitlines() if not ln.startswith("lakeflow: target")]
    assert result.exit_code == 1 and len(lines) == 1 and "older than 13.3" in lines[0]
    assert not _calls(dbx, "/api/2.2/jobs/create")


def test_a_user_without_cluster_create_is_told_which_policies_to_use(
    dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBX_CANARY", "canary-value")
    dbx.compute.identity(USER).entitlements.clear()
    dbx.compute.policies = {
        "P-JOBS": {"name": "Job Compute", "definition": {}, "users": {USER}},
        "P-ADMIN": {"name": "Admins only", "definition": {}, "users": {"admin@example.com"}},
    }
    with pytest.raises(LakeflowError) as err:
        lf.create_job("denied", dbx_project.package, remote, target="databricks", env_vars=["DBX_CANARY"])
    message = str(err.value)
    assert "\n" not in message and "cluster policy" in message
    assert "P-JOBS (Job Compute)" in message and "P-ADMIN" not in message
    # Nothing was created: no job, no secret scope, no secret.
    assert not _calls(dbx, "/api/2.2/jobs/create")
    assert not [r for r in dbx.recorded() if r.path.startswith("/api/2.0/secrets/")]


def test_cluster_create_through_a_group_is_recognised(
    dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str
) -> None:
    dbx.compute.identity(USER).entitlements.clear()
    dbx.compute.groups["data-eng"] = {"allow-cluster-create"}
    dbx.compute.identity(USER).groups.add("data-eng")
    _runs_ok(_job(dbx_project, remote), ["via-group"])


def test_a_policy_decides_what_it_fixes(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str) -> None:
    dbx.compute.identity(USER).entitlements.clear()
    dbx.compute.policies["P1"] = {
        "name": "Jobs",
        "users": {USER},
        "definition": {
            "node_type_id": {"type": "fixed", "value": "Standard_DS3_v2"},
            "spark_version": {"type": "unlimited", "defaultValue": "15.4.x-scala2.12"},
            "data_security_mode": {"type": "fixed", "value": "DATA_SECURITY_MODE_DEDICATED"},
        },
    }
    job = _job(dbx_project, remote, {"policy_id": "P1"})
    cluster = _cluster(dbx)
    assert cluster["policy_id"] == "P1" and cluster["apply_policy_default_values"] is True
    assert not {"node_type_id", "spark_version", "data_security_mode"} & set(cluster)
    _runs_ok(job, ["policy"])
    with pytest.raises(LakeflowError, match="does not exist or you may not use it"):
        _job(dbx_project, remote, {"policy_id": "NOPE"})


def test_a_policy_that_sizes_the_cluster(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str) -> None:
    # Like Databricks' "Personal Compute" policy family: a fixed single node.
    dbx.compute.identity(USER).entitlements.clear()
    dbx.compute.policies["PERSONAL"] = {
        "name": "Personal Compute",
        "users": None,
        "definition": {
            "num_workers": {"type": "fixed", "value": 0},
            "spark_conf.spark.databricks.cluster.profile": {"type": "fixed", "value": "singleNode"},
            "spark_conf.spark.master": {"type": "fixed", "value": "local[*, 4]"},
            "custom_tags.ResourceClass": {"type": "fixed", "value": "SingleNode"},
        },
    }
    job = _job(dbx_project, remote, {"policy_id": "PERSONAL"})
    cluster = _cluster(dbx)
    assert not {"num_workers", "autoscale"} & set(cluster) and cluster["node_type_id"] == "Standard_F4s"
    _runs_ok(job, ["personal"])


def test_instance_pool_and_existing_cluster(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str) -> None:
    dbx.compute.pools["pool-1"] = {"node_type_id": "Standard_DS3_v2"}
    job = _job(dbx_project, remote, {"instance_pool_id": "pool-1"})
    cluster = _cluster(dbx)
    assert cluster["instance_pool_id"] == "pool-1" and "node_type_id" not in cluster
    _runs_ok(job, ["pool"])
    with pytest.raises(LakeflowError, match="drop --node-type"):
        _job(dbx_project, remote, {"instance_pool_id": "pool-1", "node_type": "Standard_DS3_v2"})

    dbx.compute.clusters["0101-120000-dev1"] = {
        "spark_version": "16.4.x-scala2.12",
        "data_security_mode": "SINGLE_USER",
    }
    job = _job(dbx_project, remote, {"existing_cluster_id": "0101-120000-dev1"})
    task = dbx.jobs.all_jobs()[-1]["settings"]["tasks"][0]
    assert task["existing_cluster_id"] == "0101-120000-dev1" and "new_cluster" not in task
    _runs_ok(job, ["existing"])


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("dedicated", "DATA_SECURITY_MODE_DEDICATED"),
        ("Standard", "DATA_SECURITY_MODE_STANDARD"),
        ("AUTO", "DATA_SECURITY_MODE_AUTO"),
        ("user_isolation", "USER_ISOLATION"),
    ],
)
def test_access_mode_names(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str, given: str, sent: str) -> None:
    _job(dbx_project, remote, {"data_security_mode": given})
    body = json.loads(_calls(dbx, "/api/2.2/jobs/create")[-1].body)
    assert body["tasks"][0]["new_cluster"]["data_security_mode"] == sent


def test_unknown_access_mode_is_refused(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str) -> None:
    with pytest.raises(LakeflowError, match="not a Databricks access mode"):
        _job(dbx_project, remote, {"data_security_mode": "shared-ish"})
    assert not _calls(dbx, "/api/2.2/jobs/create")


def test_run_as_a_service_principal(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str) -> None:
    dbx.compute.service_principals[SP] = {USER}
    # Its wheels must be readable by the service principal: a volume, not the user's home.
    options = {"volume": "/Volumes/main/default/wheels"}
    shared = lf.upload_wheel(dbx_project, target="databricks", options=options).path
    job = _job(dbx_project, shared, {**options, "run_as": SP})
    stored = dbx.jobs.all_jobs()[-1]
    assert stored["settings"]["run_as"] == {"service_principal_name": SP}
    assert stored["run_as_user_name"] == SP
    _runs_ok(job, ["as-sp"])
    _job(dbx_project, remote, {"run_as": USER})
    assert dbx.jobs.all_jobs()[-1]["settings"]["run_as"] == {"user_name": USER}


def test_timeout_stops_a_hung_task(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str) -> None:
    job = _job(dbx_project, remote, {"timeout": "2"})
    assert dbx.jobs.all_jobs()[-1]["settings"]["tasks"][0]["timeout_seconds"] == 2
    run = lf.trigger_run(job.job_id, ["--sleep", "30"], target="databricks")
    (done,) = finished([run.run_id], timeout=60)
    assert done.state is RunState.FAILED and "timed out" in (done.message or "")


def test_job_tags_fit_cloud_tag_rules(dbx: DatabricksServer, dbx_project: lf.Artifact, remote: str) -> None:
    # The same distribution, named the way its author spells it.
    job = lf.create_job("tags", "Dbx.Task", remote, target="databricks")
    tags = dbx.jobs.all_jobs()[-1]["settings"]["tags"]
    assert tags["lakeflow_package"] == "dbx_task"
    assert lf.get_job(job.job_id, target="databricks").package == "dbx_task"
