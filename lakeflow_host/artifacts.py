"""Reading a built artifact back from a path the user gives (``lakeflow upload-wheel PATH``).

A build may yield more than one file (companion wheels of path dependencies). The host records
them in a small manifest beside the main file, ``<file>.lakeflow.json``, so that uploading by
path later still carries every file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from lakeflow_host.errors import LakeflowError
from lakeflow_host.tools import parse_wheel_name
from lakeflow_host.types import Artifact

MANIFEST_SUFFIX = ".lakeflow.json"


def manifest_path(main: Path) -> Path:
    return main.with_name(main.name + MANIFEST_SUFFIX)


def write_manifest(artifact: Artifact) -> None:
    data = {
        "kind": artifact.kind,
        "package": artifact.package,
        "version": artifact.version,
        "builder": artifact.builder,
        # Relative names keep the manifest valid when the dist folder is moved as a whole.
        "companions": [_relative(c, artifact.path.parent) for c in artifact.companions],
        "requirements": _relative(artifact.requirements, artifact.path.parent) if artifact.requirements else None,
    }
    manifest_path(artifact.path).write_text(json.dumps(data, indent=2) + "\n")


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def load_artifact(path: str | Path) -> Artifact:
    """The artifact whose main file is ``path``, with its companions if a build recorded them."""
    main = Path(path).expanduser().resolve()
    if not main.exists():
        raise LakeflowError(f"no such file: {path}; pass the path that `lakeflow build-wheel` printed")
    if main.is_dir():
        raise LakeflowError(
            f"{path} is a directory, not a wheel; pass the .whl file that `lakeflow build-wheel` printed"
        )
    kind = _kind_of(main)
    manifest = manifest_path(main)
    if manifest.exists():
        try:
            data = json.loads(manifest.read_text())
        except ValueError as exc:
            raise LakeflowError(
                f"{manifest} is not valid JSON ({exc}); delete it and run `lakeflow build-wheel` again"
            ) from exc
        companions = tuple((main.parent / c).resolve() for c in data.get("companions", []))
        for companion in companions:
            if not companion.exists():
                raise LakeflowError(
                    f"companion wheel {companion} listed in {manifest.name} is missing; run `lakeflow build-wheel` again"
                )
        requirements = (main.parent / data["requirements"]).resolve() if data.get("requirements") else None
        if requirements is not None and not requirements.is_file():
            raise LakeflowError(
                f"pinned requirements {requirements} listed in {manifest.name} are missing; run `lakeflow build-wheel` again"
            )
        return Artifact(
            main,
            kind,
            data["package"],
            data["version"],
            companions,
            data.get("builder", ""),
            built=False,
            requirements=requirements,
        )
    name, version = _name_version(main, kind)
    return Artifact(main, kind, name, version, (), "", built=False)


def _kind_of(path: Path) -> str:
    if path.suffix == ".whl":
        if not zipfile.is_zipfile(path):
            raise LakeflowError(f"{path} is not a valid wheel (not a zip file); rebuild it with `lakeflow build-wheel`")
        parse_wheel_name(path.name)  # a name that is not a wheel's is an error naming the fix
        return "wheel"
    if path.suffix == ".pex":
        return "pex"
    raise LakeflowError(
        f"{path} is not a wheel (.whl) or a PEX (.pex); pass the file that `lakeflow build-wheel` printed"
    )


def _name_version(path: Path, kind: str) -> tuple[str, str]:
    if kind == "wheel":
        return parse_wheel_name(path.name)
    return path.stem, ""
