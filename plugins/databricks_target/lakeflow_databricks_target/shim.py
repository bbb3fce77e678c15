"""The run shim: a tiny wheel that every lakeflow job runs in front of the user's entry point.

Why a shim: Databricks exposes no environment variable holding the run id, and run-now's
`python_params` must be ASCII and at most 10,000 bytes. The honest way to give the task
`DATABRICKS_RUN_ID` and an exact `sys.argv` is a `{{job.run_id}}` dynamic value reference as the
first task parameter plus transport-encoded arguments, consumed by code we own on the cluster.
That code has to be installed on the cluster, and a job's task runs a wheel, so the shim is a
wheel of its own: made here with zipfile (no build backend), byte-for-byte reproducible, and
named by a hash of its source so that a cluster never reuses a stale copy.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile

from lakeflow_host import LakeflowError

SHIM_DIST = "lakeflow_run_shim"
# "main", in a group of its own: Databricks looks the entry point up by name in the package's
# metadata and, failing that, calls `<package_name>.<entry_point>()`; both find the same function.
# Not a console script, so no `main` executable lands on the cluster's PATH.
SHIM_ENTRY_POINT = "main"
SHIM_GROUP = "lakeflow_shim"
RUN_ID_FLAG = "--lakeflow-run-id="
#: The task parameter that Databricks replaces with the job run id when the run starts.
RUN_ID_PARAM = RUN_ID_FLAG + "{{job.run_id}}"
ENCODED_PREFIX = "lakeflow:b64:"
#: Databricks' limit on run-now python_params, JSON encoded (Jobs API run_now docs).
MAX_PARAMS_BYTES = 10_000
# Sent as-is when an argument matches: readable in the Databricks UI, never touched by dynamic
# value references (no braces) and plain ASCII. Everything else is base64url of its UTF-8.
_PLAIN = re.compile(r"^[A-Za-z0-9_.,:/=+@%-]+$")

_SHIM_SOURCE = '''"""lakeflow run shim: sets DATABRICKS_RUN_ID, decodes the arguments, calls {target}."""

import base64
import os
import sys
from importlib import metadata

TARGET = {target!r}
RUN_ID_FLAG = {run_id_flag!r}
ENCODED_PREFIX = {prefix!r}


def _decode(arg):
    if arg.startswith(ENCODED_PREFIX):
        return base64.urlsafe_b64decode(arg[len(ENCODED_PREFIX):].encode("ascii")).decode("utf-8")
    return arg


def main():
    args = sys.argv[1:]
    if args and args[0].startswith(RUN_ID_FLAG):
        run_id = args.pop(0)[len(RUN_ID_FLAG):]
        os.environ["DATABRICKS_RUN_ID"] = run_id
        os.environ["LAKEFLOW_RUN_ID"] = run_id
    args = [_decode(a) for a in args]
    eps = [e for e in metadata.distribution(TARGET).entry_points if e.name == "lakeflow-task"]
    if not eps:
        raise SystemExit("lakeflow: " + TARGET + " has no lakeflow-task entry point")
    sys.argv = ["lakeflow-task", *args]
    try:
        result = eps[0].load()()
    except SystemExit as exc:
        # Click and Typer apps raise SystemExit even on success; a wheel task fails on any
        # SystemExit, so 0 (or None) returns normally and only a real failure stays one.
        if exc.code in (None, 0):
            return
        raise
    if result not in (None, 0):
        raise SystemExit(result)
'''


def encode_args(args: tuple[str, ...] | list[str]) -> list[str]:
    """The python_params for one run: the run-id reference, then each argument, transport-safe."""
    params = [RUN_ID_PARAM]
    for arg in args:
        if _PLAIN.match(arg) and not arg.startswith(ENCODED_PREFIX):
            params.append(arg)
        else:
            params.append(ENCODED_PREFIX + base64.urlsafe_b64encode(arg.encode("utf-8")).decode("ascii"))
    size = len(json.dumps(params).encode())
    if size > MAX_PARAMS_BYTES:
        raise LakeflowError(
            f"the run's arguments take {size} bytes once encoded for Databricks, over its "
            f"{MAX_PARAMS_BYTES}-byte limit for python_params; pass fewer or shorter arguments "
            "(e.g. a path to a file that holds them)"
        )
    return params


def decode_params(params: list[str] | None) -> tuple[str, ...]:
    """The user's arguments back from a run's python_params (inverse of :func:`encode_args`)."""
    out = list(params or [])
    if out and out[0].startswith(RUN_ID_FLAG):
        out.pop(0)
    decoded = []
    for arg in out:
        if arg.startswith(ENCODED_PREFIX):
            try:
                arg = base64.urlsafe_b64decode(arg[len(ENCODED_PREFIX) :].encode("ascii")).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                pass  # not ours after all: show it as sent
        decoded.append(arg)
    return tuple(decoded)


def shim_wheel(target_package: str) -> tuple[str, bytes]:
    """(file name, bytes) of the shim wheel that calls ``target_package``'s lakeflow-task."""
    source = _SHIM_SOURCE.format(target=target_package, run_id_flag=RUN_ID_FLAG, prefix=ENCODED_PREFIX)
    version = "1.0.0+" + hashlib.sha256(source.encode()).hexdigest()[:12]
    info = f"{SHIM_DIST}-{version}.dist-info"
    files = {
        f"{SHIM_DIST}/__init__.py": source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {SHIM_DIST}\nVersion: {version}\n"
        # No Requires-Dist on the user's package: a cluster installing the shim first would look
        # that name up on PyPI (and could install a stranger's package of the same name).
        f"Summary: lakeflow run shim for {target_package}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: lakeflow\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[{SHIM_GROUP}]\n{SHIM_ENTRY_POINT} = {SHIM_DIST}:main\n",
    }
    return f"{SHIM_DIST}-{version}-py3-none-any.whl", zip_wheel(files, f"{info}/RECORD")


def zip_wheel(files: dict[str, str | bytes], record_path: str) -> bytes:
    """A reproducible wheel: fixed timestamps and order, RECORD with every file's sha256."""
    buf = io.BytesIO()
    record = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(files):
            data = files[path] if isinstance(files[path], bytes) else files[path].encode()
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{record_path},,")
        info = zipfile.ZipInfo(record_path, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        zf.writestr(info, "\n".join(record) + "\n")
    return buf.getvalue()
