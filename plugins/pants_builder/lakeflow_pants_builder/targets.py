"""Which Pants targets to package: asked of Pants (``peek``), remembered while BUILD files stay the same.

Every Pants run pays a fixed start-up cost (about 12 s without pantsd), so the answer of
``pants peek`` is cached under a hash of what can change it: pants.toml and the BUILD files.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lakeflow_host import TASK_ENTRY_POINT, LakeflowError, normalize_name
from lakeflow_pants_builder import pants

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENTRY_POINT = TASK_ENTRY_POINT
DIST = "python_distribution"
PEX = "pex_binary"
_DEFAULT_BUILD_PATTERNS = ("BUILD", "BUILD.*")
_LIST_HINT = "`pants list --filter-target-type={kind} ::` lists them"
_EXAMPLE = f'entry_points={{"console_scripts": {{"{ENTRY_POINT}": "my_package.main:main"}}}}'


@dataclasses.dataclass(frozen=True)
class Target:
    """One ``python_distribution`` or ``pex_binary`` as ``pants peek`` describes it."""

    address: str
    kind: str
    data: Mapping[str, Any]

    @property
    def directory(self) -> str:
        return self.address.split(":", 1)[0].lstrip("/")

    @property
    def task_entry_point(self) -> str | None:
        """The ``lakeflow-task`` console script of a distribution (``module:function``)."""
        groups = self.data.get("entry_points") or {}
        scripts = groups.get("console_scripts") or {}
        value = scripts.get(ENTRY_POINT)
        return value if isinstance(value, str) else None

    @property
    def dist_name(self) -> str | None:
        provides = self.data.get("provides")
        return provides.get("name") if isinstance(provides, dict) else None

    @property
    def dist_version(self) -> str:
        provides = self.data.get("provides")
        return str(provides.get("version", "")) if isinstance(provides, dict) else ""

    @property
    def pex_entry_point(self) -> str | None:
        """A PEX's entry point as ``module:function``, or ``lakeflow-task`` for ``script=...``."""
        if self.data.get("script"):
            return str(self.data["script"])
        entry = self.data.get("entry_point")
        if isinstance(entry, dict) and entry.get("module"):
            return f"{entry['module']}:{entry['function']}" if entry.get("function") else entry["module"]
        return entry if isinstance(entry, str) else None


def pants_config(buildroot: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((buildroot / "pants.toml").read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LakeflowError(f"{buildroot / 'pants.toml'} does not parse: {exc}; fix the TOML syntax") from exc


def check_version(config: Mapping[str, Any], buildroot: Path) -> None:
    """Refuse Pants 1.x early: it has no ``peek`` and no target-type filter."""
    version = str(config.get("GLOBAL", {}).get("pants_version", ""))
    match = re.match(r"(\d+)\.", version)
    if match and int(match.group(1)) < 2:
        raise LakeflowError(
            f"{buildroot / 'pants.toml'} pins Pants {version}; the pants builder needs Pants 2.x: upgrade pants_version"
        )


def build_files(buildroot: Path, config: Mapping[str, Any], skip: set[Path]) -> Iterator[Path]:
    """Every BUILD file of the repo, in a stable order."""
    patterns = config.get("GLOBAL", {}).get("build_patterns") or _DEFAULT_BUILD_PATTERNS
    for directory, dirnames, filenames in os.walk(buildroot):
        here = Path(directory)
        # Pants ignores dot-directories by default; dist and the output folder hold no BUILD files.
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and d != "node_modules" and (here / d).resolve() not in skip
        )
        for filename in sorted(filenames):
            if any(fnmatch.fnmatchcase(filename, p) for p in patterns) and (here / filename).is_file():
                yield here / filename


def inputs_hash(buildroot: Path, config: Mapping[str, Any], skip: set[Path], pants_cmd: str) -> str:
    """A hash of everything that decides which targets exist: pants.toml and every BUILD file."""
    digest = hashlib.sha256(f"{pants_cmd}\0".encode())
    digest.update((buildroot / "pants.toml").read_bytes())
    for path in build_files(buildroot, config, skip):
        digest.update(f"{path.relative_to(buildroot)}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _unparsable_build_file(buildroot: Path, config: Mapping[str, Any], skip: set[Path]) -> Path | None:
    for path in build_files(buildroot, config, skip):
        try:
            compile(path.read_bytes(), str(path), "exec")
        except (SyntaxError, ValueError):
            return path.relative_to(buildroot)
    return None


def discover(
    pants_cmd: str, buildroot: Path, cache: Path, key: str, config: Mapping[str, Any], skip: set[Path]
) -> list[Target]:
    """Every ``python_distribution`` and ``pex_binary`` in the repo, from ``pants peek`` or the cache."""
    try:
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return [Target(t["address"], t["target_type"], t) for t in cached["targets"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        cached = {}
    # The whole repo, not only the project's folder: companion distributions may live anywhere.
    try:
        out, _ = pants.run(
            pants_cmd,
            buildroot,
            [f"--filter-target-type={DIST},{PEX}", "peek", "::"],
            "pants peek (looking for python_distribution and pex_binary targets)",
        )
    except LakeflowError as exc:
        broken = _unparsable_build_file(buildroot, config, skip) if "SyntaxError" in str(exc) else None
        if broken:  # Pants 2.17 names only "BUILD", not which one
            raise LakeflowError(f"{broken} has a syntax error; {exc}") from None
        raise

    try:
        records = json.loads(out or "[]")
    except ValueError as exc:
        raise LakeflowError(f"pants peek printed no JSON ({exc}); the pants builder needs Pants 2.x") from exc
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    # What earlier builds produced stays: it saves Pants runs for companion wheels (see __init__).
    builds = cached.get("builds", {}) if isinstance(cached, dict) else {}
    tmp.write_text(json.dumps({"key": key, "targets": records, "builds": builds}, indent=1) + "\n")
    os.replace(tmp, cache)
    return [Target(r["address"], r["target_type"], r) for r in records]


def _normalize_address(address: str) -> str:
    address = address.strip().lstrip("/")
    return address


def _matches(target: Target, address: str) -> bool:
    # `src/pkg` is the target named after its folder, `src/pkg:pkg`.
    if target.address == address:
        return True
    directory = address.split(":", 1)[0]
    return ":" not in address and target.address == f"{directory}:{directory.rsplit('/', 1)[-1]}"


def _in_scope(target: Target, scope: str) -> bool:
    return not scope or target.directory == scope or target.directory.startswith(scope + "/")


def _one(found: list[Target], what: str, scope: str) -> Target:
    if len(found) > 1:
        names = ", ".join(t.address for t in found)
        raise LakeflowError(
            f"several {what} under {scope or 'the repo'} ({names}); choose one with -o target=ADDRESS "
            "or pass its folder as the project directory"
        )
    return found[0]


def choose_wheel(targets: list[Target], scope: str, address: str | None) -> Target:
    """The ``python_distribution`` to package: the given address, else the one declaring ``lakeflow-task``."""
    dists = [t for t in targets if t.kind == DIST]
    if address:
        wanted = _normalize_address(address)
        found = [t for t in dists if _matches(t, wanted)]
        if not found:
            raise LakeflowError(f"no python_distribution target at {address}; {_LIST_HINT.format(kind=DIST)}")
        # With generate_setup=False the entry points live in the user's setup.py, where peek
        # cannot see them: the built wheel is checked instead.
        if not found[0].task_entry_point and found[0].data.get("generate_setup") is not False:
            raise LakeflowError(
                f"python_distribution {found[0].address} declares no {ENTRY_POINT} entry point; add {_EXAMPLE} to it"
            )
        return found[0]
    tasks = [t for t in dists if _in_scope(t, scope) and t.task_entry_point]
    if not tasks:
        raise LakeflowError(
            f"no python_distribution under {scope or 'the repo'} declares a {ENTRY_POINT} entry point; add "
            f"{_EXAMPLE} to one in a BUILD file, or pass -o target=ADDRESS"
        )
    return _one(tasks, f"python_distribution targets declare {ENTRY_POINT}", scope)


def choose_pex(targets: list[Target], scope: str, address: str | None) -> tuple[Target, Target | None]:
    """The ``pex_binary`` to package, and the distribution whose ``lakeflow-task`` it runs, if any.

    Without an address: the PEX whose entry point is a ``lakeflow-task`` entry point (or
    ``script="lakeflow-task"``), else the only ``pex_binary`` in scope.
    """
    pexes = [t for t in targets if t.kind == PEX]
    tasks = {t.task_entry_point: t for t in targets if t.kind == DIST and t.task_entry_point}
    if address:
        wanted = _normalize_address(address)
        found = [t for t in pexes if _matches(t, wanted)]
        if not found:
            raise LakeflowError(f"no pex_binary target at {address}; {_LIST_HINT.format(kind=PEX)}")
        return found[0], tasks.get(found[0].pex_entry_point)
    in_scope = [t for t in pexes if _in_scope(t, scope)]
    matching = [t for t in in_scope if t.pex_entry_point in tasks or t.pex_entry_point == ENTRY_POINT]
    if matching:
        chosen = _one(matching, f"pex_binary targets run {ENTRY_POINT}", scope)
        return chosen, tasks.get(chosen.pex_entry_point)
    if len(in_scope) == 1:
        return in_scope[0], None
    if not in_scope:
        raise LakeflowError(
            f'no pex_binary target under {scope or "the repo"}; add pex_binary(name="app", '
            f'entry_point="my_package.main:main") to a BUILD file, or drop -o format=pex to build a wheel'
        )
    return _one(in_scope, "pex_binary targets", scope), None


def dist_by_name(targets: list[Target]) -> dict[str, Target]:
    """First-party distributions by normalized project name, to recognise companion wheels."""
    return {normalize_name(t.dist_name): t for t in targets if t.kind == DIST and t.dist_name}
