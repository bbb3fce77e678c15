"""A Pants resolve's lockfile, honoured like ``uv.lock``: the versions it locks for the wheel's
third-party requirements (transitively) travel as ``<main wheel>.requirements.txt``.

Pants writes the lockfile ``pants generate-lockfiles`` makes: ``//`` comment lines (its metadata),
then a Pex lock in JSON whose ``locked_resolves[].locked_requirements[]`` hold ``project_name``,
``version`` and ``requires_dists``. lakeflow reads the resolve named by ``[python].default_resolve``
(Pants' default ``python-default``), the one a distribution uses unless its sources set another.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lakeflow_host import LakeflowError

#: Pants' own defaults for [python] resolves (2.17: docs of `[python].resolves`).
DEFAULT_RESOLVE = "python-default"
DEFAULT_LOCKFILE = "3rdparty/python/default.lock"


def resolve_lockfile(config: Mapping[str, Any], root: Path) -> tuple[str, Path] | None:
    """(resolve name, lockfile) when the repo uses resolves; None when Pants resolves at build time."""
    python = config.get("python", {}) or {}
    if not python.get("enable_resolves"):
        return None
    name = str(python.get("default_resolve") or DEFAULT_RESOLVE)
    resolves = python.get("resolves") or {DEFAULT_RESOLVE: DEFAULT_LOCKFILE}
    if name not in resolves:
        return None
    value = str(resolves[name]).replace("%(buildroot)s", str(root))
    path = (root / value).resolve()
    return (name, path) if path.is_file() else None


def _locked(lockfile: Path) -> dict[str, tuple[str, list[str]]]:
    text = "\n".join(line for line in lockfile.read_text(encoding="utf-8").splitlines() if not line.startswith("//"))
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LakeflowError(f"{lockfile} is not a Pants lockfile ({exc}); run `pants generate-lockfiles`") from exc
    found: dict[str, tuple[str, list[str]]] = {}
    for resolve in data.get("locked_resolves", []):
        for req in resolve.get("locked_requirements", []):
            found[_norm(req["project_name"])] = (req["version"], list(req.get("requires_dists", [])))
    return found


def _norm(name: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def wheel_requirements(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` values of a wheel, as written."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        text = archive.read(names[0]).decode("utf-8", "replace") if names else ""
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.lower().startswith("requires-dist:")]


def pins(resolve: str, lockfile: Path, wheels: Iterable[Path], first_party: set[str]) -> str:
    """``name==version`` lines for every third-party package the wheels need, as the lock has them.

    A requirement the lock does not satisfy means the lockfile is older than the requirements.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    locked = _locked(lockfile)
    stale = (
        f"the Pants lockfile {lockfile.name} of resolve {resolve} is out of date; "
        f"run `pants generate-lockfiles --resolve={resolve}`"
    )
    markers: dict[str, str | None] = {}  # name -> the marker it is needed under (None: always)
    frontier: list[tuple[str, str | None]] = []
    for wheel in wheels:
        frontier += [(line, None) for line in wheel_requirements(wheel)]
    while frontier:
        line, inherited = frontier.pop()
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        marker = str(req.marker) if req.marker else None
        if marker and "extra" in marker:
            continue  # an optional extra nobody asked for
        name = _norm(req.name)
        if name in first_party:
            continue
        if name not in locked or not req.specifier.contains(locked[name][0], prereleases=True):
            raise LakeflowError(stale)
        needed_under = marker or inherited
        if name in markers and (markers[name] is None or markers[name] == needed_under):
            continue
        markers[name] = needed_under if name not in markers else None
        frontier += [(dep, markers[name]) for dep in locked[name][1]]
    return "".join(
        f"{name}=={locked[name][0]}" + (f" ; {markers[name]}" if markers[name] else "") + "\n"
        for name in sorted(markers)
    )
