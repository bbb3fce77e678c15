"""Uploading a bundle to workspace files or a Unity Catalog volume, and finding it again."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from lakeflow_databricks_target import compat
from lakeflow_databricks_target.client import api_errors
from lakeflow_databricks_target.shim import SHIM_DIST
from lakeflow_databricks_target.wheels import bundle
from lakeflow_host import Artifact, LakeflowError, NotFoundError, RemoteArtifact

TARGET = "databricks"
_VOLUME = re.compile(r"^/Volumes/[^/]+/[^/]+/[^/]+$")
#: workspace/import's JSON `content` "has a limit of 10 MB" (SDK workspace.py `import_`), and the
#: real refusal names 10485760 bytes (ISSUE-tf4077). Counted here on the base64 text, which is a
#: third larger than the file: whether the service counts that or the decoded bytes is
#: UNCONFIRMED (fact sheet RW-28), and this works either way. Bigger files go multipart.
_JSON_IMPORT_MAX = 10 * 1024 * 1024
#: Lists each wheel's Requires-Python, so create-job can pick a runtime without downloading them.
MANIFEST = "lakeflow-wheels.json"
_MULTIPART_ATTEMPTS = 6


_homes: dict[int, str] = {}


def home(client: Any) -> str:
    """The current user's workspace home, looked up once per client."""
    if id(client) not in _homes:
        with api_errors("look up the current Databricks user"):
            _homes[id(client)] = f"/Users/{client.current_user.me().user_name}"
    return _homes[id(client)]


def upload(client: Any, artifact: Artifact, options: Mapping[str, str]) -> RemoteArtifact:
    if artifact.kind != "wheel":
        raise LakeflowError(f"the databricks target runs wheels, not {artifact.kind} files; build with --builder uv")
    found = bundle(artifact.path, artifact.companions, artifact.package, artifact.requirements)
    infos = [compat.inspect(name, data) for name, data in found.files if name != found.shim and name.endswith(".whl")]
    check_runtime(infos, options)  # before anything is uploaded
    manifest = json.dumps(
        {"wheels": [{"name": i.name, "requires_python": i.requires_python} for i in infos]}, sort_keys=True
    ).encode()
    files = (*found.files, (MANIFEST, manifest))  # last: its presence means the upload completed
    volume = (options.get("volume") or "").rstrip("/")
    if volume:
        if not _VOLUME.match(volume):
            raise LakeflowError(
                f"--volume {volume} is not a Unity Catalog volume; use /Volumes/<catalog>/<schema>/<volume>"
            )
        directory = f"{volume}/lakeflow/wheels/{found.digest}"
        sent = _upload_volume(client, directory, files)
        prefix = directory
    else:
        directory = f"{home(client)}/lakeflow/wheels/{found.digest}"
        sent = _upload_workspace(client, directory, files)
        prefix = "/Workspace" + directory  # libraries name workspace files in their /Workspace form
    return RemoteArtifact(TARGET, f"{prefix}/{found.main}", tuple(f"{prefix}/{c}" for c in found.companions), sent)


def _upload_workspace(client: Any, directory: str, files: tuple[tuple[str, bytes], ...]) -> int:
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.workspace import ImportFormat

    with api_errors(f"list {directory}"):
        try:
            present = {o.path.rsplit("/", 1)[-1]: o.size for o in client.workspace.list(directory)}
        except NotFound:
            present = {}
            client.workspace.mkdirs(directory)
    sent = 0
    for name, data in files:
        if present.get(name) == len(data):
            # Content-addressed, and the size matches: the same bytes (workspace/list gives no
            # hash to check). A different size is a broken or foreign file: replaced below.
            continue
        path = f"{directory}/{name}"
        with api_errors(f"upload {path}"):
            if 4 * ((len(data) + 2) // 3) <= _JSON_IMPORT_MAX:
                # The JSON form is retried by the SDK on 429/503; the multipart upload() is not.
                client.workspace.import_(
                    path, content=base64.b64encode(data).decode(), format=ImportFormat.AUTO, overwrite=True
                )
            else:
                _multipart_with_retries(client, path, data)
        sent += len(data)
    return sent


def _multipart_with_retries(client: Any, path: str, data: bytes) -> None:
    from databricks.sdk.errors import TemporarilyUnavailable, TooManyRequests
    from databricks.sdk.service.workspace import ImportFormat

    for attempt in range(_MULTIPART_ATTEMPTS):
        try:
            client.workspace.upload(path, data, format=ImportFormat.AUTO, overwrite=True)
            return
        except (TooManyRequests, TemporarilyUnavailable) as exc:
            if attempt == _MULTIPART_ATTEMPTS - 1:
                raise
            time.sleep(min(30, exc.retry_after_secs or 2**attempt))


def _upload_volume(client: Any, directory: str, files: tuple[tuple[str, bytes], ...]) -> int:
    from databricks.sdk.errors import NotFound

    with api_errors(f"list {directory}"):
        try:
            present = {e.name: e.file_size for e in client.files.list_directory_contents(directory)}
        except NotFound:
            present = {}
            # PUT /fs/files creating missing parents is UNCONFIRMED (fact sheet RW-30);
            # create_directory is mkdir -p and idempotent (SDK files.py), so make them first.
            client.files.create_directory(directory)
    sent = 0
    for name, data in files:
        if present.get(name) == len(data):  # the Files API listing gives sizes, no hashes
            continue
        with api_errors(f"upload {directory}/{name}"):
            client.files.upload(f"{directory}/{name}", io.BytesIO(data), overwrite=True)
        sent += len(data)
    return sent


def check_runtime(infos: list[compat.WheelInfo], options: Mapping[str, Any], default: str | None = None) -> str | None:
    """The runtime the job must use for these wheels instead of ``default`` (the one the job
    would get; None: the newest LTS lakeflow knows) (None: the default or the pinned one fits);
    one line when none fits."""
    from lakeflow_databricks_target import jobspec

    serverless = jobspec.flag(options, "serverless", False)
    if serverless:
        default = jobspec.DEFAULT_ENVIRONMENT_VERSION
    return compat.choose(infos, options, serverless, default or compat.LTS_RUNTIMES[0])


def read_beside(client: Any, artifact: str, name: str) -> bytes | None:
    """The bytes of file ``name`` uploaded with ``artifact``; None when there is none."""
    from databricks.sdk.errors import NotFound

    path = f"{artifact.rpartition('/')[0]}/{name}"
    with api_errors(f"read {path}"):
        try:
            if artifact.startswith("/Volumes/"):
                return client.files.download(path).contents.read()
            return client.workspace.download(path[len("/Workspace") :]).read()
        except NotFound:
            return None


def wheel_infos(client: Any, artifact: str) -> list[compat.WheelInfo]:
    """What the upload's manifest says about its wheels; empty for uploads made without one."""
    raw = read_beside(client, artifact, MANIFEST)
    if raw is None:
        return []
    try:
        wheels = json.loads(raw)["wheels"]
        return [compat.WheelInfo(w["name"], w.get("requires_python")) for w in wheels]
    except (ValueError, KeyError, TypeError):
        return []


def libraries_for(client: Any, artifact: str) -> list[str]:
    """Every wheel uploaded with ``artifact``: companions first, the main wheel, the shim last."""
    from databricks.sdk.errors import NotFound

    directory, _, main = artifact.rpartition("/")
    if not main.endswith(".whl") or not directory:
        raise LakeflowError(f"{artifact} is not an uploaded wheel path; pass what `lakeflow upload-wheel` printed")
    with api_errors(f"list {directory}"):
        try:
            if artifact.startswith("/Volumes/"):
                names = [e.name for e in client.files.list_directory_contents(directory) if e.name]
            elif artifact.startswith("/Workspace/"):
                names = [o.path.rsplit("/", 1)[-1] for o in client.workspace.list(directory[len("/Workspace") :])]
            else:
                raise LakeflowError(
                    f"{artifact} is neither a /Workspace nor a /Volumes path; "
                    "upload it with `lakeflow upload-wheel` first"
                )
        except NotFound:
            names = []
    if main not in names:
        raise NotFoundError(f"{artifact} does not exist on the workspace; upload it with `lakeflow upload-wheel`")
    shims = [n for n in names if n.startswith(SHIM_DIST + "-") and n.endswith(".whl")]
    if not shims:
        raise LakeflowError(
            f"{directory} was not uploaded by lakeflow (no run shim there); upload the wheel with "
            "`lakeflow upload-wheel --target databricks`"
        )
    others = sorted(n for n in names if n.endswith(".whl") and n != main and n not in shims)
    return [f"{directory}/{n}" for n in (*others, main, shims[0])]
