"""External programs the host and its plugins share."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from lakeflow_host.errors import LakeflowError


def uv_binary() -> str:
    """The uv executable: the one the PyPI ``uv`` package ships, else one on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        import shutil

        found = shutil.which("uv")
        if not found:
            raise LakeflowError(
                "the uv binary was not found; run `pip install uv` (lakeflow-host depends on it)"
            ) from None
        return found


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks (wheels and PEX files can be large)."""
    import hashlib  # here: plugins import this module at every start, and few of them hash

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _LazyModule:
    """Stands in for a module until one of its names is used.

    Not :class:`importlib.util.LazyLoader`: pluggy's registration looks at every attribute of a
    plugin (``isinstance`` reads ``__class__``), which would load such a module at once.
    """

    def __init__(self, name: str) -> None:
        self.__dict__["_lazy_name"] = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__dict__["_lazy_name"]), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_lazy_name']!r}>"


def lazy_module(name: str) -> Any:
    """Module ``name``, imported when one of its names is first used instead of now.

    Every command loads every plugin to learn its builder and target names, so a plugin keeps
    its heavy submodules behind this: ``jobs = lazy_module("my_plugin.jobs")``.
    """
    return _LazyModule(name)


#: The console-script name every project declares and every run executes.
TASK_ENTRY_POINT = "lakeflow-task"

HOME_ENV = "LAKEFLOW_HOME"


def normalize_name(name: str) -> str:
    """A distribution name in PEP 503 form (``My_Pkg.x`` -> ``my-pkg-x``), for comparing names."""
    from packaging.utils import canonicalize_name  # packaging is installed with hatchling

    return str(canonicalize_name(name))


def parse_wheel_name(filename: str) -> tuple[str, str]:
    """``(distribution, version)`` from a wheel file name; a name that is not a wheel's is an
    error naming the fix."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        name, version, _build, _tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        raise LakeflowError(
            f"{filename} is not a wheel file name (NAME-VERSION-PY-ABI-PLATFORM.whl); rebuild it with "
            "`lakeflow build-wheel`"
        ) from None
    return str(name), str(version)


def lakeflow_home() -> Path:
    """Where lakeflow keeps state on this machine: ``$LAKEFLOW_HOME``, else the per-user data
    directory (``$XDG_DATA_HOME/lakeflow``, default ``~/.local/share/lakeflow``)."""
    import os

    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser().absolute()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "lakeflow"


def atomic_write(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Write ``path`` whole or not at all, with ``mode`` whatever the umask: a reader (or a
    process killed mid-write) never sees half a file."""
    import os
    import tempfile

    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def wheel_task_entry_point(wheel: Path) -> str:
    """The wheel's own ``lakeflow-task`` console script, as ``module:function``; a wheel without
    one is an error naming the fix."""
    import configparser
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser(delimiters=("=",))
        if names:
            parser.read_string(archive.read(names[0]).decode("utf-8"))
    if not parser.has_option("console_scripts", TASK_ENTRY_POINT):
        raise LakeflowError(
            f"{wheel.name} declares no {TASK_ENTRY_POINT} entry point; add [project.scripts] "
            f'{TASK_ENTRY_POINT} = "your_module:main" to pyproject.toml and rebuild'
        )
    # "module:function [extra]": extras matter only to installers.
    return parser.get("console_scripts", TASK_ENTRY_POINT).split("[")[0].strip()
