"""Uploads on a strict workspace: the JSON import's base64 limit, volume directories, files
already at a content-addressed path, and wheels that the job's Python could not install."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.service.workspace import ImportFormat
from databricks_server import DatabricksServer
from databricks_server.wheelmaker import make_wheel
from dbx_helpers import TOKEN, finished, task_lines

import lakeflow_host as lf
from lakeflow_host import RunState

BIG = int(8.5 * 1024 * 1024)
TASK = "def main():\n    print('MADE_BY=wheelmaker')\n"


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("Error: ")]
    return line


def _sdk(server: DatabricksServer) -> WorkspaceClient:
    return WorkspaceClient(config=Config(host=server.host, token=TOKEN, retry_timeout_seconds=10))


def _project(root: Path) -> Path:
    """A task whose wheel is 8.5 MiB of incompressible data: base64 makes it 11.3 MiB."""
    package = root / "src" / "big_task"
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "big-task"
            version = "0.1.0"
            requires-python = ">=3.10"

            [project.scripts]
            lakeflow-task = "big_task:main"

            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"
            """
        )
    )
    (package / "blob.bin").write_bytes(random.Random(85).randbytes(BIG))
    (package / "__init__.py").write_text(
        "from importlib import resources\n\n\ndef main():\n"
        "    print('BLOB_BYTES=' + str(len(resources.files(__package__).joinpath('blob.bin').read_bytes())))\n"
    )
    return root


@pytest.mark.slow
def test_a_wheel_of_8_5_mib_uploads_and_runs(dbx_env: dict, dbx: DatabricksServer, tmp_path: Path) -> None:
    result = lf.launch(_project(tmp_path / "big"), [["x"]], target="databricks")
    assert not result.failures
    (run,) = finished([result.runs[0].run_id], timeout=120)
    assert run.state is RunState.SUCCEEDED
    assert task_lines(lf.get_run_logs(run.run_id, target="databricks").text)["BLOB_BYTES"] == str(BIG)
    imports = [r for r in dbx.recorded() if r.path == "/api/2.0/workspace/import"]
    big = [r for r in imports if len(r.body) > BIG]
    assert big and all(r.headers["Content-Type"].startswith("multipart/form-data") for r in big)
    assert all(r.status == 200 for r in imports)


def test_volume_directories_are_created_before_the_upload(
    dbx_env: dict, dbx: DatabricksServer, dbx_project: lf.Artifact
) -> None:
    remote = lf.upload_wheel(dbx_project, target="databricks", options={"volume": "/Volumes/main/default/wheels"})
    directory = remote.path.rsplit("/", 1)[0]
    calls = [(r.method, r.path.split("?")[0]) for r in dbx.recorded() if r.path.startswith("/api/2.0/fs/")]
    first_put = next(i for i, (m, p) in enumerate(calls) if m == "PUT" and p.startswith("/api/2.0/fs/files/"))
    assert ("PUT", "/api/2.0/fs/directories" + directory) in calls[:first_put]


@pytest.mark.parametrize("volume", ["", "/Volumes/main/default/wheels"])
def test_a_wrong_file_at_the_content_addressed_path_is_replaced(
    dbx_env: dict, dbx: DatabricksServer, dbx_project: lf.Artifact, volume: str
) -> None:
    options = {"volume": volume} if volume else {}
    remote = lf.upload_wheel(dbx_project, target="databricks", options=options)
    good = dbx.workspace.read(remote.path)
    # An interrupted upload or someone else's file: same name, other bytes.
    w = _sdk(dbx)
    if volume:
        import io

        w.files.upload(remote.path, io.BytesIO(b"truncated"), overwrite=True)
    else:
        w.workspace.upload(remote.path[len("/Workspace") :], b"truncated", format=ImportFormat.AUTO, overwrite=True)
    again = lf.upload_wheel(dbx_project, target="databricks", options=options)
    assert again.path == remote.path and again.bytes_uploaded == len(good)
    assert dbx.workspace.read(remote.path) == good


def _wheel(tmp_path: Path, requires_python: str | None = None, tag: str = "py3-none-any") -> Path:
    name, data = make_wheel(
        "odd-task",
        "0.1.0",
        {"odd_task/__init__.py": TASK},
        {"lakeflow-task": "odd_task:main"},
        (),
        requires_python,
        tag,
    )
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_runtime_that_fits_the_wheels_python_is_chosen(dbx_env: dict, dbx: DatabricksServer, tmp_path: Path) -> None:
    newer = lf.upload_wheel(_wheel(tmp_path, ">=3.12"), target="databricks")
    lf.create_job("new", "odd-task", newer.path, target="databricks")
    cluster = dbx.jobs.all_jobs()[-1]["settings"]["tasks"][0]["new_cluster"]
    assert cluster["spark_version"].startswith("16.4.")  # 15.4 LTS has Python 3.11
    (tmp_path / "older").mkdir()
    older = lf.upload_wheel(_wheel(tmp_path / "older", "<3.12"), target="databricks", options={"serverless": "true"})
    lf.create_job("old", "odd-task", older.path, target="databricks", options={"serverless": "true"})
    spec = dbx.jobs.all_jobs()[-1]["settings"]["environments"][0]["spec"]
    assert spec["environment_version"] == "2"  # the only serverless environment with Python 3.11


def test_the_default_serverless_environment_is_a_current_one(
    dbx_env: dict, dbx: DatabricksServer, dbx_project: lf.Artifact
) -> None:
    remote = lf.upload_wheel(dbx_project, target="databricks", options={"serverless": "true"})
    job = lf.create_job("s", dbx_project.package, remote.path, target="databricks", options={"serverless": "true"})
    assert dbx.jobs.all_jobs()[-1]["settings"]["environments"][0]["spec"]["environment_version"] == "4"
    run = lf.trigger_run(job.job_id, ["x"], target="databricks")
    assert finished([run.run_id])[0].state is RunState.SUCCEEDED


@pytest.mark.parametrize(
    "requires_python, tag, options, expected",
    [
        (">=3.12", "py3-none-any", ["-o", "spark_version=15.4.x-scala2.12"], "requires Python >=3.12, not 3.11"),
        (">=3.12", "py3-none-any", ["-o", "serverless=true", "-o", "environment_version=2"], "requires Python >=3.12"),
        (">=3.14", "py3-none-any", [], "requires Python >=3.14"),
        (None, "cp312-cp312-macosx_11_0_arm64", [], "Databricks compute runs Linux"),
        (None, "cp312-cp312-win_amd64", [], "Databricks compute runs Linux"),
    ],
)
def test_wheels_that_cannot_install_are_refused_before_upload(
    cli, dbx_env: dict, dbx: DatabricksServer, tmp_path: Path, requires_python, tag, options, expected
) -> None:
    path = _wheel(tmp_path, requires_python, tag)
    message = one_line_error(cli("upload-wheel", str(path), *options, check=False))
    assert expected in message and "odd_task-0.1.0" in message
    assert not [r for r in dbx.recorded() if r.method in ("POST", "PUT") and "/import" in r.path]


def test_the_server_refuses_wheels_at_install_like_pip(dbx: DatabricksServer, tmp_path: Path) -> None:
    """The strict server's own rule, through the SDK: a wheel whose Requires-Python excludes the
    runtime's Python fails the run at library installation."""
    from databricks.sdk.service import compute, jobs

    w = _sdk(dbx)
    name, data = make_wheel("odd-task", "0.1.0", {"odd_task/__init__.py": TASK}, {"go": "odd_task:main"}, (), ">=3.12")
    w.workspace.upload(f"/Shared/{name}", data, format=ImportFormat.AUTO, overwrite=True)
    task = jobs.Task(
        task_key="t",
        python_wheel_task=jobs.PythonWheelTask(package_name="odd-task", entry_point="go"),
        libraries=[compute.Library(whl=f"/Workspace/Shared/{name}")],
        new_cluster=compute.ClusterSpec(
            spark_version="15.4.x-scala2.12", node_type_id="Standard_DS3_v2", num_workers=1
        ),
    )
    job_id = w.jobs.create(name="j", tasks=[task]).job_id
    run_id = w.jobs.run_now(job_id).run_id
    (run,) = [r for r in finished_runs(dbx, run_id)]
    assert run.termination["code"] == "LIBRARY_INSTALLATION_ERROR"
    assert "requires a different Python: 3.11" in run.termination["message"]
    # And JSON import counts the base64 text: 8 MiB of bytes is 10.7 MiB of it.
    from databricks.sdk.errors import DatabricksError

    with pytest.raises(DatabricksError, match="exceeded max size"):
        import base64

        w.workspace.import_(
            "/Shared/x.bin", content=base64.b64encode(b"\0" * (8 * 1024 * 1024)).decode(), format=ImportFormat.AUTO
        )


def finished_runs(server: DatabricksServer, run_id: int, timeout: float = 60):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in server.jobs.all_runs() if r.run_id == run_id and not r.active]
        if runs:
            return runs
        time.sleep(0.1)
    pytest.fail(f"run {run_id} did not finish")
