"""Content-addressed wheel uploads.

A cluster or serverless environment that already installed `pkg-0.1.0` keeps using it even when
a different wheel of the same name and version is uploaded (a known Databricks pain point; pip
ignores build tags). So each wheel gets a version that is unique per content, `0.1.0+lf<hash>`
(rewritten inside the wheel, as the Databricks CLI's `dynamic_version` does), and lives under a
directory named by the hash of everything uploaded together. Identical bytes are never sent twice.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lakeflow_databricks_target.pins import REQUIREMENTS
from lakeflow_databricks_target.shim import shim_wheel, zip_wheel
from lakeflow_host import LakeflowError, parse_wheel_name

#: Bump when the layout or the shim protocol changes, so old uploads are not reused.
LAYOUT_VERSION = "1"


@dataclass(frozen=True)
class Bundle:
    """The files to upload together: companions first, then the main wheel, then the shim."""

    digest: str  # names the remote directory
    files: tuple[tuple[str, bytes], ...]  # (file name, bytes)
    main: str
    companions: tuple[str, ...]
    shim: str


def bundle(main: Path, companions: tuple[Path, ...], package: str, requirements: Path | None = None) -> Bundle:
    """``requirements``, the pins from uv.lock, travel as ``requirements.txt`` and are part of the
    digest: a changed pin gives a new directory."""
    shim_name, shim_bytes = shim_wheel(package)
    outer = hashlib.sha256(f"lakeflow-layout {LAYOUT_VERSION}\0{shim_name}\0".encode())
    files = []
    for path in (*companions, main):
        name, data = versioned(path)
        files.append((name, data))
        outer.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    files.append((shim_name, shim_bytes))
    if requirements is not None:
        data = requirements.read_bytes()
        files.append((REQUIREMENTS, data))
        outer.update(REQUIREMENTS.encode() + b"\0" + hashlib.sha256(data).digest())
    return Bundle(
        outer.hexdigest()[:20],
        tuple(files),
        files[len(companions)][0],
        tuple(name for name, _ in files[: len(companions)]),
        shim_name,
    )


def versioned(path: Path) -> tuple[str, bytes]:
    """(file name, bytes) of the wheel at ``path`` with a version unique to its content."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LakeflowError(f"cannot read {path}: {exc.strerror}; rebuild with `lakeflow build-wheel`") from exc
    parse_wheel_name(path.name)  # a name that is not a wheel's is an error naming the fix
    if not zipfile.is_zipfile(path):
        raise LakeflowError(f"{path.name} is not a wheel; pass the .whl that `lakeflow build-wheel` printed")
    # The file's own spelling of name and version (a wheel name's fields never hold "-"): the
    # .dist-info folder inside is named with them.
    dist, version, rest = path.name.split("-", 2)
    if "+lf" in version or ".lf" in version:
        return path.name, data  # already ours (an upload of an earlier upload's file)
    tag = "lf" + hashlib.sha256(data).hexdigest()[:12]
    new_version = f"{version}.{tag}" if "+" in version else f"{version}+{tag}"
    old_prefix, new_prefix = f"{dist}-{version}.", f"{dist}-{new_version}."
    files: dict[str, str | bytes] = {}
    record_path = None
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            if name.startswith(old_prefix):  # the .dist-info and .data directories
                name = new_prefix + name[len(old_prefix) :]
            if name.endswith(".dist-info/RECORD"):
                record_path = name
                continue
            content = zf.read(info)
            if name.endswith(".dist-info/METADATA"):
                content = re.sub(rb"(?m)^Version: .*$", f"Version: {new_version}".encode(), content, count=1)
            files[name] = content
    if record_path is None:
        raise LakeflowError(f"{path.name} has no RECORD file, so it is not a valid wheel; rebuild it")
    return f"{dist}-{new_version}-{rest}", zip_wheel(files, record_path)
