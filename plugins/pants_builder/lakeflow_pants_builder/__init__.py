"""The ``pants`` builder (experimental): ``pants package`` in a user's Pants monorepo.

``lakeflow build-wheel REPO --builder pants`` runs the user's own Pants (``$LAKEFLOW_PANTS``, the
repo's ``./pants``, or ``pants`` on PATH) on the ``python_distribution`` whose entry points include
``lakeflow-task``, found with ``pants peek``; the wheels of the first-party distributions it
requires travel with it as companions. ``-o format=pex`` packages a ``pex_binary`` instead, and
``-o target=ADDRESS`` names the target. Pants decides what to rebuild: it is always run.

Options (``-o key=value``): ``format`` = ``wheel`` (default) or ``pex``; ``target`` = a Pants address.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeflow_host import BuilderInfo, LakeflowError, Option, file_sha256, hookimpl, lazy_module, normalize_name

if TYPE_CHECKING:
    from lakeflow_host import Artifact
    from lakeflow_pants_builder.targets import Target

# Every lakeflow command loads this plugin; only a Pants build should pay for these.
pants = lazy_module("lakeflow_pants_builder.pants")
targets = lazy_module("lakeflow_pants_builder.targets")
lockfile = lazy_module("lakeflow_pants_builder.lockfile")

NAME = "pants"
STATE = ".lakeflow-pants.json"
FORMATS = ("wheel", "pex")
#: A requirement's name; a pattern, compiled (and cached by re) when a build first needs it.
_REQ_NAME = r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)"


OPTIONS = (
    Option(
        "format", "What to package: a python_distribution's wheel, or a pex_binary.", choices=FORMATS, default="wheel"
    ),
    Option("target", "The Pants address to package [default: the one declaring lakeflow-task]."),
)


@hookimpl
def builders() -> list[BuilderInfo]:
    return [BuilderInfo(NAME, OPTIONS, "pants package with your own Pants (experimental)")]


@hookimpl
def build_artifact(project_dir: Path, output_dir: Path | None, options: Mapping[str, Any]) -> Artifact:
    fmt = options["format"]
    root = pants.find_buildroot(project_dir)
    config = targets.pants_config(root)
    targets.check_version(config, root)
    pants_cmd = pants.find_pants(root)
    # Pants writes only inside the build root, so an --output-dir gets copies of its files.
    distdir = _configured_distdir(config, root)
    scope = project_dir.relative_to(root).as_posix() if project_dir != root else ""
    state_file = distdir / STATE
    skip = {distdir, (root / "dist").resolve()}
    key = targets.inputs_hash(root, config, skip, pants_cmd)
    found = targets.discover(pants_cmd, root, state_file, key, config, skip)
    state = _load_state(state_file)
    build = _build_pex if fmt == "pex" else _build_wheel
    artifact = build(pants_cmd, root, found, scope, options.get("target"), state, state_file)
    if artifact.kind == "wheel":
        artifact = _with_pins(artifact, config, root, found)
    return _copy_to(artifact, output_dir) if output_dir else artifact


def _copy_to(artifact: Artifact, output_dir: Path) -> Artifact:
    import shutil  # here and below: every lakeflow command loads this module, few build with Pants

    output_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in artifact.files:
        dest = output_dir / path.name
        if dest != path:
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            shutil.copyfile(path, tmp)
            os.replace(tmp, dest)
        copies.append(dest)
    count = 1 + len(artifact.companions)
    return dataclasses.replace(
        artifact,
        path=copies[0],
        companions=tuple(copies[1:count]),
        requirements=copies[count] if artifact.requirements else None,
    )


def _with_pins(artifact: Artifact, config: Mapping[str, Any], root: Path, found: list[Target]) -> Artifact:
    """The artifact with the resolve lockfile's pins beside its wheel, when the repo uses resolves."""
    located = lockfile.resolve_lockfile(config, root)
    if located is None:
        print(
            f"lakeflow: {root} uses no Pants resolve lockfile, so {artifact.package}'s dependencies are resolved "
            "at job creation (set [python] enable_resolves = true and run `pants generate-lockfiles` to pin them)",
            file=sys.stderr,
        )
        return artifact
    first_party = set(targets.dist_by_name(found))
    text = lockfile.pins(located[0], located[1], artifact.files, first_party)
    path = artifact.path.with_name(artifact.path.name + ".requirements.txt")
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
        artifact = dataclasses.replace(artifact, built=True)  # same wheel, new pins: a new artifact
    return dataclasses.replace(artifact, requirements=path)


def _configured_distdir(config: Mapping[str, Any], root: Path) -> Path:
    value = str(config.get("GLOBAL", {}).get("pants_distdir") or "dist")
    value = value.replace("%(buildroot)s", str(root)).replace("%(buildroot)", str(root))
    return (root / value).resolve()


def _package(pants_cmd: str, root: Path, addresses: list[str]) -> list[Path]:
    """``pants package`` on the addresses; returns the files Pants reports it wrote."""
    out, err_lines = pants.run(pants_cmd, root, ["package", *addresses], f"pants package {' '.join(addresses)}")
    if out.strip():
        sys.stderr.write(out)  # stdout is lakeflow's own: only the artifact path goes there
    written = pants.wrote_paths(err_lines, root)
    if not written:
        raise LakeflowError(
            f"pants package {' '.join(addresses)} reported no file written "
            "(no `Wrote ...` line); check that the targets build with `pants package`"
        )
    return written


# -- wheels -------------------------------------------------------------------------------------


def _wheel_for(target: Target, written: list[Path]) -> Path | None:
    name = normalize_name(target.dist_name or "")
    for path in written:
        if path.suffix == ".whl" and normalize_name(path.name.split("-")[0]) == name:
            return path
    return None


def _has_task_entry_point(wheel: Path) -> bool:
    import configparser
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt") and n.count("/") == 1]
        text = archive.read(names[0]).decode("utf-8", "replace") if names else ""
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return False
    return parser.has_option("console_scripts", targets.ENTRY_POINT)


def requirements(wheel: Path) -> set[str]:
    """The normalized names in a wheel's ``Requires-Dist`` lines."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        if not names:
            return set()
        text = archive.read(names[0]).decode("utf-8", "replace")
    found = set()
    for line in text.splitlines():
        if line.lower().startswith("requires-dist:"):
            match = re.match(_REQ_NAME, line.split(":", 1)[1])
            if match:
                found.add(normalize_name(match.group(1)))
    return found


def _build_wheel(
    pants_cmd: str,
    root: Path,
    found: list[Target],
    scope: str,
    address: str | None,
    state: dict[str, Any],
    state_file: Path,
) -> Artifact:
    main = targets.choose_wheel(found, scope, address)
    by_name = targets.dist_by_name(found)
    by_address = {t.address: t for t in found}
    previous = state.get(main.address, {})
    # Package last time's companions in the same Pants run as the main wheel: each extra run
    # costs Pants' start-up time again.
    to_build = [main.address, *(a for a in previous.get("companions", []) if a in by_address and a != main.address)]
    wheels: dict[str, Path] = {}
    while to_build:
        written = _package(pants_cmd, root, to_build)
        for addr in to_build:
            wheel = _wheel_for(by_address[addr], written)
            if wheel is None:
                raise LakeflowError(
                    f"pants package {addr} wrote no wheel ({', '.join(p.name for p in written)}); "
                    f"set wheel=True on that python_distribution"
                )
            wheels[addr] = wheel
        needed = _first_party_closure(main.address, wheels, by_name)
        to_build = sorted(needed - set(wheels))
    if not _has_task_entry_point(wheels[main.address]):
        raise LakeflowError(
            f"{wheels[main.address].name} (from {main.address}) declares no {targets.ENTRY_POINT} "
            f"console script; add [options.entry_points] console_scripts = {targets.ENTRY_POINT} = "
            f'"my_package.main:main" to its setup.py'
        )
    companions = sorted(_first_party_closure(main.address, wheels, by_name))
    files = [wheels[main.address], *(wheels[a] for a in companions)]
    built = _record(state, state_file, main.address, companions, files)
    wheel = wheels[main.address]
    from lakeflow_host import Artifact  # the result types load when first needed

    return Artifact(
        wheel,
        "wheel",
        main.dist_name or wheel.name.split("-")[0],
        wheel.name.split("-")[1],
        tuple(wheels[a] for a in companions),
        NAME,
        built=built,
    )


def _first_party_closure(main: str, wheels: dict[str, Path], by_name: dict[str, Target]) -> set[str]:
    """Addresses of the first-party distributions the main wheel requires, transitively.

    Pants turns a dependency on code owned by another ``python_distribution`` into a
    ``Requires-Dist`` on that distribution; its wheel exists nowhere but here, so it must travel.
    """
    needed: set[str] = set()
    frontier = [main]
    while frontier:
        addr = frontier.pop()
        if addr not in wheels:
            continue  # not built yet: the caller packages it, then asks again
        for name in requirements(wheels[addr]):
            dep = by_name.get(name)
            if dep and dep.address != main and dep.address not in needed:
                needed.add(dep.address)
                frontier.append(dep.address)
    return needed


# -- PEX ----------------------------------------------------------------------------------------


def _build_pex(
    pants_cmd: str,
    root: Path,
    found: list[Target],
    scope: str,
    address: str | None,
    state: dict[str, Any],
    state_file: Path,
) -> Artifact:
    pex, dist = targets.choose_pex(found, scope, address)
    written = _package(pants_cmd, root, [pex.address])
    files = [p for p in written if p.suffix == ".pex" and p.is_file()]
    if len(files) != 1:
        raise LakeflowError(
            f"pants package {pex.address} wrote {', '.join(str(p) for p in written)}, not one .pex file; lakeflow runs "
            "zipapp PEX files: drop layout=/output_path= settings that change that"
        )
    built = _record(state, state_file, pex.address, [], files)
    name = dist.dist_name if dist and dist.dist_name else pex.address.rsplit(":", 1)[-1]
    from lakeflow_host import Artifact  # the result types load when first needed

    return Artifact(files[0], "pex", name, dist.dist_version if dist else "", (), NAME, built=built)


# -- what the last build produced ------------------------------------------------------------------


def _load_state(state_file: Path) -> dict[str, Any]:
    try:
        builds = json.loads(state_file.read_text()).get("builds", {})
        return builds if isinstance(builds, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _record(state: dict[str, Any], state_file: Path, address: str, companions: list[str], files: list[Path]) -> bool:
    """Remember the build; returns whether its files differ from the previous build's.

    Pants' wheels and PEXes are reproducible, so the same bytes mean nothing changed.
    """
    hashes = {str(p): file_sha256(p) for p in files}
    built = state.get(address, {}).get("files") != hashes
    state[address] = {"companions": companions, "files": hashes}
    try:
        data = json.loads(state_file.read_text())
    except (OSError, ValueError):
        data = {}
    data["builds"] = state
    tmp = state_file.with_name(f".{state_file.name}.{os.getpid()}.tmp")  # concurrent builds: own file each
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, state_file)
    return built
