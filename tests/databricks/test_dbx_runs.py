"""Run state, exit semantics, run URLs and listing against the strict test server: Jobs 2.2
`status` (with the deprecated `state` gone), SystemExit as Click apps raise it, `run_page_url`,
and the runs/list page size."""

from __future__ import annotations

import pytest
from databricks_server import DatabricksServer
from dbx_helpers import argv_of, finished

import lakeflow_host as lf
from lakeflow_host import RunState


@pytest.fixture
def no_legacy_state(dbx: DatabricksServer) -> DatabricksServer:
    dbx.jobs.legacy_state = False
    return dbx


def test_state_comes_from_status_without_the_legacy_field(no_legacy_state: DatabricksServer, dbx_job: lf.Job) -> None:
    ok = lf.trigger_run(dbx_job.job_id, ["fine"], target="databricks")
    bad = lf.trigger_run(dbx_job.job_id, ["--fail", "now"], target="databricks")
    done = {r.run_id: r for r in finished([ok.run_id, bad.run_id])}
    assert done[ok.run_id].state is RunState.SUCCEEDED
    assert done[bad.run_id].state is RunState.FAILED
    assert argv_of(lf.get_run_logs(ok.run_id, target="databricks").text) == ["fine"]
    assert "on purpose" in (lf.get_run_logs(bad.run_id, target="databricks").error or "")
    states = {r.run_id: r.state for r in lf.list_job_runs(dbx_job.job_id, target="databricks")}
    assert states == {ok.run_id: RunState.SUCCEEDED, bad.run_id: RunState.FAILED}


def test_a_terminal_run_with_an_unknown_code_is_failed(no_legacy_state: DatabricksServer, dbx_job: lf.Job) -> None:
    run = lf.trigger_run(dbx_job.job_id, ["x"], target="databricks")
    finished([run.run_id])
    (record,) = [r for r in no_legacy_state.jobs.all_runs() if str(r.run_id) == run.run_id]
    record.termination = {"code": "SOMETHING_NEWER_THAN_THE_SDK", "type": "CLIENT_ERROR", "message": "new"}
    seen = lf.get_run(run.run_id, target="databricks")
    assert seen.state is RunState.FAILED and seen.message == "new"


@pytest.mark.parametrize(("code", "state"), [("0", RunState.SUCCEEDED), ("3", RunState.FAILED)])
def test_system_exit_is_success_only_when_zero(dbx_job: lf.Job, code: str, state: RunState) -> None:
    run = lf.trigger_run(dbx_job.job_id, ["--exit", code], target="databricks")
    (done,) = finished([run.run_id])
    assert done.state is state, done.message


def test_run_url_is_the_one_databricks_returns(dbx_job: lf.Job, dbx: DatabricksServer) -> None:
    runs = [lf.trigger_run(dbx_job.job_id, [str(i)], target="databricks") for i in range(3)]
    for run in runs:
        assert run.url == lf.get_run(run.run_id, target="databricks").url
        assert run.url == f"{dbx.host}/?o=1234567890#job/{dbx_job.job_id}/run/{run.run_id}"
    # The workspace's URL shape is learned once per client, not asked for each run.
    assert len([r for r in dbx.recorded() if r.path.startswith("/api/2.2/jobs/runs/get?")]) == 1 + 3
    finished([r.run_id for r in runs])


def test_runs_list_asks_for_full_pages_with_limit_0(dbx_job: lf.Job, dbx: DatabricksServer) -> None:
    """A page as big as the service allows is "limit 0", never a number above the documented
    "less than 25"; a listing smaller than that asks for just what it shows."""
    lf.list_job_runs(dbx_job.job_id, target="databricks")
    lf.list_job_runs(dbx_job.job_id, target="databricks", limit=5)
    limits = [r.path for r in dbx.recorded() if r.path.startswith("/api/2.2/jobs/runs/list")]
    assert len(limits) == 2 and "limit=0" in limits[0] and "limit=5" in limits[1]
