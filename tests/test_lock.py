"""Locked runs: what runs is what uv.lock pins, the lock's checks, and the rebuild skip hash
(.gitignore, git submodules). Real uv, real builds, real runs on the local target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import copy_project

import lakeflow_host as lf

STALE = "uv.lock is out of date; run `uv lock`"


def _lines(log: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in log.splitlines() if "=" in line)


def test_local_run_installs_the_locked_versions(home, lakeflow, tmp_path):
    app = copy_project("locked", tmp_path) / "app"
    artifact = lf.build_wheel(app)
    # The lock pins six 1.16.0 and the path dependency's own iniconfig 2.0.0; newer ones exist.
    assert artifact.requirements is not None
    pins = artifact.requirements.read_text().split()
    assert "six==1.16.0" in pins and "iniconfig==2.0.0" in pins
    assert not any(p.startswith("locked-") for p in pins)  # path dependencies travel as wheels
    proc = lakeflow("launch", "--wait", str(app), "hi", timeout=300)
    log = lakeflow("get-run-logs", proc.stdout.split()[1]).stdout
    seen = _lines(log)
    assert seen["SIX"] == "1.16.0" and seen["HELPER_DEP"] == "2.0.0"
    assert "resolved at job creation" not in proc.stderr


def test_pins_travel_with_an_upload_by_path(home, lakeflow, tmp_path):
    app = copy_project("locked", tmp_path) / "app"
    wheel = json.loads(lakeflow("build-wheel", str(app), "--json").stdout)["path"]
    remote = lakeflow("upload-wheel", wheel).stdout.strip()
    assert (Path(remote).parent / "requirements.txt").read_text().split().count("six==1.16.0") == 1


def test_a_changed_pin_gives_a_new_artifact_path(home, lakeflow, tmp_path):
    app = copy_project("locked", tmp_path) / "app"
    first = lakeflow("upload-wheel", str(lf.build_wheel(app).path)).stdout.strip()
    subprocess.run(
        [lf.uv_binary(), "lock", "--project", str(app), "--upgrade-package", "six==1.15.0"],
        check=True,
        capture_output=True,
    )
    artifact = lf.build_wheel(app)
    assert artifact.built is True and "six==1.15.0" in artifact.requirements.read_text()
    second = lakeflow("upload-wheel", str(artifact.path)).stdout.strip()
    assert Path(second).parent != Path(first).parent


def test_stale_lock_is_one_line_and_builds_nothing(home, lakeflow, tmp_path):
    app = copy_project("locked", tmp_path) / "app"
    pyproject = app / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"six"]', '"six", "attrs"]'))
    proc = lakeflow("build-wheel", str(app), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"Error: {STALE}"
    assert not list((app / "dist").glob("*.whl"))


def test_a_project_without_a_lock_still_runs_and_says_so(home, lakeflow, tmp_path):
    project = copy_project("tasks", tmp_path)
    proc = lakeflow("launch", "--wait", str(project), "ok", timeout=300)
    assert "no uv.lock" in proc.stderr and "resolved at job creation" in proc.stderr
    assert lf.build_wheel(project).requirements is None


def test_ignored_files_do_not_rebuild_but_tracked_edits_do(home, tmp_path):
    project = copy_project("tasks", tmp_path)
    (project / ".gitignore").write_text("scratch/\n*.log\n")
    assert lf.build_wheel(project).built is True
    (project / "scratch").mkdir()
    (project / "scratch" / "notes.txt").write_text("stray")
    (project / "run.log").write_text("noise")
    assert lf.build_wheel(project).built is False
    # A deeper .gitignore re-includes what an outer one ignores, as in git.
    (project / "src" / ".gitignore").write_text("!kept.log\n")
    assert lf.build_wheel(project).built is True  # a new tracked file: the .gitignore itself
    (project / "src" / "kept.log").write_text("tracked")
    assert lf.build_wheel(project).built is True
    (project / "src" / "other.log").write_text("still ignored")
    assert lf.build_wheel(project).built is False
    task = project / "src" / "lakeflow_testtask" / "task.py"
    task.write_text(task.read_text() + "\n# edited\n")
    assert lf.build_wheel(project).built is True


def _git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args], cwd=cwd, check=True, capture_output=True, env=env
    )


def test_path_dependency_in_a_git_submodule_builds_travels_and_rebuilds(home, lakeflow, tmp_path):
    fixture = copy_project("locked", tmp_path / "src")
    shared = tmp_path / "shared-helper"  # the repository other repos share
    fixture.joinpath("helper").rename(shared)
    _git(shared, "init", "-q")
    _git(shared, "add", "-A")
    _git(shared, "commit", "-qm", "helper")
    parent = tmp_path / "parent"
    fixture.joinpath("app").rename(parent)
    (parent / ".gitignore").write_text("dist/\n")
    _git(parent, "init", "-q")
    _git(parent, "submodule", "add", "-q", str(shared), "helper")
    pyproject = parent / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('path = "../helper"', 'path = "helper"'))
    subprocess.run([lf.uv_binary(), "lock", "--project", str(parent)], check=True, capture_output=True)
    _git(parent, "add", "-A")
    _git(parent, "commit", "-qm", "app")

    artifact = lf.build_wheel(parent)
    assert [c.name for c in artifact.companions] == ["locked_helper-0.1.0-py3-none-any.whl"]
    assert "iniconfig==2.0.0" in artifact.requirements.read_text().split()
    assert lf.build_wheel(parent).built is False
    module = parent / "helper" / "src" / "locked_helper" / "__init__.py"
    module.write_text(
        module.read_text().replace("def dependency_version", "def _unused():\n    pass\n\n\ndef dependency_version")
    )
    assert lf.build_wheel(parent).built is True
    proc = lakeflow("launch", "--wait", str(parent), timeout=300)
    seen = _lines(lakeflow("get-run-logs", proc.stdout.split()[1]).stdout)
    assert seen["SIX"] == "1.16.0" and seen["HELPER_DEP"] == "2.0.0"


def test_requires_python_that_excludes_the_interpreter_is_one_line(home, lakeflow, tmp_path):
    project = copy_project("tasks", tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('requires-python = ">=3.10"', 'requires-python = ">=3.99"'))
    proc = lakeflow("launch", str(project), "x", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ") and ">=3.99" in error and sys.executable in error
    assert lakeflow("list-jobs", "--json").stdout.strip() in ("[]", "")


def test_workspace_root_lock_pins_a_member(home, tmp_path):
    root = tmp_path / "ws"
    (root / "packages" / "app" / "src" / "ws_app").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["packages/*"]\n')
    (root / "packages" / "app" / "pyproject.toml").write_text(
        '[project]\nname = "ws-app"\nversion = "1.0"\nrequires-python = ">=3.10"\ndependencies = ["six"]\n'
        '[project.scripts]\nlakeflow-task = "ws_app:main"\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )
    (root / "packages" / "app" / "src" / "ws_app" / "__init__.py").write_text("def main():\n    pass\n")
    subprocess.run(
        [lf.uv_binary(), "lock", "--project", str(root), "--upgrade-package", "six==1.16.0"],
        check=True,
        capture_output=True,
    )
    artifact = lf.build_wheel(root / "packages" / "app")
    assert artifact.requirements is not None and "six==1.16.0" in artifact.requirements.read_text().split()


def test_local_target_refuses_a_wheel_for_another_python_in_one_line(home, lakeflow, tmp_path):
    import zipfile

    built = lf.build_wheel(copy_project("tasks", tmp_path)).path
    wheel = tmp_path / built.name  # as if built on a machine with a newer Python
    with zipfile.ZipFile(built) as src, zipfile.ZipFile(wheel, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".dist-info/METADATA"):
                data = data.replace(b"Requires-Python: >=3.10", b"Requires-Python: >=3.99")
            dst.writestr(info, data)
    remote = lakeflow("upload-wheel", str(wheel)).stdout.strip()
    proc = lakeflow("create-job", "py", "lakeflow-testtask", remote, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("lakeflow: ")]
    assert len(errors) == 1 and errors[0].startswith("Error: ")
    assert "requires Python >=3.99" in errors[0] and sys.executable in errors[0]
    assert not (home / "envs").exists() or not list((home / "envs").iterdir())
