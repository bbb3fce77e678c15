"""Secret scopes with per-scope ACLs, as the Secrets API 2.0 describes them (fact sheet §5, §13.5).

Rules and their sources (SDK = databricks-sdk 0.162 `service/workspace.py` `SecretsAPI` docstrings):
- The creator of a scope gets MANAGE, unless `initial_manage_principal` is "users" (the only value
  allowed), which gives every user MANAGE (SDK `create_scope`; fact sheet RW-23).
- "Permissions apply to the whole scope, not to individual secrets" (DOC-ws-scopes, RW-24).
  MANAGE > WRITE ("read and write") > READ (SDK `put_acl`).
- put/delete a secret need WRITE or MANAGE (SDK `put_secret`, `delete_secret`); listing keys needs
  READ (SDK `list_secrets`); put/get/list/delete ACLs and deleting the scope need MANAGE (SDK
  `put_acl`, `get_acl`, `list_acls`, `delete_acl`; `delete_scope`: PERMISSION_DENIED).
- Reading a value (`secrets/get`) "can only be called from the DBUtils interface" and needs READ
  (SDK `get_secret`; DOC-api-getsecret): here only a run's cluster token may call it.
- No workspace admins are emulated: nobody reads a scope without an ACL entry (the strict side).
"""

from __future__ import annotations

import base64
import re
import threading

from .errors import ApiError, already_exists, invalid, not_found

NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
LEVELS = {"READ": 1, "WRITE": 2, "MANAGE": 3}
ALL_USERS = "users"  # the workspace group every user belongs to


def denied(user: str, need: str, scope: str) -> ApiError:
    # Status and code per the SDK docstrings ("Throws PERMISSION_DENIED"); the text is a CHOICE.
    return ApiError(403, "PERMISSION_DENIED", f"User {user} does not have {need} permission on scope {scope}.")


class Secrets:
    """Secret scopes. Values are kept only here; only a cluster's DBUtils reads them back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scopes: dict[str, dict[str, str]] = {}
        self._acls: dict[str, dict[str, str]] = {}  # scope -> principal -> permission

    # -- permissions -----------------------------------------------------------------------------
    def level(self, scope: str, user: str) -> int:
        acl = self._acls.get(scope, {})
        return max(LEVELS.get(acl.get(user, ""), 0), LEVELS.get(acl.get(ALL_USERS, ""), 0))

    def _need(self, scope: str, user: str, need: str) -> dict[str, str]:
        if scope not in self._scopes:
            raise not_found(f"Scope {scope} does not exist!")
        if self.level(scope, user) < LEVELS[need]:
            raise denied(user, need, scope)
        return self._scopes[scope]

    # -- API ---------------------------------------------------------------------------------------
    def create_scope(self, body: dict, user: str) -> None:
        scope = body.get("scope")
        if not isinstance(scope, str) or not NAME_RE.match(scope):
            raise invalid(
                "Scope name must consist of alphanumeric characters, dashes, underscores, and periods, "
                "and may not exceed 128 characters."
            )
        principal = body.get("initial_manage_principal")
        if principal is not None and principal != ALL_USERS:
            raise invalid("initial_manage_principal only supports 'users'.")
        with self._lock:
            if scope in self._scopes:
                raise already_exists(f"Scope {scope} already exists!")
            self._scopes[scope] = {}
            self._acls[scope] = {principal or user: "MANAGE"}

    def delete_scope(self, body: dict, user: str) -> None:
        scope = str(body.get("scope"))
        with self._lock:
            self._need(scope, user, "MANAGE")
            del self._scopes[scope], self._acls[scope]

    def list_scopes(self) -> dict:
        # "Lists all secret scopes available in the workspace" (SDK list_scopes): names only.
        with self._lock:
            scopes = [{"name": s, "backend_type": "DATABRICKS"} for s in sorted(self._scopes)]
        return {"scopes": scopes} if scopes else {}

    def put(self, body: dict, user: str) -> None:
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
            secrets = self._need(str(scope), user, "WRITE")
            if key not in secrets and len(secrets) >= 1000:
                raise ApiError(400, "RESOURCE_LIMIT_EXCEEDED", f"Scope {scope} has reached the 1000 secrets limit.")
            secrets[key] = value

    def list_secrets(self, scope: str, user: str) -> dict:
        with self._lock:
            keys = [{"key": k} for k in sorted(self._need(scope, user, "READ"))]
        return {"secrets": keys} if keys else {}

    def delete_secret(self, body: dict, user: str) -> None:
        scope = str(body.get("scope"))
        with self._lock:
            secrets = self._need(scope, user, "WRITE")
            if body.get("key") not in secrets:
                raise not_found(f"Secret {body.get('key')} does not exist in scope {scope}!")
            del secrets[body["key"]]

    def put_acl(self, body: dict, user: str) -> None:
        scope, principal, permission = str(body.get("scope")), body.get("principal"), body.get("permission")
        if not isinstance(principal, str) or not principal or permission not in LEVELS:
            raise invalid(f"Invalid principal {principal!r} or permission {permission!r}.")
        with self._lock:
            self._need(scope, user, "MANAGE")
            self._acls[scope][principal] = permission

    def list_acls(self, scope: str, user: str) -> dict:
        with self._lock:
            self._need(scope, user, "MANAGE")
            items = [{"principal": p, "permission": v} for p, v in sorted(self._acls[scope].items())]
        return {"items": items} if items else {}

    def delete_acl(self, body: dict, user: str) -> None:
        scope, principal = str(body.get("scope")), body.get("principal")
        with self._lock:
            self._need(scope, user, "MANAGE")
            if principal not in self._acls[scope]:
                raise not_found(f"ACL for principal {principal} does not exist in scope {scope}.")
            del self._acls[scope][principal]

    def get_secret(self, scope: str, key: str, identity: str) -> dict:
        """`secrets/get` from a run's DBUtils: the run-as identity needs READ."""
        with self._lock:
            secrets = self._need(scope, identity, "READ")
            if key not in secrets:
                raise not_found(f"Secret {key} does not exist in scope {scope}!")
            return {"key": key, "value": base64.b64encode(secrets[key].encode()).decode()}

    # -- for the emulated clusters and tests ---------------------------------------------------------
    def resolve(self, scope: str, key: str, identity: str) -> str | None:
        """`{{secrets/scope/key}}` at run start: None unless the run-as identity may READ it
        (DOC-secret-env: the cluster owner must have READ on the scope)."""
        with self._lock:
            if self.level(scope, identity) < LEVELS["READ"]:
                return None
            return self._scopes.get(scope, {}).get(key)

    def acl(self, scope: str) -> dict[str, str]:
        with self._lock:
            return dict(self._acls.get(scope, {}))

    def keys(self, scope: str) -> list[str]:
        with self._lock:
            return sorted(self._scopes.get(scope, {}))

    def scope_names(self) -> list[str]:
        with self._lock:
            return sorted(self._scopes)
