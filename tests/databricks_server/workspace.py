"""Workspace files, Unity Catalog volume files and secret scopes of the emulated workspace.

Rules follow the fact sheet §13.3-13.5. `/Workspace/X` and `/X` name the same workspace object
(a CHOICE there): libraries are referenced in the `/Workspace/...` form while the Workspace API is
commonly called with either.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass, field

from .errors import ApiError, already_exists, invalid, not_found

MAX_JSON_IMPORT = 10 * 1024 * 1024
IMPORT_FORMATS = {"AUTO", "SOURCE", "HTML", "JUPYTER", "DBC", "R_MARKDOWN", "RAW"}
SOURCE_SUFFIXES = (".py", ".sql", ".scala", ".r")
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
VOLUME_RE = re.compile(r"^/Volumes/[^/]+/[^/]+/[^/]+/.+")


def normalise(path: str) -> str:
    """`/Workspace/Users/x` -> `/Users/x`; strips a trailing slash."""
    if path == "/Workspace" or path.startswith("/Workspace/"):
        path = path[len("/Workspace") :] or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    return path


@dataclass
class Node:
    kind: str  # "DIRECTORY" or "FILE"
    object_id: int
    data: bytes = b""
    modified: int = field(default_factory=lambda: int(time.time() * 1000))


class Workspace:
    def __init__(self, user_name: str):
        self._lock = threading.Lock()
        self._next_id = 1000
        self._nodes: dict[str, Node] = {}
        for path in ("/", "/Users", f"/Users/{user_name}", "/Shared"):
            self._nodes[path] = self._new("DIRECTORY")
        self._volume_files: dict[str, bytes] = {}
        self._volume_dirs: set[str] = set()

    def _new(self, kind: str, data: bytes = b"") -> Node:
        self._next_id += 1
        return Node(kind, self._next_id, data)

    # -- Workspace API -------------------------------------------------------------------------
    def mkdirs(self, raw_path: str) -> None:
        path = self._checked(raw_path)
        with self._lock:
            parts = path.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                prefix = "/" + "/".join(parts[:i])
                node = self._nodes.get(prefix)
                if node is None:
                    self._nodes[prefix] = self._new("DIRECTORY")
                elif node.kind != "DIRECTORY":
                    raise already_exists(f"{prefix} already exists and it is not a folder")

    def import_file(
        self,
        raw_path: str,
        content: bytes,
        fmt: str | None,
        language: str | None,
        overwrite: bool,
        via_json: bool,
    ) -> None:
        path = self._checked(raw_path)
        if via_json and len(content) > MAX_JSON_IMPORT:
            raise ApiError(
                400,
                "MAX_NOTEBOOK_SIZE_EXCEEDED",
                f"File size imported is ({len(content)} bytes), exceeded max size ({MAX_JSON_IMPORT} bytes)",
            )
        if fmt is not None and fmt not in IMPORT_FORMATS:
            raise invalid(f"Invalid format: {fmt}")
        if fmt in (None, "SOURCE") and not language and not path.lower().endswith(SOURCE_SUFFIXES):
            # A .whl imported as SOURCE without a language is rejected; the SDK adds its
            # "Perhaps you forgot to specify the `format=ImportFormat.AUTO`" hint to this.
            raise invalid("The zip file may not be valid or may be an unsupported version.")
        parent = path.rsplit("/", 1)[0] or "/"
        with self._lock:
            parent_node = self._nodes.get(parent)
            if parent_node is None:
                raise not_found(f"The parent folder ({parent}) does not exist.")
            if parent_node.kind != "DIRECTORY":
                raise already_exists(f"{parent} already exists and it is not a folder")
            existing = self._nodes.get(path)
            if existing is not None and (not overwrite or existing.kind == "DIRECTORY"):
                raise already_exists(f"Path ({path}) already exists.")
            self._nodes[path] = self._new("FILE", content)

    def get_status(self, raw_path: str) -> dict:
        path = self._checked(raw_path)
        with self._lock:
            node = self._nodes.get(path)
            if node is None:
                raise not_found(f"Path ({path}) doesn't exist.")
            return self._info(path, node)

    def list(self, raw_path: str) -> dict:
        path = self._checked(raw_path)
        with self._lock:
            node = self._nodes.get(path)
            if node is None:
                raise not_found(f"Path ({path}) doesn't exist.")
            prefix = path.rstrip("/") + "/"
            objects = [
                self._info(p, n)
                for p, n in sorted(self._nodes.items())
                if p.startswith(prefix) and "/" not in p[len(prefix) :] and p != path
            ]
        return {"objects": objects} if objects else {}

    def export(self, query: dict):
        """workspace/export of a file. ``direct_download=true`` (what the SDK's ``download`` sends,
        databricks/sdk/mixins/workspace.py) answers the raw bytes, else JSON with base64
        ``content`` (service/workspace.py ExportResponse). A missing path is
        RESOURCE_DOES_NOT_EXIST (the ``export`` docstring). CHOICE: folders are not exported."""
        path = self._checked(query.get("path"))
        with self._lock:
            node = self._nodes.get(path)
            if node is None:
                raise not_found(f"Path ({path}) doesn't exist.")
            if node.kind != "FILE":
                raise invalid(f"This test server exports files only, not {node.kind} {path}.")
            data = node.data
        if query.get("direct_download") == "true":
            return (200, data, {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        return {"content": base64.b64encode(data).decode(), "file_type": path.rsplit(".", 1)[-1]}

    def delete(self, raw_path: str, recursive: bool) -> None:
        path = self._checked(raw_path)
        with self._lock:
            if path not in self._nodes:
                raise not_found(f"Path ({path}) doesn't exist.")
            children = [p for p in self._nodes if p.startswith(path.rstrip("/") + "/")]
            if children and not recursive:
                raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({path}) is not empty.")
            for p in children + [path]:
                del self._nodes[p]

    def read(self, library_path: str) -> bytes | None:
        """Bytes of a workspace file or volume file, as a cluster would fetch a library; None if absent."""
        if library_path.startswith("/Volumes/"):
            with self._lock:
                return self._volume_files.get(library_path)
        with self._lock:
            node = self._nodes.get(normalise(library_path))
            return node.data if node is not None and node.kind == "FILE" else None

    @staticmethod
    def _checked(raw_path: object) -> str:
        if not isinstance(raw_path, str) or not raw_path.startswith("/"):
            raise invalid(f"Path ({raw_path}) is not absolute.")
        return normalise(raw_path)

    @staticmethod
    def _info(path: str, node: Node) -> dict:
        info = {
            "path": path,
            "object_type": node.kind,
            "object_id": node.object_id,
            "modified_at": node.modified,
        }
        if node.kind == "FILE":
            info["size"] = len(node.data)
        return info

    # -- Files API (Unity Catalog volumes) -----------------------------------------------------
    def put_volume_file(self, path: str, data: bytes, overwrite: bool) -> None:
        self._volume_path(path)
        with self._lock:
            if path in self._volume_files and not overwrite:
                raise ApiError(409, "ALREADY_EXISTS", f"The file being created already exists: {path}")
            self._volume_files[path] = data

    def volume_file(self, path: str) -> bytes:
        self._volume_path(path)
        with self._lock:
            if path not in self._volume_files:
                raise ApiError(404, "NOT_FOUND", f"The file being accessed is not found: {path}")
            return self._volume_files[path]

    def delete_volume_file(self, path: str) -> None:
        self.volume_file(path)
        with self._lock:
            del self._volume_files[path]

    def volume_directory_exists(self, path: str) -> bool:
        # Directories exist implicitly once a file was written under them (parents auto-created).
        prefix = path.rstrip("/") + "/"
        with self._lock:
            return bool(VOLUME_RE.match(prefix + "x")) and (
                any(p.startswith(prefix) for p in self._volume_files)
                or path.count("/") <= 4
                or path.rstrip("/") in self._volume_dirs
            )

    def make_volume_directory(self, path: str) -> None:
        self._volume_path(path.rstrip("/") + "/x")
        with self._lock:
            self._volume_dirs.add(path.rstrip("/"))

    def list_volume_directory(self, path: str) -> dict:
        prefix = path.rstrip("/") + "/"
        with self._lock:
            names = sorted({p[len(prefix) :].split("/", 1)[0] for p in self._volume_files if p.startswith(prefix)})
            contents = []
            for name in names:
                full = prefix + name
                is_file = full in self._volume_files
                entry = {"path": full, "name": name, "is_directory": not is_file}
                if is_file:
                    entry["file_size"] = len(self._volume_files[full])
                contents.append(entry)
        return {"contents": contents} if contents else {}

    @staticmethod
    def _volume_path(path: str) -> None:
        if not VOLUME_RE.match(path):
            raise invalid(f"Invalid path: {path}. Paths must look like /Volumes/<catalog>/<schema>/<volume>/<file>.")


class Secrets:
    """Secret scopes. Values are kept only here; no read API returns them (as on Databricks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scopes: dict[str, dict[str, str]] = {}

    def create_scope(self, body: dict) -> None:
        scope = body.get("scope")
        if not isinstance(scope, str) or not NAME_RE.match(scope):
            raise invalid(
                "Scope name must consist of alphanumeric characters, dashes, underscores, and periods, "
                "and may not exceed 128 characters."
            )
        principal = body.get("initial_manage_principal")
        if principal is not None and principal != "users":
            raise invalid("initial_manage_principal only supports 'users'.")
        with self._lock:
            if scope in self._scopes:
                raise already_exists(f"Scope {scope} already exists!")
            self._scopes[scope] = {}

    def list_scopes(self) -> dict:
        with self._lock:
            scopes = [{"name": s, "backend_type": "DATABRICKS"} for s in sorted(self._scopes)]
        return {"scopes": scopes} if scopes else {}

    def put(self, body: dict) -> None:
        scope, key = body.get("scope"), body.get("key")
        has_str, has_bytes = "string_value" in body, "bytes_value" in body
        if has_str == has_bytes:
            raise invalid("Exactly one of string_value or bytes_value must be specified.")
        if not isinstance(key, str) or not NAME_RE.match(key):
            raise invalid(
                "Secret key must consist of alphanumeric characters, dashes, underscores, and periods, "
                "and may not exceed 128 characters."
            )
        value = body["string_value"] if has_str else base64.b64decode(body["bytes_value"]).decode("utf-8", "replace")
        if not isinstance(value, str) or len(value.encode()) > 128 * 1024:
            raise invalid("Secret value exceeds 128 KB or is not a string.")
        with self._lock:
            if scope not in self._scopes:
                raise not_found(f"Scope {scope} does not exist!")
            if key not in self._scopes[scope] and len(self._scopes[scope]) >= 1000:
                raise ApiError(400, "RESOURCE_LIMIT_EXCEEDED", f"Scope {scope} has reached the 1000 secrets limit.")
            self._scopes[scope][key] = value

    def list_secrets(self, scope: str) -> dict:
        with self._lock:
            if scope not in self._scopes:
                raise not_found(f"Scope {scope} does not exist!")
            keys = [{"key": k} for k in sorted(self._scopes[scope])]
        return {"secrets": keys} if keys else {}

    def delete_secret(self, body: dict) -> None:
        with self._lock:
            scope = self._scopes.get(body.get("scope"))
            if scope is None or body.get("key") not in scope:
                raise not_found(f"Secret {body.get('key')} does not exist in scope {body.get('scope')}!")
            del scope[body["key"]]

    def resolve(self, scope: str, key: str) -> str | None:
        """Used only when a run starts, as a cluster resolves `{{secrets/scope/key}}`."""
        with self._lock:
            return self._scopes.get(scope, {}).get(key)
