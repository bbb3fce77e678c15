"""Reading a project's pyproject.toml: the checks before a build, and its local path dependencies."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from lakeflow_host import TASK_ENTRY_POINT, LakeflowError, normalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENTRY_POINT = TASK_ENTRY_POINT
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclasses.dataclass(frozen=True)
class Project:
    root: Path
    name: str
    data: dict[str, Any]

    @property
    def dependency_names(self) -> set[str]:
        deps = self.data.get("project", {}).get("dependencies", []) or []
        names = set()
        for dep in deps:
            match = _REQ_NAME.match(dep)
            if match:
                names.add(normalize_name(match.group(1)))
        return names


def read_pyproject(directory: Path) -> dict[str, Any]:
    path = directory / "pyproject.toml"
    if not path.is_file():
        raise LakeflowError(f"{directory} has no pyproject.toml; create one with a [project] table (see `uv init`)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LakeflowError(f"{path} does not parse: {exc}; fix the TOML syntax") from exc


def load_project(directory: Path, *, need_entry_point: bool) -> Project:
    """The project at ``directory``, checked; ``need_entry_point`` for the one being launched."""
    if not directory.is_dir():
        raise LakeflowError(f"project directory {directory} does not exist; pass the folder holding pyproject.toml")
    data = read_pyproject(directory)
    name = data.get("project", {}).get("name")
    if not isinstance(name, str) or not name.strip():
        raise LakeflowError(f'{directory / "pyproject.toml"} has no [project] name; add name = "my-package"')
    if need_entry_point:
        scripts = data.get("project", {}).get("scripts", {}) or {}
        if ENTRY_POINT not in scripts:
            raise LakeflowError(
                f"{directory / 'pyproject.toml'} declares no {ENTRY_POINT} entry point; add "
                f'[project.scripts] {ENTRY_POINT} = "your_module:main"'
            )
    return Project(directory, name, data)


def workspace_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` declaring ``[tool.uv.workspace]``."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            data = read_pyproject(directory)
            if "workspace" in data.get("tool", {}).get("uv", {}):
                return directory
    return None


def _workspace_member(root: Path, name: str) -> Path | None:
    workspace = read_pyproject(root)["tool"]["uv"]["workspace"]
    excluded = {p.resolve() for pattern in workspace.get("exclude", []) for p in root.glob(pattern)}
    for pattern in workspace.get("members", []):
        for member in sorted(root.glob(pattern)):
            if member.resolve() in excluded or not (member / "pyproject.toml").is_file():
                continue
            member_name = read_pyproject(member).get("project", {}).get("name", "")
            if normalize_name(member_name) == normalize_name(name):
                return member.resolve()
    return None


def path_dependencies(project: Project) -> list[Project]:
    """Every local package ``project`` depends on through ``[tool.uv.sources]`` (path or
    workspace), transitively, each once, dependencies before dependents."""
    found: dict[Path, Project] = {}

    def visit(current: Project, chain: tuple[Path, ...]) -> None:
        sources = current.data.get("tool", {}).get("uv", {}).get("sources", {}) or {}
        wanted = current.dependency_names
        for dep_name, source in sources.items():
            if normalize_name(dep_name) not in wanted or not isinstance(source, dict):
                continue
            if "path" in source:
                location = (current.root / source["path"]).resolve()
                if location.suffix in (".whl", ".gz", ".zip"):
                    continue  # a ready-made archive: uv installs it as it is
            elif source.get("workspace"):
                root = workspace_root(current.root)
                location = _workspace_member(root, dep_name) if root else None
                if location is None:
                    raise LakeflowError(
                        f"{dep_name} is a workspace dependency of {current.name} but no workspace member has "
                        "that name; add it to [tool.uv.workspace] members"
                    )
            else:
                continue
            if location in chain or location == project.root:
                continue
            if not location.is_dir():
                raise LakeflowError(
                    f"path dependency {dep_name} of {current.name} points to {location}, which does not exist; "
                    "fix [tool.uv.sources] (for a git submodule, run `git submodule update --init`)"
                )
            if location not in found:
                dep = load_project(location, need_entry_point=False)
                visit(dep, (*chain, location))
                found[location] = dep

    visit(project, (project.root,))
    return list(found.values())
