"""The architecture's walls, checked on the source: plugins use only the host's public names, and
the host never reaches into a plugin. A bundled plugin is then no more privileged than a
third-party one, and the host's internals can change without breaking plugins."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import lakeflow_host

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
PLUGINS = REPO / "plugins"
HOST = REPO / "lakeflow_host"
PLUGIN_PACKAGE = re.compile(r"^lakeflow_\w+_(builder|target)$")
PLUGIN_MODULE = re.compile(r"^lakeflow_\w+_(builder|target)(\.\w+)*$")


def plugin_packages() -> list[Path]:
    """Every bundled plugin's package: ``plugins/<dir>/<lakeflow_..._builder|target>/``."""
    return sorted(p for p in PLUGINS.glob("*/*") if p.is_dir() and (p / "__init__.py").is_file())


def imports(path: Path) -> Iterator[tuple[int, str, list[str], int]]:
    """(line, module, imported names, relative level) of every import in a file, including those
    under ``if TYPE_CHECKING:`` and inside functions."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, [], 0
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or "", [a.name for a in node.names], node.level


def test_there_are_bundled_plugins_to_check() -> None:
    names = {p.name for p in plugin_packages()}
    assert {"lakeflow_uv_builder", "lakeflow_local_target"} <= names
    for package in plugin_packages():
        assert PLUGIN_PACKAGE.match(package.name), f"{package}: name plugin packages lakeflow_<name>_builder|target"


@pytest.mark.parametrize("package", plugin_packages(), ids=lambda p: p.name)
def test_plugins_import_only_public_host_names(package: Path) -> None:
    public = set(lakeflow_host.__all__)
    problems = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(REPO)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, module, names, level in imports(path):
            top = module.split(".")[0]
            if level or top == package.name:
                continue  # its own package
            if top == "lakeflow_host":
                if module != "lakeflow_host":
                    problems.append(f"{where}:{line}: imports {module}; use `from lakeflow_host import ...`")
                problems += [
                    f"{where}:{line}: lakeflow_host.{n} is not public (not in __all__)"
                    for n in names
                    if n not in public
                ]
            elif top.startswith("lakeflow"):
                problems.append(f"{where}:{line}: imports {module}, which is not its own package")
        # `import lakeflow_host` then `lakeflow_host.api.x` would dodge the check above.
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "lakeflow_host"
                and node.attr not in public
            ):
                problems.append(f"{where}:{node.lineno}: lakeflow_host.{node.attr} is not public")
    assert not problems, "\n".join(problems)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared_distributions() -> set[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return {_normal(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0]) for req in data["project"]["dependencies"]}


def _extra_distributions() -> set[str]:
    """What the optional extras (except ``test``) bring, e.g. ``ray`` from ``[ray]``."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    extras = {k: v for k, v in data["project"].get("optional-dependencies", {}).items() if k != "test"}
    return {_normal(re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0]) for reqs in extras.values() for req in reqs}


def _module_level_import_lines(path: Path) -> set[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return {node.lineno for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))}


@pytest.mark.parametrize("package", plugin_packages(), ids=lambda p: p.name)
def test_plugins_import_only_declared_libraries(package: Path) -> None:
    """A third-party library a plugin imports must be a declared dependency of lakeflow-host, or
    ``pip install .`` on a fresh machine gives a plugin that fails to load. A library of an
    optional extra (``pip install 'lakeflow-host[ray]'``) may be imported only inside functions,
    so that the plugin loads without it."""
    declared = _declared_distributions()
    optional = _extra_distributions()
    providers = metadata.packages_distributions()
    problems = []
    for path in sorted(package.rglob("*.py")):
        top_level = _module_level_import_lines(path)
        for line, module, _names, level in imports(path):
            top = module.split(".")[0]
            if level or not top or top in sys.stdlib_module_names or top.startswith("lakeflow"):
                continue
            # The import name itself counts too: `tomli` is declared only for Python 3.10, so it
            # may be absent here.
            dists = {_normal(d) for d in providers.get(top, [])} | {_normal(top)}
            if dists & optional and line not in top_level:
                continue
            if not dists & declared:
                problems.append(
                    f"{path.relative_to(REPO)}:{line}: imports {top} (provided by "
                    f"{sorted(dists)}), which is not in [project] dependencies"
                )
    assert not problems, "\n".join(problems)


def test_host_never_imports_a_plugin() -> None:
    problems = []
    for path in sorted(HOST.rglob("*.py")):
        where = path.relative_to(REPO)
        for line, module, _names, _level in imports(path):
            if PLUGIN_MODULE.match(module) or module.startswith("plugins"):
                problems.append(f"{where}:{line}: imports {module}")
        # importlib.import_module("lakeflow_uv_builder") would be the same thing by another road.
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and PLUGIN_MODULE.match(node.value):
                problems.append(f"{where}:{node.lineno}: names the plugin module {node.value!r}")
    assert not problems, "\n".join(problems)


def test_bundled_plugins_are_entry_points_and_packaged() -> None:
    """Bundled plugins travel the third-party road: an entry point in the ``lakeflow`` group and
    a package in the wheel. A plugin folder missing from either is never loaded after install."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    entry_points = set(data["project"]["entry-points"]["lakeflow"].values())
    packaged = set(data["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    for package in plugin_packages():
        assert package.name in entry_points, f"{package.name} has no entry point in [project.entry-points.lakeflow]"
        assert str(package.relative_to(REPO)) in packaged, f"{package.relative_to(REPO)} is not in the wheel's packages"
    installed = {ep.value for ep in metadata.entry_points(group="lakeflow")}
    assert {p.name for p in plugin_packages()} <= installed, "reinstall: pip install -e '.[test]'"
