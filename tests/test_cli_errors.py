"""Bad input: one line on stderr naming the problem and the fix, a non-zero exit, no traceback,
and nothing already stored is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import copy_project


def _assert_one_line_error(proc, *fragments: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("lakeflow: ")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("Error: ") and "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in errors[0]


@pytest.fixture
def stored(home, lakeflow, task_job):
    """A job and a finished run that every bad command below must leave alone."""
    job_id = task_job()
    run_id = lakeflow("trigger-run", job_id, "keep").stdout.strip()
    lakeflow("wait", run_id, "--timeout", "120")
    return job_id, run_id


BAD_COMMANDS = {
    "missing-directory": (["build-wheel", "/no/such/dir"], ["does not exist", "pyproject.toml"]),
    "wheel-missing": (["upload-wheel", "/no/such.whl"], ["no such file", "build-wheel"]),
    "not-a-wheel": (["upload-wheel", "{readme}"], ["not a wheel", ".whl"]),
    "unknown-job": (["trigger-run", "424242", "x"], ["unknown job id 424242", "list-jobs"]),
    "unknown-run": (["get-run-logs", "424242"], ["unknown run id 424242", "list-job-runs"]),
    "unknown-run-cancel": (["cancel-run", "nope"], ["unknown run id 'nope'"]),
    "unknown-target": (["list-jobs", "--target", "nowhere"], ["Unknown target: nowhere", "available: ", "local"]),
    "unknown-builder": (["build-wheel", ".", "--builder", "bazel"], ["Unknown builder: bazel", "uv"]),
    "env-var-unset": (
        ["create-job", "j", "p", "/x.whl", "--env-var", "LAKEFLOW_TEST_UNSET_VAR"],
        ["LAKEFLOW_TEST_UNSET_VAR is not set", "export LAKEFLOW_TEST_UNSET_VAR="],
    ),
    "max-workers-zero": (
        ["create-job", "j", "p", "/x.whl", "--max-workers", "0"],
        ["--max-workers must be a whole number from 1"],
    ),
    "max-workers-text": (["create-job", "j", "p", "/x.whl", "--max-workers", "four"], ["--max-workers", "four"]),
    "remote-path-not-uploaded": (["create-job", "j", "p", "{readme}"], ["upload-wheel"]),
    "env-var-without-name": (
        ["create-job", "j", "p", "/x.whl", "--env-var", "--max-workers", "2"],
        ["--env-var needs at least one NAME"],
    ),
    "bad-option": (["list-jobs", "-o", "novalue"], ["KEY=VALUE"]),
    "runs-file-missing": (["launch", "--runs-from", "/no/file", "."], ["cannot read --runs-from /no/file"]),
}


@pytest.mark.parametrize("case", BAD_COMMANDS, ids=list(BAD_COMMANDS))
def test_bad_input_is_one_line_and_loses_nothing(stored, lakeflow, case):
    job_id, run_id = stored
    readme = str(Path(__file__).resolve().parent.parent / "README.md")
    args, fragments = BAD_COMMANDS[case]
    proc = lakeflow(*[a.replace("{readme}", readme) for a in args], check=False)
    _assert_one_line_error(proc, *fragments)
    runs = json.loads(lakeflow("list-job-runs", job_id, "--json").stdout)
    assert [(r["run_id"], r["state"]) for r in runs] == [(run_id, "SUCCEEDED")]


def test_package_that_is_not_in_the_wheel(home, lakeflow, task_wheel):
    remote = lakeflow("upload-wheel", str(task_wheel)).stdout.strip()
    proc = lakeflow("create-job", "j", "some-other-package", remote, check=False)
    _assert_one_line_error(proc, "'some-other-package' is not the one in", "pass lakeflow_testtask")


def test_debug_shows_the_traceback(home, lakeflow):
    proc = lakeflow("trigger-run", "--debug", "424242", check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "NotFoundError" in proc.stderr


def test_trigger_run_passes_option_looking_args_instead_of_parsing_them(home, lakeflow, task_job):
    job_id = task_job()
    proc = lakeflow("trigger-run", job_id, "--help", "--json", "--target", "x", "--")
    run_id = proc.stdout.strip()
    assert run_id.isdigit()
    lakeflow("wait", run_id, "--timeout", "120")
    assert 'ARGV=["--help", "--json", "--target", "x", "--"]' in lakeflow("get-run-logs", run_id).stdout


def test_launch_without_entry_point_fails_before_creating_anything(home, lakeflow, tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\n')
    proc = lakeflow("launch", str(project), "x", check=False)
    _assert_one_line_error(proc, "declares no lakeflow-task entry point")
    assert json.loads(lakeflow("list-jobs", "--json").stdout) == []


def test_launch_options_may_follow_the_project_until_the_first_task_argument(home, lakeflow, task_wheel):
    project = str(task_wheel.parent.parent)
    waited = lakeflow("launch", project, "--max-workers=2", "--wait", "first", "--wait", "-v")
    assert "1/1 finished: 1 succeeded" in waited.stderr  # --wait before "first" was lakeflow's
    run_id = waited.stdout.split()[1]
    assert 'ARGV=["first", "--wait", "-v"]' in lakeflow("get-run-logs", run_id).stdout
    before = lakeflow("launch", "--max-workers=2", project, "x")
    assert len(before.stdout.split()) == 2 and "Traceback" not in before.stderr
    separated = lakeflow("launch", project, "--", "--wait")
    run_id = separated.stdout.split()[1]
    lakeflow("wait", run_id, "--timeout", "120")
    assert 'ARGV=["--wait"]' in lakeflow("get-run-logs", run_id).stdout


def test_launch_refuses_bad_job_options_before_building(home, lakeflow, tmp_path):
    project = copy_project("tasks", tmp_path)
    proc = lakeflow("launch", "--max-workers", "0", str(project), "x", check=False)
    _assert_one_line_error(proc, "--max-workers must be a whole number from 1")
    assert not (project / "dist").exists() and not (home / "artifacts").exists()
