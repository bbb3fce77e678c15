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
#: The task parameter naming the secret scope and keys of the --env-var values (secrets.py).
ENV_FLAG = "--lakeflow-env="
#: What every lakeflow task parameter starts with: a user argument that does too travels encoded,
#: so the shim never takes it for one of its own.
OWN_PREFIX = "--lakeflow-"
#: The task parameter that Databricks replaces with the job run id when the run starts.
RUN_ID_PARAM = RUN_ID_FLAG + "{{job.run_id}}"
ENCODED_PREFIX = "lakeflow:b64:"
#: Databricks' limit on run-now python_params, JSON encoded (Jobs API run_now docs).
MAX_PARAMS_BYTES = 10_000
# Sent as-is when an argument matches: readable in the Databricks UI, never touched by dynamic
# value references (no braces) and plain ASCII. Everything else is base64url of its UTF-8.
_PLAIN = re.compile(r"^[A-Za-z0-9_.,:/=+@%-]+$")

_SHIM_SOURCE = '''"""lakeflow run shim: sets DATABRICKS_RUN_ID and the --env-var values, decodes the
arguments, calls {target}, and redacts the values from what the task prints."""

import base64
import io
import json
import os
import sys
import urllib.parse
import urllib.request
from importlib import metadata

TARGET = {target!r}
RUN_ID_FLAG = {run_id_flag!r}
ENV_FLAG = {env_flag!r}
ENCODED_PREFIX = {prefix!r}
REDACTED = "[REDACTED]"


def _decode(arg):
    if arg.startswith(ENCODED_PREFIX):
        return base64.urlsafe_b64decode(arg[len(ENCODED_PREFIX):].encode("ascii")).decode("utf-8")
    return arg


def _secret_reader():
    # Databricks Runtime 13.1+ bundles databricks-sdk (its README), and on a cluster
    # databricks.sdk.runtime's dbutils is the runtime's own, which checks READ of the run-as
    # identity (SDK docs, "Interaction with dbutils"). Failing that: the Secrets API's secrets/get,
    # the call dbutils makes, with credentials the runtime put in the environment.
    try:
        from databricks.sdk.runtime import dbutils
    except Exception:
        dbutils = None
    host, token = os.environ.get("DATABRICKS_HOST"), os.environ.get("DATABRICKS_TOKEN")

    def rest(scope, key):
        query = urllib.parse.urlencode({{"scope": scope, "key": key}})
        request = urllib.request.Request(
            host.rstrip("/") + "/api/2.0/secrets/get?" + query, headers={{"Authorization": "Bearer " + token}}
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            return base64.b64decode(json.load(reply)["value"]).decode("utf-8")

    def get(scope, key):
        if dbutils is not None:
            try:
                return dbutils.secrets.get(scope=scope, key=key)
            except Exception:
                if not (host and token):
                    raise
        if not (host and token):
            raise RuntimeError("neither dbutils nor Databricks credentials are available here")
        return rest(scope, key)

    return get


def _load_env(param):
    scope, _, pairs = param[len(ENV_FLAG):].partition(":")
    get = _secret_reader()
    values = []
    for pair in filter(None, pairs.split(";")):
        name, _, key = pair.partition("=")
        try:
            value = get(scope, key)
        except Exception as exc:
            raise SystemExit(
                "lakeflow: cannot read --env-var " + name + " from secret scope " + scope + " ("
                + type(exc).__name__ + "); the job's run-as identity needs READ on it"
            ) from None
        os.environ[name] = value
        values.append(value)
    return values


class _Redacting(io.TextIOBase):
    """Writes through to the stream it wraps, with every --env-var value replaced. Text is held
    back to the end of a line, so a value written in pieces is still caught."""

    def __init__(self, inner, values):
        self._inner, self._pending = inner, ""
        parts = set(values) | {{line for v in values for line in v.splitlines()}}
        # Values of one or two characters would blank out ordinary output; they are not redacted.
        self._values = sorted((v for v in parts if len(v.strip()) >= 3), key=len, reverse=True)

    def redact(self, text):
        for value in self._values:
            text = text.replace(value, REDACTED)
        return text

    def write(self, text):
        self._pending += text
        if "\\n" in self._pending or len(self._pending) > 65536:
            head, sep, tail = self._pending.rpartition("\\n")
            if not sep:
                head, tail = self._pending, ""
            self._pending = tail
            self._inner.write(self.redact(head + sep))
        return len(text)

    def flush(self):
        if self._pending:
            text, self._pending = self._pending, ""
            self._inner.write(self.redact(text))
        self._inner.flush()

    def writable(self):
        return True

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _redact_exception(exc, redacting):
    exc.args = tuple(redacting.redact(a) if isinstance(a, str) else a for a in exc.args)


def main():
    args = sys.argv[1:]
    if args and args[0].startswith(RUN_ID_FLAG):
        run_id = args.pop(0)[len(RUN_ID_FLAG):]
        os.environ["DATABRICKS_RUN_ID"] = run_id
        os.environ["LAKEFLOW_RUN_ID"] = run_id
    if args and args[0].startswith(ENV_FLAG):
        values = _load_env(args.pop(0))
        if values:
            # At the source: whoever reads the run's output may not hold the values.
            sys.stdout = _Redacting(sys.stdout, values)
            sys.stderr = _Redacting(sys.stderr, values)
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
        if isinstance(sys.stderr, _Redacting):
            _redact_exception(exc, sys.stderr)
            exc.code = exc.args[0] if exc.args else exc.code
        raise
    except Exception as exc:
        if isinstance(sys.stderr, _Redacting):
            _redact_exception(exc, sys.stderr)
        raise
    finally:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _Redacting):
                stream.flush()
    if result not in (None, 0):
        raise SystemExit(result)
'''


def encode_args(args: tuple[str, ...] | list[str], lead: tuple[str, ...] | list[str] = (RUN_ID_PARAM,)) -> list[str]:
    """The python_params for one run: the job's own parameters (``lead``: the run-id reference,
    the env-var scope), then each argument, transport-safe. run-now's python_params replace the
    task's parameters, so every run must repeat ``lead``."""
    params = list(lead)
    for arg in args:
        if _PLAIN.match(arg) and not arg.startswith((ENCODED_PREFIX, OWN_PREFIX)):
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
    while out and out[0].startswith((RUN_ID_FLAG, ENV_FLAG)):
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
    source = _SHIM_SOURCE.format(
        target=target_package, run_id_flag=RUN_ID_FLAG, env_flag=ENV_FLAG, prefix=ENCODED_PREFIX
    )
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
