"""--env-var values reach the task but never the job settings, request bodies, output or logs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from databricks_server import DatabricksServer
from dbx_helpers import task_lines

import lakeflow_host as lf

CANARY = "canary-7f3a9c-do-not-leak"


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
    settings = str(dbx.jobs.all_jobs())
    assert CANARY not in settings and "{{secrets/lakeflow/" in settings
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
