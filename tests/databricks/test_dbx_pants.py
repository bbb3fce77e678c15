"""What the Pants builder makes is deployable on Databricks: a wheel runs, a PEX is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pants_support import WHEEL

import lakeflow_host as lf

pytestmark = pytest.mark.slow


def test_pants_wheel_runs_on_databricks(pants_repo, dbx_env: dict) -> None:
    repo, _ = pants_repo
    artifact = lf.load_artifact(repo.parent / "out" / WHEEL)
    assert artifact.builder == "pants" and [c.name for c in artifact.companions] == ["greeting-0.2.0-py3-none-any.whl"]
    remote = lf.upload_wheel(artifact, target="databricks")
    assert len(remote.companions) == 1
    job = lf.create_job("pants-job", artifact.package, remote.path, target="databricks")
    run = lf.trigger_run(job.job_id, ["from pants", "héllo"], target="databricks")
    [done] = lf.wait([run.run_id], target="databricks", timeout=240, poll_interval=0.5)
    logs = lf.get_run_logs(run.run_id, target="databricks")
    assert done.state is lf.RunState.SUCCEEDED, logs
    assert 'lakeflow-task argv=["from pants", "h\\u00e9llo"]' in logs.text
    assert f"run_id={run.run_id}" in logs.text and "six=1.16.0 " in logs.text


def test_a_pex_is_refused_with_one_line(dbx_env: dict, tmp_path: Path) -> None:
    pex = tmp_path / "app.pex"
    pex.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # what a PEX is does not matter: its kind is refused
    with pytest.raises(lf.LakeflowError, match=r"runs wheels only, not a pex \(app.pex\); build a wheel"):
        lf.upload_wheel(pex, target="databricks")
