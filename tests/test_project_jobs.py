"""A project launched every day: [tool.lakeflow] defaults, one job per project, delete-job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import copy_project

import lakeflow_host as lf

DEFAULTS = """
[tool.lakeflow]
target = "local"
job-name = "daily-scoring"
max-workers = 3
env-vars = ["MY_SECRET_KEY"]
"""


def _project(tmp_path: Path, extra: str = DEFAULTS) -> Path:
    project = copy_project("tasks", tmp_path)
    with open(project / "pyproject.toml", "a") as handle:
        handle.write(extra)
    return project


def test_launch_needs_no_options_with_project_defaults(home, lakeflow, tmp_path):
    project = _project(tmp_path)
    out = lakeflow("launch", str(project), "--wait", env={"MY_SECRET_KEY": "s3cret-value-1"})
    job_id, run_id = out.stdout.split()
    job = json.loads(lakeflow("get-job", job_id, "--json").stdout)
    assert (job["name"], job["max_workers"], job["env_var_names"]) == ("daily-scoring", 3, ["MY_SECRET_KEY"])
    assert "1 run: 1 succeeded" in out.stderr
    # A flag beats the file.
    again = lakeflow("launch", str(project), "--name", "other", "--max-workers", "1", env={"MY_SECRET_KEY": "x"})
    other = json.loads(lakeflow("get-job", again.stdout.split()[0], "--json").stdout)
    assert (other["name"], other["max_workers"]) == ("other", 1)


def test_environment_beats_the_file_and_flags_beat_the_environment(home, lakeflow, tmp_path):
    project = _project(tmp_path, '\n[tool.lakeflow]\ntarget = "no-such-target"\n')
    bad = lakeflow("launch", str(project), check=False)
    assert bad.returncode == 1 and "Unknown target: no-such-target" in bad.stderr
    assert lakeflow("build-wheel", str(project), env={"LAKEFLOW_BUILDER": "uv"}).returncode == 0
    env = {"LAKEFLOW_TARGET": "local"}
    assert lakeflow("launch", str(project), "--wait", env=env).returncode == 0
    wrong_env = lakeflow("launch", str(project), "--target", "local", env={"LAKEFLOW_TARGET": "nope"})
    assert wrong_env.returncode == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("\n[tool.lakeflow]\ntargte = 'local'\n", "unknown key 'targte' in [tool.lakeflow]"),
        (
            "\n[tool.lakeflow.options.local]\nnode_type = 'x'\n",
            "unknown option 'node_type' in [tool.lakeflow.options.local]",
        ),
        ("\n[tool.lakeflow.options.dbx]\nprofile = 'x'\n", "unknown table [tool.lakeflow.options.dbx]"),
        ("\n[tool.lakeflow]\nmax-workers = 'many'\n", "max-workers in [tool.lakeflow]"),
    ],
)
def test_a_bad_tool_lakeflow_table_is_one_line_naming_the_key(home, lakeflow, tmp_path, extra, message):
    project = _project(tmp_path, extra)
    out = lakeflow("launch", str(project), check=False)
    assert out.returncode == 1 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    if "unknown key" in message:
        assert "known keys: target, builder, job-name" in out.stderr


@pytest.mark.parametrize(
    "table",
    [
        '[tool.lakeflow]\njob-name = "spelled"',
        '[tool."lakeflow"]\njob-name = "spelled"',
        "[tool . 'lakeflow' ]\njob-name = 'spelled'",
        '[tool]\nlakeflow = { job-name = "spelled" }',
        'tool.lakeflow.job-name = "spelled"',
        '[tool."lake\\u0066low"]\njob-name = "spelled"',
    ],
)
def test_every_spelling_of_the_tool_lakeflow_table_is_read(tmp_path, table):
    # A file without the table skips the TOML parser (start-up); none that has one may be missed.
    from lakeflow_host import project_config

    path = tmp_path / "pyproject.toml"
    path.write_text(table + '\n\n[project]\nname = "x"\n\n[project.scripts]\nlakeflow-task = "x:main"\n')
    assert project_config.load(path).job_name == "spelled"
    other = tmp_path / "other.toml"
    other.write_text('[project]\nname = "lakeflow-x"\n\n[project.scripts]\nlakeflow-task = "lakeflow_x:main"\n')
    assert project_config.load(other).job_name is None


def test_file_options_reach_the_plugin_through_its_declaration(home, tmp_path):
    project = _project(tmp_path, "\n[tool.lakeflow.options.uv]\nrebuild = 'maybe'\n")
    with pytest.raises(
        lf.LakeflowError, match=r"option 'rebuild' of builder uv \(from pyproject.toml\) takes true or false"
    ):
        lf.build_wheel(project)
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text().replace("'maybe'", "true"))
    assert lf.build_wheel(project).built and lf.build_wheel(project).built  # rebuild = true: never reused


@pytest.mark.slow
def test_second_launch_updates_the_job_and_earlier_runs_keep_their_artifact(home, lakeflow, tmp_path):
    project = _project(tmp_path, '\n[tool.lakeflow]\njob-name = "nightly"\n')
    first = lakeflow("launch", str(project), "--wait", "one").stdout.split()
    task = project / "src" / "lakeflow_testtask" / "task.py"
    task.write_text(task.read_text().replace('print("DONE", flush=True)', 'print("DONE v2", flush=True)'))
    second = lakeflow("launch", str(project), "--wait", "two")
    job_id, new_run = second.stdout.split()
    assert job_id == first[0] and "updated job" in second.stderr
    assert len(json.loads(lakeflow("list-jobs", "--json").stdout)) == 1
    runs = {r["run_id"]: r for r in json.loads(lakeflow("list-job-runs", job_id, "--json").stdout)}
    assert runs[first[1]]["artifact"] != runs[new_run]["artifact"]
    assert "DONE v2" in lakeflow("get-run-logs", new_run).stdout
    assert "DONE v2" not in lakeflow("get-run-logs", first[1]).stdout
    status = json.loads(lakeflow("status", job_id, "--json").stdout)
    assert sorted(map(tuple, status["artifacts"].values())) == sorted([(first[1],), (new_run,)])
    # A rerun of the old run runs the job's current artifact, with the old arguments.
    rerun = lakeflow("rerun", first[1], "--wait").stdout.split()
    assert (
        "DONE v2" in lakeflow("get-run-logs", rerun[0]).stdout
        and '["one"]' in lakeflow("get-run-logs", rerun[0]).stdout
    )
    # create-job keeps creating new jobs.
    job = lf.get_job(job_id, target="local")
    made = lakeflow("create-job", "nightly", job.package, job.artifact).stdout.strip()
    assert made != job_id


@pytest.mark.slow
def test_launch_updates_a_job_with_queued_runs_which_keep_their_artifact(home, lakeflow, tmp_path):
    project = _project(tmp_path, "")
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text("sleep 2\nqueued-before\n")
    job_id, running, queued = lakeflow("launch", str(project), "--runs-from", str(runs_file)).stdout.split()
    task = project / "src" / "lakeflow_testtask" / "task.py"
    task.write_text(task.read_text().replace('print("DONE", flush=True)', 'print("DONE v2", flush=True)'))
    out = lakeflow("launch", str(project), "after")
    same, after = out.stdout.split()
    assert same == job_id
    lakeflow("wait", running, queued, after, "--timeout", "120")
    assert "DONE v2" not in lakeflow("get-run-logs", queued).stdout
    assert "DONE v2" in lakeflow("get-run-logs", after).stdout


def test_delete_job_refuses_active_runs_then_removes_everything_it_stored(home, lakeflow, tmp_path):
    project = _project(tmp_path, "")
    job_id, run_id = lakeflow(
        "launch", str(project), "--env-var", "MY_SECRET_KEY", "sleep", "30", env={"MY_SECRET_KEY": "v"}
    ).stdout.split()
    job = lf.get_job(job_id, target="local")
    artifact_dir = Path(job.artifact).parent
    assert artifact_dir.is_dir() and (home / "envs" / artifact_dir.name).is_dir()
    assert (home / "secrets" / f"job-{job_id}.json").is_file()
    refused = lakeflow("delete-job", job_id, check=False)
    assert refused.returncode == 1 and "--cancel-runs" in refused.stderr
    assert (
        lf.get_run(run_id, target="local").state is lf.RunState.RUNNING
        or lf.get_run(run_id, target="local").state is lf.RunState.QUEUED
    )
    out = lakeflow("delete-job", job_id, "--cancel-runs")
    assert out.stdout.strip() == job_id and f"deleted job {job_id}" in out.stderr
    gone = lakeflow("get-job", job_id, check=False)
    assert gone.returncode == 1 and f"unknown job id {job_id}" in gone.stderr
    assert not artifact_dir.exists() and not (home / "envs" / artifact_dir.name).exists()
    assert not (home / "secrets" / f"job-{job_id}.json").exists()
    assert not (home / "runs" / run_id).exists()
    assert lakeflow("list-job-runs", "--json").stdout.strip() == "[]"


def test_delete_job_keeps_an_artifact_another_job_uses(home, lakeflow, task_job):
    first, second = task_job(), task_job()
    artifact = Path(lf.get_job(first, target="local").artifact)
    lakeflow("delete-job", first)
    assert artifact.is_file()
    lakeflow("delete-job", second)
    assert not artifact.exists()


@pytest.mark.slow
def test_init_then_launch_in_a_fresh_folder(home, lakeflow, tmp_path, monkeypatch):
    folder = tmp_path / "fresh"
    made = lakeflow("init", str(folder), "--name", "my-fan-out")
    assert made.stdout.strip() == str(folder.resolve()) and "lakeflow launch" in made.stderr
    assert (folder / "src" / "my_fan_out" / "task.py").is_file()
    out = lakeflow("launch", str(folder), "--runs-from", str(folder / "args.txt"), "--wait", "--timeout", "120")
    job_id, *run_ids = out.stdout.split()
    assert len(run_ids) == 3 and "3 runs: 3 succeeded" in out.stderr
    assert lf.get_job(job_id, target="local").name == "my-fan-out"
    assert "got ['--shard', '3', '--verbose']" in lakeflow("get-run-logs", run_ids[2]).stdout
    again = lakeflow("init", str(folder), check=False)
    assert again.returncode == 1 and "pyproject.toml already exists" in again.stderr
    # From inside the project, `launch .` needs nothing else.
    monkeypatch.chdir(folder)
    assert lakeflow("launch", ".", "--wait").stdout.split()[0] == job_id


def test_init_refuses_a_bad_name_and_writes_nothing(lakeflow, tmp_path):
    out = lakeflow("init", str(tmp_path / "x"), "--name", "bad name!", check=False)
    assert out.returncode == 1 and "not a valid project name" in out.stderr
    assert not (tmp_path / "x").exists()


def test_env_var_takes_several_names_in_launch_as_in_create_job(home, lakeflow, tmp_path):
    project = _project(tmp_path, "")
    env = {"MY_SECRET_KEY": "a-value", "MY_OTHER_SECRET_KEY": "b-value"}
    out = lakeflow(
        "launch",
        "--wait",
        "--env-var",
        "MY_SECRET_KEY",
        "MY_OTHER_SECRET_KEY",
        str(project),
        "secret",
        "MY_OTHER_SECRET_KEY",
        env=env,
    )
    job_id, run_id = out.stdout.split()
    assert lf.get_job(job_id, target="local").env_var_names == ("MY_OTHER_SECRET_KEY", "MY_SECRET_KEY")
    assert "SECRET MY_OTHER_SECRET_KEY len=7" in lakeflow("get-run-logs", run_id).stdout


def test_prune_removes_old_runs_and_unused_uploads_only(home, lakeflow, task_wheel, task_job):
    unused = Path(lakeflow("upload-wheel", str(task_wheel)).stdout.strip()).parent
    kept = lakeflow("prune")  # default: 30 days; everything here is newer
    assert "removed 0 runs and 0 uploads" in kept.stdout and unused.is_dir()
    assert json.loads(lakeflow("prune", "--older-than", "0", "--json").stdout)["removed"] == [str(unused)]
    assert not unused.exists()
    job_id = task_job()
    run_id = lakeflow("trigger-run", job_id, "x").stdout.strip()
    lakeflow("wait", run_id)
    artifact = Path(lf.get_job(job_id, target="local").artifact)
    report = lf.prune(0, target="local")
    assert report.runs == 1 and report.bytes_freed > 0 and report.removed == ()
    assert artifact.is_file() and not (home / "runs" / run_id).exists()
    assert lf.list_job_runs(job_id, target="local") == [] and lf.get_job(job_id, target="local")
    assert lakeflow("prune", "--older-than", "-1", check=False).returncode == 2
