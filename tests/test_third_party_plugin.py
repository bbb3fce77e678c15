"""Third-party plugins, for real: installed distributions found through the ``lakeflow`` entry-point group.

``tests/third_party_plugin`` is a separate distribution, ``lakeflow-dryrun``, providing the
``dryrun`` target. It is installed with pip into a temporary directory, and the real ``lakeflow``
command runs in a subprocess with that directory on ``PYTHONPATH``, exactly as it would find a
plugin the user installed. Broken plugins are installed the same way, as hand-written
``.dist-info`` folders (what pip leaves behind) next to their modules.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGIN_SOURCE = Path(__file__).resolve().parent / "third_party_plugin"
DEMO = REPO / "examples" / "lakeflow_demo"
TIMEOUT = 120


def lakeflow_command() -> list[str]:
    """The installed ``lakeflow`` script beside this Python, else ``python -m lakeflow_host``."""
    script = Path(sys.executable).parent / "lakeflow"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lakeflow_host"]


def write_distribution(
    site: Path, dist: str, version: str, entry_points: Mapping[str, str], modules: Mapping[str, str]
) -> None:
    """Install a minimal distribution into ``site`` by hand: its modules and a ``.dist-info``
    declaring ``entry_points`` (plugin name -> module) in the ``lakeflow`` group."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[lakeflow]\n{lines}")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


@pytest.fixture(scope="module")
def dryrun_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lakeflow-dryrun`` installed by pip into its own directory (offline: hatchling is a
    dependency of lakeflow-host, so the build needs no isolated environment)."""
    site = tmp_path_factory.mktemp("site-packages")
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(PLUGIN_SOURCE),
        ],
        timeout=TIMEOUT,
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stderr
    assert (site / "lakeflow_dryrun-0.3.0.dist-info" / "entry_points.txt").is_file()
    return site


def run(
    home: Path, *args: str, paths: tuple[Path, ...] = (), env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``lakeflow`` command with ``PYTHONPATH`` holding exactly ``paths``."""
    # `home` (tests/conftest.py) has already cleared DATABRICKS_* and pointed the Databricks
    # config at nothing, so that only a plugin under test can change the default target.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFLOW_") and k != "PYTHONPATH"}
    # The host and its bundled plugins come from the environment's own install; only the
    # third-party distributions come from PYTHONPATH.
    environ.update(LAKEFLOW_HOME=str(home), PYTHONPATH=os.pathsep.join(map(str, paths)), NO_COLOR="1")
    environ.update(env or {})
    return subprocess.run(
        [*lakeflow_command(), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=home.parent,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The single error line of a failed command; fails if there is a traceback or more."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("lakeflow: target ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def demo_copy(tmp_path: Path) -> Path:
    """A copy of the demo project, so that builds never write into the repository."""
    project = tmp_path / "lakeflow_demo"
    shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("dist", "__pycache__", "*.egg-info"))
    return project


# -- the dryrun target, installed ---------------------------------------------------------------


def test_plugins_lists_the_installed_distribution(home: Path, dryrun_site: Path) -> None:
    listed = run(home, "plugins", "--json", paths=(dryrun_site,))
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    provides = plugins["dryrun"].pop("provides")
    assert plugins["dryrun"] == {
        "name": "dryrun",
        "kinds": ["target"],
        "builders": [],
        "targets": ["dryrun"],
        "distribution": "lakeflow-dryrun",
        "version": "0.3.0",
    }
    # What it declares travels too: its one option, with its stage and flag.
    assert [(p["name"], [(o["name"], o["type"], o["flag"], o["stages"]) for o in p["options"]]) for p in provides] == [
        ("dryrun", [("label", "str", True, ["run"])])
    ]
    # The bundled plugins are still there, found the same way.
    assert plugins["local_target"]["targets"] == ["local"]
    assert plugins["uv_builder"]["builders"] == ["uv"]

    table = run(home, "plugins", paths=(dryrun_site,)).stdout.split("\n\n")[0].splitlines()
    assert table[0].split() == ["PLUGIN", "KIND", "BUILDERS", "TARGETS", "DISTRIBUTION", "VERSION"]
    assert ["dryrun", "target", "-", "dryrun", "lakeflow-dryrun", "0.3.0"] in [row.split() for row in table]

    # Without the install, the same command does not know it: the entry point is what counts.
    without = run(home, "plugins", "--json")
    assert "dryrun" not in {p["name"] for p in json.loads(without.stdout)}


def test_seed_workflow_on_the_dryrun_target(home: Path, dryrun_site: Path, tmp_path: Path) -> None:
    project = demo_copy(tmp_path)
    secret = {"MY_SECRET_KEY": "hunter2-do-not-print"}

    def lf(*args: str) -> str:
        proc = run(home, *args, paths=(dryrun_site,), env=secret)
        assert proc.returncode == 0, proc.stderr
        assert "hunter2" not in proc.stdout + proc.stderr
        return proc.stdout

    wheel = lf("build-wheel", str(project)).strip()
    assert wheel.endswith(".whl") and Path(wheel).is_file()
    remote = lf("upload-wheel", "--target", "dryrun", wheel).strip()
    assert remote == wheel  # a dry run uploads nothing; the job points at the local file
    job_id = lf(
        "create-job",
        "--target",
        "dryrun",
        "my-job",
        "lakeflow-demo",
        remote,
        "--max-workers",
        "4",
        "--env-var",
        "MY_SECRET_KEY",
    ).strip()
    assert job_id == "job-1"
    task_args = ["--shard", "3", "two words", "ünïcode", "--"]
    # The plugin's own --label flag, declared by it, given before the job id.
    run_id = lf("trigger-run", "--target", "dryrun", "--label", "nightly", job_id, *task_args).strip()
    assert run_id == "run-1"

    runs = json.loads(lf("list-job-runs", "--target", "dryrun", "--json", job_id))
    assert [(r["run_id"], r["state"], r["args"], r["exit_code"]) for r in runs] == [
        ("run-1", "SUCCEEDED", task_args, 0)
    ]
    table = lf("list-job-runs", "--target", "dryrun", job_id)
    assert "run-1" in table and "SUCCEEDED" in table

    logs = lf("get-run-logs", "--target", "dryrun", run_id)
    assert f"would install: {wheel}\n" in logs
    assert "would run: lakeflow-task --shard 3 'two words' 'ünïcode' --" in logs
    assert f"argv[1:]: {json.dumps(task_args, ensure_ascii=False)}\n" in logs
    assert "DATABRICKS_RUN_ID=run-1" in logs and "MY_SECRET_KEY=<secret>" in logs
    assert "label: nightly\n" in logs  # the option reached the plugin's trigger_run

    jobs = json.loads(lf("list-jobs", "--target", "dryrun", "--json"))
    assert [(j["job_id"], j["name"], j["env_var_names"], j["max_workers"]) for j in jobs] == [
        ("job-1", "my-job", ["MY_SECRET_KEY"], 4)
    ]
    state = (home / "dryrun" / "state.json").read_text()
    assert "MY_SECRET_KEY" in state and "hunter2" not in state


def test_launch_and_wait_on_the_dryrun_target(home: Path, dryrun_site: Path, tmp_path: Path) -> None:
    project = demo_copy(tmp_path)
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text("fi\nfie 'fo fum'\n# a comment\n--verbose\n")
    proc = run(
        home,
        "launch",
        "--target",
        "dryrun",
        "--runs-from",
        str(runs_file),
        "--wait",
        str(project),
        paths=(dryrun_site,),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["job-1", "run-1", "run-2", "run-3"]
    assert "lakeflow: target dryrun" in proc.stderr
    assert "3/3 finished" in proc.stderr
    runs = json.loads(run(home, "list-job-runs", "--target", "dryrun", "--json", "job-1", paths=(dryrun_site,)).stdout)
    # The target's triggers_in_flight of 1 numbers the runs in the file's order.
    assert [(r["run_id"], r["args"]) for r in runs] == [
        ("run-3", ["--verbose"]),
        ("run-2", ["fie", "fo fum"]),
        ("run-1", ["fi"]),
    ]


def test_a_second_launch_on_a_target_without_update_job_creates_a_new_job(
    home: Path, dryrun_site: Path, tmp_path: Path
) -> None:
    project = demo_copy(tmp_path)
    first = run(home, "launch", "--target", "dryrun", str(project), "fi", paths=(dryrun_site,))
    second = run(home, "launch", "--target", "dryrun", str(project), "fie", paths=(dryrun_site,))
    assert second.returncode == 0, second.stderr
    assert first.stdout.split()[0] == "job-1" and second.stdout.split()[0] == "job-2"
    assert "target dryrun cannot update job job-1; creating a new one" in second.stderr


def test_target_is_configured_makes_dryrun_the_default(home: Path, dryrun_site: Path) -> None:
    chosen = run(home, "list-jobs", paths=(dryrun_site,), env={"LAKEFLOW_DRYRUN": "1"})
    assert chosen.returncode == 0, chosen.stderr
    assert "lakeflow: target dryrun" in chosen.stderr
    # The plugin says nothing unless configured, and the host falls back to local.
    fallback = run(home, "list-jobs", paths=(dryrun_site,))
    assert "lakeflow: target local" in fallback.stderr


def test_get_job_and_cancel_run_through_the_python_api(home: Path, dryrun_site: Path, tmp_path: Path) -> None:
    script = (
        "import lakeflow_host as lf, pathlib, sys\n"
        "wheel = pathlib.Path(sys.argv[1])\n"
        "job = lf.create_job('api-job', 'lakeflow-demo', str(wheel), target='dryrun')\n"
        "run = lf.trigger_run(job.job_id, ['a'], target='dryrun')\n"
        "print(lf.get_job(job.job_id, target='dryrun').name)\n"
        "print(lf.cancel_run(run.run_id, target='dryrun').state)\n"
        "try:\n"
        "    lf.get_job('job-99', target='dryrun')\n"
        "except lf.NotFoundError as exc:\n"
        "    print(exc)\n"
    )
    # The dry-run target only checks that the artifact file exists; it never opens it.
    wheel = tmp_path / "lakeflow_demo-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"not opened by a dry run")
    environ = {**os.environ, "LAKEFLOW_HOME": str(home), "PYTHONPATH": str(dryrun_site)}
    environ.pop("LAKEFLOW_TARGET", None)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(wheel)], env=environ, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr
    name, state, missing = proc.stdout.splitlines()
    assert name == "api-job"
    assert state == "SUCCEEDED"  # cancelling a run that already ended changes nothing
    assert "unknown job id job-99 on target dryrun" in missing


def test_unknown_ids_are_one_line_errors(home: Path, dryrun_site: Path) -> None:
    error = one_line_error(run(home, "get-run-logs", "--target", "dryrun", "run-7", paths=(dryrun_site,)))
    assert error == ("Error: unknown run id run-7 on target dryrun; see `lakeflow list-job-runs --target dryrun`")
    error = one_line_error(run(home, "trigger-run", "--target", "dryrun", "job-7", "x", paths=(dryrun_site,)))
    assert "unknown job id job-7 on target dryrun" in error


# -- choosing and loading plugins ------------------------------------------------------------------


def test_a_declared_option_is_a_flag_in_help_and_another_targets_key_is_refused(home: Path, dryrun_site: Path) -> None:
    shown = run(home, "trigger-run", "--help", paths=(dryrun_site,))
    assert shown.returncode == 0, shown.stderr
    assert "--label TEXT" in shown.stdout and "[dryrun] A label recorded with each run" in shown.stdout
    assert "Options of target dryrun (-o KEY=VALUE):" in shown.stdout and "-o label=VALUE" in shown.stdout
    # The option shapes runs only: create-job does not offer it.
    assert "--label" not in run(home, "create-job", "--help", paths=(dryrun_site,)).stdout
    # On another target the same flag is refused, naming whose it is; nothing is started.
    error = one_line_error(run(home, "trigger-run", "--target", "local", "--label", "x", "1", paths=(dryrun_site,)))
    assert error.startswith("Error: unknown option 'label' for target local (available: ")
    assert error.endswith("; it is an option of target dryrun")
    options = run(home, "plugins", paths=(dryrun_site,)).stdout.split("\n\n", 1)[1].splitlines()
    assert options[0].split() == ["OPTION", "OF", "TYPE", "FLAG", "DESCRIPTION"]
    assert ["label", "target", "dryrun", "str", "--label", "A", "label"] in [row.split()[:7] for row in options]


def test_unknown_target_lists_the_available_names(home: Path, dryrun_site: Path) -> None:
    error = one_line_error(run(home, "list-jobs", "--target", "nope", paths=(dryrun_site,)))
    assert "Unknown target: nope" in error
    available = error.split("(available: ", 1)[1].split(")", 1)[0].split(", ")
    assert {"dryrun", "local"} <= set(available)


BROKEN = "raise RuntimeError('the broken plugin cannot start: missing LAKEFLOW_BROKEN_TOKEN')\n"


def test_broken_plugin_is_named_and_can_be_disabled(home: Path, dryrun_site: Path, tmp_path: Path) -> None:
    site = tmp_path / "broken-site"
    write_distribution(site, "lakeflow-broken", "1.2", {"broken": "lakeflow_broken"}, {"lakeflow_broken": BROKEN})
    paths = (site, dryrun_site)

    for command in (["plugins"], ["list-jobs", "--target", "dryrun"]):
        error = one_line_error(run(home, *command, paths=paths))
        assert "plugin 'broken' from lakeflow-broken 1.2 failed to load" in error
        assert "RuntimeError: the broken plugin cannot start" in error
        assert "LAKEFLOW_DISABLE_PLUGINS=broken" in error  # the fix is named

    disabled = {"LAKEFLOW_DISABLE_PLUGINS": "broken"}
    listed = run(home, "plugins", "--json", paths=paths, env=disabled)
    assert listed.returncode == 0, listed.stderr
    assert {"dryrun", "local_target"} <= {p["name"] for p in json.loads(listed.stdout)}
    assert "broken" not in {p["name"] for p in json.loads(listed.stdout)}
    works = run(home, "list-jobs", "--target", "dryrun", "--json", paths=paths, env=disabled)
    assert works.returncode == 0 and json.loads(works.stdout) == [], works.stderr


CLONE = """\
from lakeflow_host import TargetInfo, hookimpl


@hookimpl
def targets():
    return [TargetInfo("dryrun")]
"""


def test_duplicate_target_name_is_refused_naming_both(home: Path, dryrun_site: Path, tmp_path: Path) -> None:
    site = tmp_path / "clone-site"
    write_distribution(site, "lakeflow-clone", "0.1", {"clone": "lakeflow_clone"}, {"lakeflow_clone": CLONE})
    error = one_line_error(run(home, "list-jobs", "--target", "dryrun", paths=(site, dryrun_site)))
    assert "'dryrun'" in error
    assert "'clone'" in error and "'dryrun'" in error.split("plugins", 1)[1]
    assert "LAKEFLOW_DISABLE_PLUGINS" in error

    works = run(
        home, "list-jobs", "--target", "dryrun", paths=(site, dryrun_site), env={"LAKEFLOW_DISABLE_PLUGINS": "clone"}
    )
    assert works.returncode == 0, works.stderr


TYPO = """\
from lakeflow_host import TargetInfo, hookimpl


@hookimpl
def targets():
    return [TargetInfo("typo")]


@hookimpl
def trigger_runs(target, job_id, args):  # misspelled: the hook is trigger_run
    return None
"""


def test_misspelled_hookimpl_fails_loudly_naming_the_plugin(home: Path, tmp_path: Path) -> None:
    site = tmp_path / "typo-site"
    write_distribution(site, "lakeflow-typo", "0.1", {"typo": "lakeflow_typo"}, {"lakeflow_typo": TYPO})
    error = one_line_error(run(home, "plugins", paths=(site,)))
    assert "plugin 'typo' from lakeflow-typo 0.1 failed to load" in error
    assert "unknown hook 'trigger_runs'" in error


def test_entry_points_cached_between_commands_still_see_an_install_and_an_uninstall(home: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    def names() -> set[str]:
        proc = run(home, "plugins", "--json", paths=(site,), env=cache)
        assert proc.returncode == 0, proc.stderr
        return {p["name"] for p in json.loads(proc.stdout)}

    assert "late" not in names()
    assert list((tmp_path / "cache" / "lakeflow").glob("entry-points-*.json"))  # the scan was kept
    write_distribution(
        site, "lakeflow-late", "0.1", {"late": "lakeflow_late"}, {"lakeflow_late": CLONE.replace("dryrun", "late")}
    )
    assert "late" in names()  # installed after the cache was written: found
    shutil.rmtree(site / "lakeflow_late-0.1.dist-info")
    assert "late" not in names()  # and gone once uninstalled


def test_python_m_from_any_folder_uses_one_cache_that_still_sees_an_install_there(home: Path, tmp_path: Path) -> None:
    # `python -m lakeflow_host` (how MCP clients start it) puts the working directory first on
    # sys.path; files written there must not invalidate the cache, nor each folder get its own.
    cache = tmp_path / "cache"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFLOW_") and k != "PYTHONPATH"}
    environ.update(LAKEFLOW_HOME=str(home), XDG_CACHE_HOME=str(cache))

    def plugins(cwd: Path) -> set[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "lakeflow_host", "plugins", "--json"],
            env=environ, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return {p["name"] for p in json.loads(proc.stdout)}

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    assert "local_target" in plugins(first)
    [written] = (cache / "lakeflow").glob("entry-points-*.json")
    before = written.stat().st_mtime_ns
    (first / "notes.txt").write_text("a file the user writes")
    plugins(first), plugins(second)
    assert list((cache / "lakeflow").glob("entry-points-*.json")) == [written]
    assert written.stat().st_mtime_ns == before  # read, never scanned and written again
    write_distribution(
        first, "lakeflow-late", "0.1", {"late": "lakeflow_late"}, {"lakeflow_late": CLONE.replace("dryrun", "late")}
    )
    assert "late" in plugins(first) and "late" not in plugins(second)
