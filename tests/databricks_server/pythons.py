"""Which Python a run's compute has, and whether a wheel installs on it, as pip decides.

Sources:
- DBR -> Python: 13.x-14.x 3.10, 15.x 3.11 (15.4 LTS), 16.x-17.x 3.12 (16.4 LTS, 17.3 LTS)
  (fact sheet RW-12: CODE-vscode-py `dbrToPythonMinorVersion`, DOC-env-versions, DOC-dbr-rn).
- Serverless environment versions: 1 Python 3.10, 2 Python 3.11, 3-5 Python 3.12 (RW-15, DOC-env-versions).
- pip refuses a wheel whose Requires-Python excludes the interpreter ("requires a different Python:
  3.11.7 not in '>=3.13'") or whose tags are not Linux/`any` ("is not a supported wheel on this
  platform") (RW-13, run with pip 23.2).
Unknown runtimes (18.x and later: UNCONFIRMED) are refused at install rather than guessed.
"""

from __future__ import annotations

import re
import zipfile
from email.parser import HeaderParser
from io import BytesIO

from packaging.specifiers import InvalidSpecifier, SpecifierSet

DBR_PYTHON = {13: "3.10.12", 14: "3.10.12", 15: "3.11.11", 16: "3.12.3", 17: "3.12.3"}
ENV_PYTHON = {"1": "3.10.12", "2": "3.11.10", "3": "3.12.3", "4": "3.12.3", "5": "3.12.3"}
_WHEEL = re.compile(r"^(?P<dist>[^-]+)-(?P<ver>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")


def python_of(task: dict, spark_version: str | None = None) -> str | None:
    """The full Python version of the compute a task runs on; None when the runtime is unknown.
    ``spark_version``: the cluster's runtime when the task does not name it (a policy's, or an
    existing cluster's)."""
    if "environment_key" in task:
        return ENV_PYTHON.get(task.get("_environment_version") or "")
    version = str(spark_version or (task.get("new_cluster") or {}).get("spark_version", ""))
    match = re.match(r"^(\d+)\.(\d+)\.", version)
    return DBR_PYTHON.get(int(match[1])) if match else None


def install_problem(name: str, data: bytes, python: str) -> str | None:
    """pip's reason for refusing to install this wheel on ``python`` (on Linux x86_64), else None."""
    match = _WHEEL.match(name)
    if match is None:
        return f"{name} is not a valid wheel filename."
    major_minor = "".join(python.split(".")[:2])
    pys, abis, plats = (set(match[k].split(".")) for k in ("py", "abi", "plat"))
    platform_ok = "any" in plats or any(p.startswith(("manylinux", "linux_")) for p in plats)
    py_ok = any(
        p in ("py3", f"py{major_minor}", f"cp{major_minor}")
        or (p.startswith("cp3") and "abi3" in abis and int(p[3:] or 0) <= int(major_minor[1:]))
        for p in pys
    )
    if not (platform_ok and py_ok):
        return f"ERROR: {name} is not a supported wheel on this platform."
    try:
        with zipfile.ZipFile(BytesIO(data)) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            headers = HeaderParser().parsestr(zf.read(meta).decode("utf-8", "replace"))
    except (zipfile.BadZipFile, StopIteration):
        return f"ERROR: {name} is not a valid wheel (no METADATA)."
    requires = headers.get("Requires-Python")
    if requires:
        try:
            fits = python in SpecifierSet(requires)
        except InvalidSpecifier:
            return f"ERROR: {name} has an invalid Requires-Python {requires!r}."
        if not fits:
            return f"ERROR: Package '{match['dist']}' requires a different Python: {python} not in '{requires}'"
    return None
