"""A flaky workspace: 503s, 429s with Retry-After, and run-now calls committed then dropped."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from databricks_server import DatabricksServer
from dbx_helpers import TOKEN, task_lines

import lakeflow_host as lf
from lakeflow_host import RunState


@pytest.fixture
def flaky(home: Path, dbx_root: Path, monkeypatch: pytest.MonkeyPatch):
    # Runs are simulated (execute=False): the test is about the API traffic, not the tasks.
    with DatabricksServer(token=TOKEN, workers=4, execute=False, root=dbx_root) as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.host)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        yield server


@pytest.mark.slow
def test_100_lines_make_exactly_100_runs(flaky: DatabricksServer, dbx_project: lf.Artifact, tmp_path: Path) -> None:
    flaky.faults.p503, flaky.faults.p429, flaky.faults.p_drop_run_now = 0.10, 0.05, 0.05
    flaky.faults.retry_after = 1
    arg_lists = [[f"line-{i}", f"välue {i}"] for i in range(100)]
    result = lf.launch(dbx_project.path.parent.parent, arg_lists, target="databricks", max_workers=2)
    assert not result.failures
    assert len(result.runs) == 100 == len({r.run_id for r in result.runs})
    created = flaky.jobs.all_runs()
    assert len(created) == 100
    seen = Counter(lf_args(run.params) for run in created)
    assert seen == Counter(tuple(a) for a in arg_lists)  # each argument list exactly once
    statuses = Counter(r.status for r in flaky.recorded())
    assert statuses[503] and statuses[429] and statuses[-1]  # every fault kind really happened
    flaky.faults.p503 = flaky.faults.p429 = flaky.faults.p_drop_run_now = 0  # a calm workspace to poll
    final = lf.wait([r.run_id for r in result.runs], target="databricks", timeout=60, poll_interval=0.2)
    assert {r.state for r in final} == {RunState.SUCCEEDED}


def lf_args(params: list[str]) -> tuple[str, ...]:
    from lakeflow_databricks_target.shim import decode_params

    return decode_params(params)


def test_logs_say_when_truncated(
    home: Path, dbx_root: Path, dbx_project: lf.Artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DatabricksServer(token=TOKEN, workers=1, log_limit=64, root=dbx_root) as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.host)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        result = lf.launch(dbx_project.path.parent.parent, [["x"]], target="databricks")
        (run,) = lf.wait([result.runs[0].run_id], target="databricks", timeout=60, poll_interval=0.2)
        logs = lf.get_run_logs(run.run_id, target="databricks")
        assert logs.truncated and "5 MB" in logs.note and len(logs.text) <= 64
        assert "HELPER" in task_lines(logs.text) or logs.text  # the end of the output is kept
