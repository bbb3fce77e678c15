"""The uv builder: real `uv build` on fixture projects, path dependencies, caching, and its checks."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from support import copy_project

import lakeflow_host as lf


def test_path_dependency_travels_as_a_wheel_and_is_installed_from_it(home, lakeflow, tmp_path):
    app = copy_project("pathdep", tmp_path) / "app"
    artifact = lf.build_wheel(app)
    assert artifact.package == "pathdep-app" and artifact.path.name.startswith("pathdep_app-1.0.0")
    assert [c.name for c in artifact.companions] == ["pathdep_helper-0.3.0-py3-none-any.whl"]
    remote = lakeflow("upload-wheel", str(artifact.path), "--json")
    companions = json.loads(remote.stdout)["companions"]
    assert [Path(c).name for c in companions] == ["pathdep_helper-0.3.0-py3-none-any.whl"]

    proc = lakeflow("launch", "--wait", str(app), "world", timeout=300)
    run_id = proc.stdout.split()[1]
    log = lakeflow("get-run-logs", run_id).stdout
    assert "helper says hello to world" in log
    assert "SIX=1.16.0" in log  # the PyPI dependency
    helper_file = next(line for line in log.splitlines() if line.startswith("HELPER_FILE="))
    assert str(home / "envs") in helper_file and "site-packages" in helper_file
    assert str(tmp_path / "pathdep") not in helper_file
    # uv records where it installed the helper from: the uploaded wheel, not an index.
    direct_url = next(
        (home / "envs").glob("*/lib/python*/site-packages/pathdep_helper-0.3.0.dist-info/direct_url.json")
    )
    source = json.loads(direct_url.read_text())["url"]
    assert source.startswith("file://") and str(home / "artifacts") in source


def test_workspace_member_dependency_is_built_too(home, tmp_path):
    root = tmp_path / "ws"
    (root / "packages" / "lib" / "src" / "ws_lib").mkdir(parents=True)
    (root / "packages" / "app" / "src" / "ws_app").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["packages/*"]\n')
    build = '\n[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    (root / "packages" / "lib" / "pyproject.toml").write_text(
        '[project]\nname = "ws-lib"\nversion = "2.0"\nrequires-python = ">=3.10"\n' + build
    )
    (root / "packages" / "lib" / "src" / "ws_lib" / "__init__.py").write_text("")
    (root / "packages" / "app" / "pyproject.toml").write_text(
        textwrap.dedent("""\
        [project]
        name = "ws-app"
        version = "1.0"
        dependencies = ["ws-lib"]
        [project.scripts]
        lakeflow-task = "ws_app:main"
        [tool.uv.sources]
        ws-lib = { workspace = true }
        """)
        + build
    )
    (root / "packages" / "app" / "src" / "ws_app" / "__init__.py").write_text("def main():\n    import ws_lib\n")
    artifact = lf.build_wheel(root / "packages" / "app")
    assert [c.name for c in artifact.companions] == ["ws_lib-2.0-py3-none-any.whl"]


def test_unchanged_sources_are_not_rebuilt(home, lakeflow, tmp_path):
    project = copy_project("tasks", tmp_path)
    first = lakeflow("build-wheel", str(project), "--json")
    wheel = Path(json.loads(first.stdout)["path"])
    assert json.loads(first.stdout)["built"] is True
    mtime = wheel.stat().st_mtime_ns
    second = lakeflow("build-wheel", str(project), "--json")
    assert json.loads(second.stdout)["built"] is False and wheel.stat().st_mtime_ns == mtime
    assert "unchanged" in lakeflow("build-wheel", str(project)).stderr
    task = project / "src" / "lakeflow_testtask" / "task.py"
    task.write_text(task.read_text() + "\n# changed\n")
    third = lakeflow("build-wheel", str(project), "--json")
    assert json.loads(third.stdout)["built"] is True


def _project(tmp_path: Path, pyproject: str | None) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    if pyproject is not None:
        (project / "pyproject.toml").write_text(pyproject)
    return project


ENTRY = '[project.scripts]\nlakeflow-task = "proj:main"\n'


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        (None, "has no pyproject.toml"),
        ("[project\nname = 'x'", "does not parse"),
        ('[project]\nversion = "1"\n', "has no [project] name"),
        ('[project]\nname = "proj"\nversion = "1"\n', "declares no lakeflow-task entry point; add [project.scripts]"),
    ],
    ids=["no-pyproject", "unparsable", "no-name", "no-entry-point"],
)
def test_project_checks_fail_before_building_with_the_fix(home, lakeflow, tmp_path, pyproject, expected):
    project = _project(tmp_path, pyproject)
    proc = lakeflow("build-wheel", str(project), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: ") and expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (project / "dist").exists() or not list((project / "dist").glob("*.whl"))


def test_failing_build_shows_the_tail_of_uvs_error(home, lakeflow, tmp_path):
    project = _project(
        tmp_path,
        '[project]\nname = "proj"\nversion = "1"\n'
        + ENTRY
        + '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        + '[tool.hatch.build.targets.wheel]\npackages = "src/does_not_exist"\n',
    )
    proc = lakeflow("build-wheel", str(project), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "uv build failed for proj" in proc.stderr
    assert "TypeError: Field `tool.hatch.build.targets.wheel.packages` must be an array of strings" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_path_dependency_names_the_fix(home, tmp_path):
    app = copy_project("pathdep", tmp_path) / "app"
    os.rename(tmp_path / "pathdep" / "helper", tmp_path / "pathdep" / "gone")
    with pytest.raises(lf.LakeflowError, match=r"path dependency pathdep-helper .* does not exist; fix \[tool.uv"):
        lf.build_wheel(app)
