"""The Python API, the demo that uses it, and what start-up costs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import REPO

import lakeflow_host as lf


def test_launch_wait_and_read_logs_from_python(home, task_wheel):
    project = task_wheel.parent.parent
    launch = lf.launch(project, [["a", "b c"], ["--flag"], []], max_workers=2, target="local")
    assert isinstance(launch, lf.Launch) and isinstance(launch.job, lf.Job)
    assert launch.artifact.built is False  # the session build is reused
    assert launch.remote.bytes_uploaded > 0 and launch.failures == ()
    assert [run.args for run in launch.runs] == [("a", "b c"), ("--flag",), ()]
    runs = lf.wait([run.run_id for run in launch.runs], timeout=120, poll_interval=0.1)
    assert all(run.state is lf.RunState.SUCCEEDED and run.exit_code == 0 for run in runs)
    listed = lf.list_job_runs(launch.job.job_id)
    assert [r.run_id for r in listed] == [r.run_id for r in reversed(launch.runs)]
    logs = lf.get_run_logs(launch.runs[0].run_id)
    assert isinstance(logs, lf.RunLogs) and 'ARGV=["a", "b c"]' in logs.text
    tail = lf.get_run_logs(launch.runs[0].run_id, tail=1)
    assert tail.text.strip() == "DONE" and tail.truncated
    assert lf.get_job(launch.job.job_id).name == "lakeflow-testtask"

    again = lf.launch(project, [["x"]], target="local")
    assert again.artifact.built is False and again.remote.bytes_uploaded == 0


def test_trigger_runs_reports_each_failure_and_keeps_the_rest(home, task_wheel):
    artifact = lf.load_artifact(task_wheel)
    remote = lf.upload_wheel(artifact, target="local")
    job = lf.create_job("j", artifact.package, remote.path, target="local")
    runs, failures = lf.trigger_runs(job.job_id, [["ok"]], target="local")
    assert len(runs) == 1 and failures == []
    with pytest.raises(lf.NotFoundError, match="unknown job id 999"):
        lf.trigger_run("999", ["x"], target="local")
    runs, failures = lf.trigger_runs("999", [["x"], ["y"]], target="local")
    assert runs == [] and [f.index for f in failures] == [0, 1] and "unknown job id" in failures[0].error


def test_wait_times_out_without_stopping_the_run(home, task_wheel):
    remote = lf.upload_wheel(task_wheel, target="local")
    job = lf.create_job("j", "lakeflow-testtask", remote.path, target="local")
    run = lf.trigger_run(job.job_id, ["sleep", "30"], target="local")
    with pytest.raises(lf.LakeflowError, match=rf"timed out after 0.5s; still running: {run.run_id}"):
        lf.wait([run.run_id], timeout=0.5, poll_interval=0.1)
    assert lf.get_run(run.run_id).state in (lf.RunState.QUEUED, lf.RunState.RUNNING)
    assert lf.cancel_run(run.run_id).state is lf.RunState.CANCELED


def test_demo_script_prints_each_runs_log(home):
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "run_lakeflow_demo.py")],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    for word in ("fi", "fie", "fo", "fum"):
        assert f"my arguments are ['{word}']" in proc.stdout
    assert proc.stdout.count(": SUCCEEDED") == 4


@pytest.mark.parametrize("args", [["--help"], ["list-job-runs"], ["plugins"]])
def test_cli_paths_do_not_import_databricks_sdk_or_mcp(home, args):
    # The SDKs cost about a second each to import: a help or local command must not pay for it.
    code = (
        "import sys\nfrom lakeflow_host.cli import main\nsys.argv = ['lakeflow'] + sys.argv[1:]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('databricks', 'mcp'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stderr, proc.stderr


#: What the commands that list and watch runs never need: the build and job workflow, the
#: commands that build and define jobs, the result types, and the local target's venv code.
NOT_ON_THE_LISTING_PATH = (
    "lakeflow_host.results",
    "lakeflow_host.workflow",
    "lakeflow_host.cli_build",
    "lakeflow_host.cli_jobs",
    "lakeflow_host.cli_tools",
    "lakeflow_local_target.envs",
    "shutil",
)


@pytest.mark.parametrize("args", [["list-job-runs"], ["get-run", "1"], ["get-run-logs", "1"], ["cancel-run", "1"]])
def test_listing_and_watching_load_only_what_they_use(home, args):
    # Start-up is most of what these commands cost (bench_local.py); each module here costs
    # milliseconds, and a top-level import of one undoes the lazy loading without a sign.
    code = (
        "import sys\nfrom lakeflow_host.cli import main\nsys.argv = ['lakeflow'] + sys.argv[1:]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"loaded = sorted(m for m in {NOT_ON_THE_LISTING_PATH!r} if m in sys.modules)\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    assert "LOADED []" in proc.stderr, proc.stderr


def test_lazy_commands_are_the_modules_commands():
    import importlib

    import click

    from lakeflow_host import cli

    for module, names in cli.LAZY_COMMANDS.items():
        assert sorted(c.name for c in importlib.import_module(module).COMMANDS) == sorted(names), module
    with click.Context(cli.cli) as ctx:
        listed = cli.cli.list_commands(ctx)
        assert all(isinstance(cli.cli.get_command(ctx, name), click.Command) for name in listed)
    assert {"launch", "status", "list-job-runs", "trigger-run"} <= set(listed)


def test_readme_python_example_runs_as_written(home):
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    proc = subprocess.run([sys.executable, "-c", block], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("SUCCEEDED") == 4 and "my arguments are ['fum']" in proc.stdout


def test_lazy_module_imports_on_first_use_and_survives_plugin_registration():
    code = (
        "import sys\n"
        "import lakeflow_host as lf\n"
        "from lakeflow_host.testing import make_plugin_manager\n"
        "import lakeflow_local_target as plugin\n"
        "make_plugin_manager(plugin)  # pluggy inspects every attribute of the plugin\n"
        "print('before', 'lakeflow_local_target.envs' in sys.modules)\n"
        "print('value', plugin.envs.ENTRY_POINT)\n"
        "print('after', 'lakeflow_local_target.envs' in sys.modules)\n"
        "try:\n    lf.lazy_module('no_such_module_here').x\nexcept ModuleNotFoundError as e:\n    print('missing', e.name)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split("\n")[:4] == [
        "before False",
        "value lakeflow-task",
        "after True",
        "missing no_such_module_here",
    ], proc.stderr


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: lf.launch(p, ["fi", "fie"], target="local"), "not one string"),
        (lambda p: lf.launch(p, "abc", target="local"), "at least one argument list"),
        (lambda p: lf.launch(p, [], target="local"), "at least one argument list"),
        (lambda p: lf.launch(p, [[]], env_vars="HOME", target="local"), "list of names"),
        (lambda p: lf.trigger_run("1", "abc", target="local"), "not one string"),
        (lambda p: lf.trigger_runs("1", "abc", target="local"), "list of argument lists"),
        (lambda p: lf.create_job("j", "pkg", "x", env_vars="HOME", target="local"), "list of names"),
        (lambda p: lf.rerun("12", target="local"), "list of names"),
        (lambda p: lf.wait("12", target="local"), "list of names"),
        (lambda p: lf.list_job_runs(state="DONE", target="local"), "unknown run state 'DONE'"),
        (lambda p: lf.prune(-1, target="local"), "--older-than must be a number of days"),
    ],
)
def test_a_string_where_a_list_belongs_is_refused_before_anything_is_built(home, tmp_path, call, message):
    project = tmp_path / "never-built"
    project.mkdir()
    with pytest.raises(lf.LakeflowError, match=message):
        call(project)
    assert not (project / "dist").exists() and not (home / "artifacts").exists()


def test_every_public_name_resolves_and_the_result_types_load_on_first_use():
    code = (
        "import sys, lakeflow_host as lf, lakeflow_host.types as t\n"
        "print('early', 'lakeflow_host.results' in sys.modules)\n"
        "missing = [n for n in lf.__all__ if getattr(lf, n, None) is None]\n"
        "results = sys.modules['lakeflow_host.results']\n"
        "defined = {n for n, v in vars(results).items() if getattr(v, '__module__', '') == results.__name__}\n"
        "print('missing', missing, 'same', defined == set(t.RESULT_NAMES), t.Job is lf.Job)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["early", "False", "missing", "[]", "same", "True", "True"], proc.stderr
