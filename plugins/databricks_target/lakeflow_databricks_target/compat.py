"""Will these wheels install on the job's compute? Checked before anything is uploaded.

A cluster installs a wheel with pip, which refuses one whose Requires-Python excludes the
runtime's Python ("requires a different Python") or whose tags are not Linux/`any` ("not a
supported wheel on this platform"); the run then fails minutes later with a library
installation error (fact sheet RW-13). Python per runtime (RW-12, RW-15; Databricks release
notes and serverless environment versions):
  DBR 15.4 LTS: 3.11    DBR 16.4 LTS: 3.12    (17.3 LTS: 3.12, Scala 2.13 only)
  serverless environment 2: 3.11    3, 4 and 5: 3.12
When the user did not pin a runtime and the default does not fit, the newest one that fits is
chosen; when none fits, or the pinned one does not, the upload is refused in one line.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.parser import HeaderParser
from io import BytesIO
from typing import Any

from lakeflow_host import LakeflowError

DBR_PYTHON = {13: "3.10", 14: "3.10", 15: "3.11", 16: "3.12", 17: "3.12"}
ENV_PYTHON = {"1": "3.10", "2": "3.11", "3": "3.12", "4": "3.12", "5": "3.12"}
#: Long-term-support runtimes to fall back on, newest first (Scala 2.12 builds: 17.x has none).
LTS_RUNTIMES = ("16.4.x-scala2.12", "15.4.x-scala2.12")
ENVIRONMENTS = ("4", "3", "2")
_WHEEL = re.compile(r"^(?P<dist>[^-]+)-(?P<ver>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")


@dataclass(frozen=True)
class WheelInfo:
    name: str
    requires_python: str | None

    def problem(self, python: str) -> str | None:
        """Why pip on Linux with ``python`` (major.minor) would refuse this wheel, or None."""
        match = _WHEEL.match(self.name)
        if match is None:
            return f"{self.name} is not a wheel file name"
        plats, pys, abis = (set(match[k].split(".")) for k in ("plat", "py", "abi"))
        if not ("any" in plats or any(p.startswith(("manylinux", "linux_")) for p in plats)):
            return f"{self.name} is built for {match['plat']}, and Databricks compute runs Linux"
        minor = int(python.split(".")[1])
        if not any(_py_tag_fits(tag, minor, abis) for tag in pys):
            return f"{self.name} is built for {match['py']}, not Python {python}"
        if self.requires_python and not _admits(self.requires_python, python):
            return f"{self.name} requires Python {self.requires_python}, not {python}"
        return None


def _py_tag_fits(tag: str, minor: int, abis: set[str]) -> bool:
    if tag in ("py3", f"py3{minor}", f"cp3{minor}"):
        return True
    digits = tag[3:] if tag.startswith("cp3") else ""
    return digits.isdigit() and "abi3" in abis and int(digits) <= minor


def _admits(requires: str, python: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        # The newest patch release stands for the minor version, as on the runtime.
        return f"{python}.99" in SpecifierSet(requires) or f"{python}.0" in SpecifierSet(requires)
    except InvalidSpecifier:
        raise LakeflowError(
            f"Requires-Python {requires!r} is not a valid version specifier; fix it in pyproject.toml"
        ) from None


def inspect(name: str, data: bytes) -> WheelInfo:
    try:
        with zipfile.ZipFile(BytesIO(data)) as zf:
            meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
            text = zf.read(meta).decode("utf-8", "replace") if meta else ""
    except zipfile.BadZipFile:
        raise LakeflowError(f"{name} is not a valid wheel (not a zip file); rebuild it") from None
    return WheelInfo(name, HeaderParser().parsestr(text).get("Requires-Python") or None)


def python_of_spark_version(version: str) -> str | None:
    match = re.match(r"^(\d+)\.\d+\.", version)
    return DBR_PYTHON.get(int(match[1])) if match else None


def choose(wheels: Iterable[WheelInfo], options: Mapping[str, Any], serverless: bool, default: str) -> str | None:
    """The runtime (spark version, or serverless environment version) to use instead of
    ``default`` so that every wheel installs; None when the pinned or default one fits.
    Raises a one-line error when nothing fits."""
    wheels = list(wheels)
    key = "environment_version" if serverless else "spark_version"
    pinned = options.get(key) or None
    candidates = ENVIRONMENTS if serverless else LTS_RUNTIMES

    def python(runtime: str) -> str | None:
        return ENV_PYTHON.get(str(runtime)) if serverless else python_of_spark_version(str(runtime))

    def problems(runtime: str) -> list[str]:
        py = python(runtime)
        return [p for w in wheels if (p := w.problem(py))] if py else []

    what = "serverless environment" if serverless else "Databricks Runtime"
    first = problems(str(pinned or default))
    if not first:
        return None
    if pinned is None:
        for runtime in candidates:
            if python(runtime) and not problems(runtime):
                return runtime
    fix = f"pin a fitting one with -o {key}=..." if pinned is None else f"drop -o {key} or pick one for Python {{}}"
    shown = pinned or default
    raise LakeflowError(
        f"{first[0]}, so it cannot install on {what} {shown} (Python {python(str(shown))})"
        + ("" if pinned else " or any other supported one")
        + f"; change the wheel's requires-python or platform, or {fix.format(_wanted(wheels))}"
    )


def _wanted(wheels: list[WheelInfo]) -> str:
    return ", ".join(w.requires_python for w in wheels if w.requires_python) or "the wheel's tags"
