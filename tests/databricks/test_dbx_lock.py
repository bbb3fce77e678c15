"""Locked versions on Databricks: the pins from uv.lock travel beside the wheels and the strict
test server's job cluster / serverless environment installs exactly them."""

from __future__ import annotations

from pathlib import Path

import pytest
from databricks_server import DatabricksServer
from dbx_helpers import finished, task_lines
from support import copy_project

import lakeflow_host as lf
from lakeflow_host import RunState


@pytest.fixture(scope="module")
def locked_app(tmp_path_factory: pytest.TempPathFactory) -> lf.Artifact:
    """locked-app (six 1.16.0 locked; newer exists) and its path dependency locked-helper, whose
    own iniconfig is pinned to 2.0.0 by the app's lock."""
    return lf.build_wheel(copy_project("locked", tmp_path_factory.mktemp("locked")) / "app")


@pytest.mark.parametrize(
    ("serverless", "volume"),
    [(False, ""), (True, ""), (False, "/Volumes/main/default/wheels")],
    ids=["classic", "serverless", "classic-volume"],
)
def test_run_uses_the_locked_versions(dbx_env, dbx: DatabricksServer, locked_app: lf.Artifact, serverless, volume):
    remote = lf.upload_wheel(locked_app, target="databricks", options={"volume": volume} if volume else {})
    options = {"serverless": True} if serverless else {}
    job = lf.create_job("locked", locked_app.package, remote.path, target="databricks", options=options)
    run = lf.trigger_run(job.job_id, ["x"], target="databricks")
    [done] = finished([run.run_id], timeout=180)
    logs = lf.get_run_logs(run.run_id, target="databricks")
    assert done.state is RunState.SUCCEEDED, logs.error
    seen = task_lines(logs.text)
    assert seen["SIX"] == "1.16.0" and seen["HELPER_DEP"] == "2.0.0"
    task = dbx.jobs.all_jobs()[0]["settings"]["tasks"][0]
    if serverless:
        deps = dbx.jobs.all_jobs()[0]["settings"]["environments"][0]["spec"]["dependencies"]
        assert deps[:2] == ["iniconfig==2.0.0", "six==1.16.0"] and deps[2].startswith("/Workspace/")
    else:
        assert task["libraries"][:2] == [
            {"pypi": {"package": "iniconfig==2.0.0"}},
            {"pypi": {"package": "six==1.16.0"}},
        ]
        assert all("whl" in lib for lib in task["libraries"][2:])


def test_unlocked_project_creates_no_pins(dbx_env, dbx: DatabricksServer, dbx_project: lf.Artifact) -> None:
    remote = lf.upload_wheel(dbx_project, target="databricks")
    lf.create_job("plain", dbx_project.package, remote.path, target="databricks")
    task = dbx.jobs.all_jobs()[0]["settings"]["tasks"][0]
    assert all("whl" in lib for lib in task["libraries"])


def test_a_changed_pin_gives_a_new_upload_directory(dbx_env, locked_app: lf.Artifact, tmp_path: Path) -> None:
    import dataclasses

    first = lf.upload_wheel(locked_app, target="databricks").path
    pins = tmp_path / "pins.txt"
    pins.write_text(locked_app.requirements.read_text().replace("six==1.16.0", "six==1.15.0"))
    second = lf.upload_wheel(dataclasses.replace(locked_app, requirements=pins), target="databricks").path
    assert first.rsplit("/", 2)[1] != second.rsplit("/", 2)[1]


def test_a_second_launch_keeps_the_locked_versions(dbx_env, dbx: DatabricksServer, locked_app: lf.Artifact) -> None:
    project = locked_app.path.parent.parent
    first = lf.launch(project, [["x"]], target="databricks")
    second = lf.launch(project, [["y"]], target="databricks")
    assert second.updated and second.job.job_id == first.job.job_id
    task = dbx.jobs.all_jobs()[0]["settings"]["tasks"][0]
    assert task["libraries"][:2] == [{"pypi": {"package": "iniconfig==2.0.0"}}, {"pypi": {"package": "six==1.16.0"}}]
    [done] = finished([second.runs[0].run_id], timeout=180)
    assert (
        done.state is RunState.SUCCEEDED
        and task_lines(lf.get_run_logs(done.run_id, target="databricks").text)["SIX"] == "1.16.0"
    )
    finished([first.runs[0].run_id], timeout=180)
