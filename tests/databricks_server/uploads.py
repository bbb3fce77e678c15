"""Uploads: workspace/import (multipart or JSON) and the Files API for Unity Catalog volumes."""

from __future__ import annotations

import base64
import json
from email.parser import BytesParser
from email.policy import HTTP

from .errors import ApiError, malformed
from .workspace import Workspace


def import_file(ws: Workspace, raw: bytes, ctype: str) -> dict:
    if ctype.startswith("multipart/form-data"):
        fields = _multipart(raw, ctype)
        content = fields.get("content", b"")
        text = {k: v.decode() for k, v in fields.items() if k != "content"}
        json_size = None
    else:
        try:
            text = json.loads(raw or b"{}")
            content = base64.b64decode(text.get("content") or "")
        except ValueError as exc:
            raise malformed(f"Invalid request body: {exc}") from exc
        json_size = len(text.get("content") or "")
    overwrite = str(text.get("overwrite", "false")).lower() == "true"
    ws.import_file(text.get("path"), content, text.get("format"), text.get("language"), overwrite, json_size)
    return {}


def files_api(ws: Workspace, method: str, path: str, query: dict, raw: bytes):
    if path.startswith("/api/2.0/fs/directories/"):
        target = path[len("/api/2.0/fs/directories") :]
        if method == "PUT":
            ws.make_volume_directory(target)
            return None
        if method in ("HEAD", "GET") and not ws.volume_directory_exists(target):
            raise ApiError(404, "NOT_FOUND", f"The directory being accessed is not found: {target}")
        if method == "HEAD":
            return (200, b"", {})
        if method == "GET":
            return ws.list_volume_directory(target)
    if path.startswith("/api/2.0/fs/files/"):
        target = path[len("/api/2.0/fs/files") :]
        if method == "POST" and query.get("action"):
            # Multipart uploads via presigned URLs are not emulated; the SDK then falls back
            # to a single-shot PUT (fact sheet §3.2, §13.4).
            raise ApiError(501, "NOT_IMPLEMENTED", "Multipart upload is not supported by this server.")
        if method == "PUT":
            ws.put_volume_file(target, raw, query.get("overwrite", "true") != "false")
            return (204, b"", {})
        if method in ("GET", "HEAD"):
            data = ws.volume_file(target)
            return (
                200,
                data if method == "GET" else b"",
                {
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(len(data)),
                    "Last-Modified": "Tue, 24 Nov 2026 00:00:00 GMT",
                },
            )
        if method == "DELETE":
            ws.delete_volume_file(target)
            return (204, b"", {})
    raise ApiError(404, "ENDPOINT_NOT_FOUND", f"Bad Target: {path}")


def _multipart(raw: bytes, ctype: str) -> dict[str, bytes]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = part.get_payload(decode=True) or b""
    return fields
