"""The Pants builder with a real Pants 2.17.1: `lakeflow build-wheel/launch --builder pants` on a
small Pants monorepo (tests/fixtures/pants_repo), then the local target runs what Pants built.

Pants comes from .ci/install-pants.sh (CI runs it first; these tests run it when it has not run).
Every Pants run costs ~12 s of start-up and the first one a minute, so one repo copy and one
Pants cache serve the happy-path tests, and the failure tests stop at Pants' first step.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from pants_support import COMPANION, WHEEL, error_line, run_cli
from support import copy_project

import lakeflow_host as lf

pytestmark = pytest.mark.slow


def test_build_wheel_prints_the_wheel_pants_built(pants_repo):
    repo, proc = pants_repo
    out = repo.parent / "out"
    # stdout is the path and nothing else; Pants' progress went to stderr.
    assert proc.stdout == f"{out / WHEEL}\n"
    assert "Wrote dist/my_package-0.1.0-py3-none-any.whl" in proc.stderr
    assert (out / WHEEL).read_bytes() == (repo / "dist" / WHEEL).read_bytes()
    with zipfile.ZipFile(out / WHEEL) as wheel:
        entry_points = wheel.read("my_package-0.1.0.dist-info/entry_points.txt").decode()
        metadata = wheel.read("my_package-0.1.0.dist-info/METADATA").decode()
    assert "lakeflow-task = my_package.main:main" in entry_points
    assert "Requires-Dist: six\n" in metadata.replace("\r", "")  # any six: the lockfile has 1.16.0
    pins = out / f"{WHEEL}.requirements.txt"
    assert pins.read_text() == "six==1.16.0\n"  # the resolve's lockfile, honoured
    # The first-party library it requires exists on no index: its wheel travels with it.
    assert "Requires-Dist: greeting (==0.2.0)" in metadata
    manifest = json.loads((out / f"{WHEEL}.lakeflow.json").read_text())
    assert manifest["builder"] == "pants" and manifest["kind"] == "wheel"
    assert manifest["package"] == "my-package" and manifest["companions"] == [COMPANION]
    assert (out / COMPANION).is_file()


def test_launch_wheel_runs_on_the_local_target(pants_repo, pants_env, lakeflow):
    repo, _ = pants_repo
    # An explicit address (the test above found it by asking Pants).
    proc = lakeflow(
        "launch",
        "--builder",
        "pants",
        "-o",
        "target=src/my_package:dist",
        "--wait",
        str(repo),
        "a",
        "b c",
        "--flag=ü",
        env=pants_env,
        timeout=600,
    )
    # Pants ran again, rebuilt nothing, and said so; lakeflow noticed the same bytes.
    assert "running pants package src/my_package:dist src/greeting:dist" in proc.stderr
    assert f"unchanged, reusing {WHEEL}" in proc.stderr
    assert "1 succeeded" in proc.stderr
    job_id, run_id = proc.stdout.split()
    logs = lakeflow("get-run-logs", run_id).stdout
    assert 'lakeflow-task argv=["a", "b c", "--flag=\\u00fc"]' in logs
    assert f"run_id={run_id}" in logs
    assert "six=1.16.0 hello from greeting, pants" in logs  # the companion wheel was installed


def test_launch_pex_runs_directly_on_the_local_target(pants_repo, pants_env, lakeflow):
    repo, _ = pants_repo
    proc = lakeflow(
        "launch",
        "--builder",
        "pants",
        "-o",
        "format=pex",
        "--wait",
        str(repo),
        "x",
        "--y z",
        env=pants_env,
        timeout=600,
    )
    assert "running pants package src/my_package:app" in proc.stderr
    assert "Wrote dist/src.my_package/app.pex" in proc.stderr
    _, run_id = proc.stdout.split()
    logs = lakeflow("get-run-logs", run_id).stdout
    assert 'lakeflow-task argv=["x", "--y z"]' in logs
    assert f"run_id={run_id}" in logs
    assert "six=1.16.0 hello from greeting, pants" in logs


@pytest.mark.parametrize(
    ("where", "options", "message"),
    [
        (
            "src/greeting",
            [],
            "no python_distribution under src/greeting declares a lakeflow-task entry point; add "
            'entry_points={"console_scripts": {"lakeflow-task": "my_package.main:main"}}',
        ),
        ("", ["-o", "target=src/greeting:dist"], "python_distribution src/greeting:dist declares no lakeflow-task"),
        (
            "",
            ["-o", "target=src/my_package:app"],
            "no python_distribution target at src/my_package:app; "
            "`pants list --filter-target-type=python_distribution ::` lists them",
        ),
        (
            "",
            ["-o", "format=pex", "-o", "target=//src/my_package:dist"],
            "no pex_binary target at //src/my_package:dist",
        ),
        ("src/greeting", ["-o", "format=pex"], "no pex_binary target under src/greeting; add pex_binary("),
    ],
)
def test_wrong_or_missing_targets_are_named_without_running_pants_again(pants_repo, pants_env, where, options, message):
    repo, _ = pants_repo
    proc = run_cli("build-wheel", "--builder", "pants", *options, str(repo / where), env=pants_env)
    assert message in error_line(proc)
    assert "running pants" not in proc.stderr  # the BUILD files did not change: Pants' answer is reused


def test_broken_build_file_is_one_line_naming_the_file(pants_env, tmp_path):
    repo = copy_project("pants_repo", tmp_path)
    (repo / "src" / "my_package" / "BUILD").write_text('python_sources(\n\npex_binary(name="app"\n')
    proc = run_cli("build-wheel", str(repo), "--builder", "pants", env=pants_env)
    line = error_line(proc)
    assert "src/my_package/BUILD has a syntax error" in line
    assert "SyntaxError: unexpected EOF while parsing (BUILD, line 3)" in line
    assert "failed (pants exit code 1)" in line


def test_repo_pants_script_is_used_and_a_missing_entry_point_names_the_fix(pants_cmd, pants_env, tmp_path):
    repo = copy_project("pants_repo", tmp_path)
    build = repo / "src" / "my_package" / "BUILD"
    build.write_text(
        build.read_text().replace('entry_points={"console_scripts": {"lakeflow-task": "my_package.main:main"}},', "")
    )
    # The repo's own ./pants launcher, with no Pants on PATH and no LAKEFLOW_PANTS.
    (repo / "pants").write_text(f'#!/bin/sh\nexec "{pants_cmd}" "$@"\n')
    (repo / "pants").chmod(0o755)
    env = {**pants_env, "LAKEFLOW_PANTS": "", "PATH": _path_without_pants()}
    proc = run_cli("build-wheel", str(repo), "--builder", "pants", env=env)
    line = error_line(proc)
    # The answer came from Pants (there is no other Pants than ./pants here).
    assert f"running pants --filter-target-type=python_distribution,pex_binary peek :: in {repo}" in proc.stderr
    assert "no python_distribution under the repo declares a lakeflow-task entry point" in line
    assert 'entry_points={"console_scripts": {"lakeflow-task": "my_package.main:main"}}' in line


def _path_without_pants() -> str:
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and not (Path(p) / "pants").exists())


def test_no_pants_anywhere_says_how_to_get_it(tmp_path):
    repo = copy_project("pants_repo", tmp_path)
    env = {"LAKEFLOW_PANTS": "", "PATH": _path_without_pants()}
    assert shutil.which("pants", path=env["PATH"]) is None
    line = error_line(run_cli("build-wheel", str(repo), "--builder", "pants", env=env))
    assert line.startswith("Error: Pants was not found; install Pants so that `pants` is on PATH")
    assert "add a ./pants script to the repo, or set LAKEFLOW_PANTS=/path/to/pants" in line

    bad = run_cli("build-wheel", str(repo), "--builder", "pants", env={"LAKEFLOW_PANTS": str(tmp_path / "nope")})
    assert f"LAKEFLOW_PANTS={tmp_path / 'nope'} is not an executable file" in error_line(bad)


def test_not_a_pants_repo_and_unknown_format_are_refused_before_pants_runs(tmp_path):
    project = copy_project("tasks", tmp_path)
    line = error_line(run_cli("build-wheel", str(project), "--builder", "pants", env={}))
    assert "is not inside a Pants repo (no pants.toml in it or above)" in line and "--builder uv" in line
    repo = copy_project("pants_repo", tmp_path)
    line = error_line(run_cli("build-wheel", str(repo), "--builder", "pants", "-o", "format=zip", env={}))
    assert "option 'format' of builder pants takes one of wheel, pex, not 'zip'" in line


def test_requirement_the_lockfile_does_not_satisfy_is_one_line(pants_repo, tmp_path):
    from lakeflow_pants_builder import lockfile

    repo, _ = pants_repo
    built = repo.parent / "out" / WHEEL
    wheel = tmp_path / WHEEL  # the requirement moved on and nobody ran generate-lockfiles
    with zipfile.ZipFile(built) as src, zipfile.ZipFile(wheel, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".dist-info/METADATA"):
                data = data.replace(b"Requires-Dist: six\n", b"Requires-Dist: six>=1.17\n")
            dst.writestr(info, data)
    lock = repo / "3rdparty" / "python" / "default.lock"
    assert lockfile.pins("python-default", lock, [built], {"greeting", "my-package"}) == "six==1.16.0\n"
    with pytest.raises(lf.LakeflowError) as caught:
        lockfile.pins("python-default", lock, [wheel], {"greeting", "my-package"})
    assert str(caught.value) == (
        "the Pants lockfile default.lock of resolve python-default is out of date; "
        "run `pants generate-lockfiles --resolve=python-default`"
    )
