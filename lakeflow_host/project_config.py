"""Project defaults: the ``[tool.lakeflow]`` table of a project's ``pyproject.toml``.

Precedence, as in uv and cargo: command-line flags (and API arguments), then environment
variables (``LAKEFLOW_TARGET``, ``LAKEFLOW_BUILDER``, an option's own variable), then this file,
then what lakeflow detects. Commands that take a project directory read its file; the others
read the nearest ``pyproject.toml`` from the current directory up.

.. code-block:: toml

    [tool.lakeflow]
    target = "local"
    job-name = "nightly-scoring"
    max-workers = 4
    env-vars = ["API_TOKEN"]

    [tool.lakeflow.options.uv]
    rebuild = true
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakeflow_host.errors import LakeflowError

#: Every key ``[tool.lakeflow]`` accepts.
KEYS = ("target", "builder", "job-name", "max-workers", "max-concurrent-runs", "env-vars", "options")


@dataclasses.dataclass(frozen=True)
class ProjectConfig:
    """What a project's ``[tool.lakeflow]`` sets; ``None`` (or empty) where it sets nothing."""

    path: Path | None = None
    target: str | None = None
    builder: str | None = None
    job_name: str | None = None
    max_workers: int | None = None
    max_concurrent_runs: int | None = None
    env_vars: tuple[str, ...] = ()
    #: ``-o`` defaults per builder or target name.
    options: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def options_for(self, name: str) -> dict[str, Any]:
        return dict(self.options.get(name, {}))


EMPTY = ProjectConfig()
_cache: dict[Path, tuple[float, ProjectConfig]] = {}


def find(start: str | Path | None = None) -> ProjectConfig:
    """The config of the project at ``start`` (a directory), or of the nearest ``pyproject.toml``
    from the current directory up when ``start`` is None."""
    if start is not None:
        path = Path(start).expanduser() / "pyproject.toml"
        return load(path) if path.is_file() else EMPTY
    here = Path.cwd()
    for folder in (here, *here.parents):
        path = folder / "pyproject.toml"
        if path.is_file():
            return load(path)
    return EMPTY


def load(path: Path) -> ProjectConfig:
    path = path.resolve()
    mtime = path.stat().st_mtime
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ProjectConfig(path)
    if not _may_have_table(text):
        # tomllib's import and parse are a tenth of a listing's start-up, and most projects
        # have no [tool.lakeflow] table at all.
        return ProjectConfig(path)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        # No defaults from a file that does not parse; the builder says what is wrong with it.
        return ProjectConfig(path)
    table = data.get("tool", {}).get("lakeflow", {})
    config = _parse(table, path) if table else ProjectConfig(path)
    _cache[path] = (mtime, config)
    return config


def _may_have_table(text: str) -> bool:
    """Whether ``text`` might define ``tool.lakeflow``: it has the key ``lakeflow`` (bare or
    quoted, before ``]``, ``.`` or ``=``) or a quoted key spelled with escapes. A file without
    either has no such table, whatever else it holds (``lakeflow-task = ...`` is another key).
    Plain string search: compiling a regex costs as much as the search saves."""
    if "\\u" in text or "\\U" in text:
        return True
    at = text.find("lakeflow")
    while at != -1:
        rest = text[at + len("lakeflow") :].lstrip("\"'").lstrip()
        if rest[:1] in ("]", ".", "="):
            return True
        at = text.find("lakeflow", at + 1)
    return False


def _parse(table: Any, path: Path) -> ProjectConfig:
    where = f"[tool.lakeflow] in {path}"
    if not isinstance(table, dict):
        raise LakeflowError(f"{where} must be a table; write [tool.lakeflow] with key = value lines")
    for key in table:
        if key not in KEYS:
            raise LakeflowError(f"unknown key {key!r} in {where}; known keys: {', '.join(KEYS)}")

    def text(key: str) -> str | None:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise LakeflowError(f'{key} in {where} must be a non-empty string, e.g. {key} = "name"')
        return value

    def count(key: str) -> int | None:
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise LakeflowError(f"{key} in {where} must be a whole number from 1, e.g. {key} = 4")
        return value

    env_vars = table.get("env-vars", [])
    if not isinstance(env_vars, list) or not all(isinstance(n, str) for n in env_vars):
        raise LakeflowError(f'env-vars in {where} must be a list of names, e.g. env-vars = ["API_TOKEN"]')
    options = table.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise LakeflowError(
            f"options in {where} must hold one table per target or builder, e.g. [tool.lakeflow.options.local]"
        )
    return ProjectConfig(
        path,
        text("target"),
        text("builder"),
        text("job-name"),
        count("max-workers"),
        count("max-concurrent-runs"),
        tuple(env_vars),
        {name: dict(values) for name, values in options.items()},
    )


def check_options(config: ProjectConfig, declared: Mapping[str, set[str]]) -> None:
    """Every ``[tool.lakeflow.options.NAME]`` names an installed builder or target and only
    keys it declares; ``declared`` maps each name to its option names."""
    for name, values in config.options.items():
        if name not in declared:
            raise LakeflowError(
                f"unknown table [tool.lakeflow.options.{name}] in {config.path}; "
                f"known builders and targets: {', '.join(sorted(declared))}"
            )
        for key in values:
            if key not in declared[name]:
                known = ", ".join(sorted(declared[name])) or "none"
                raise LakeflowError(
                    f"unknown option {key!r} in [tool.lakeflow.options.{name}] of {config.path}; known: {known}"
                )
