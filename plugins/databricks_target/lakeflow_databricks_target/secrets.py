"""--env-var values: stored in a secret scope of the job creator's own, read by the run shim.

Why a scope per identity: "permissions apply to the whole scope, not to individual secrets" and
MANAGE > WRITE > READ (databricks-sdk 0.162 `SecretsAPI.put_acl`; Databricks docs "Secret ACLs"),
so one scope shared by every lakeflow user would either refuse the second user (the creator holds
MANAGE, nobody else can write) or, opened to `users`, let everyone read everyone's values.

Why the shim reads them, not `{{secrets/...}}` in `spark_env_vars`: environment variables of a
cluster are readable by anyone who can attach to it, references there are "not redacted from the
Spark driver log stdout and stderr" (Databricks docs, secrets in Spark configuration and
environment variables), and serverless compute has no `spark_env_vars` at all. The job carries
only the scope and key names, as one task parameter; the shim reads each value at run start with
the runtime's `dbutils.secrets.get` (which checks READ of the run-as identity) and sets the
environment before the user's entry point runs.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lakeflow_databricks_target.client import api_errors
from lakeflow_host import LakeflowError

#: The task parameter that carries ``scope:NAME=key;NAME=key`` to the run shim.
ENV_FLAG = "--lakeflow-env="
SCOPE_PREFIX = "lakeflow-"
_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def default_scope(user: str) -> str:
    """The creator's own scope: the same name every time for one identity, distinct per identity.
    A hash, not the name itself: scope names allow neither `@` nor spaces, and list-scopes shows
    every scope name to every user of the workspace."""
    return SCOPE_PREFIX + hashlib.sha256(user.strip().lower().encode()).hexdigest()[:12]


@dataclass
class Stored:
    """What one create-job put in a scope; ``param`` is the task parameter naming it."""

    scope: str
    keys: dict[str, str] = field(default_factory=dict)  # env var name -> secret key

    @property
    def param(self) -> str:
        return ENV_FLAG + self.scope + ":" + ";".join(f"{name}={key}" for name, key in sorted(self.keys.items()))


def parse_param(param: str) -> Stored | None:
    """The scope and keys named by a task parameter, or None when it is not lakeflow's."""
    if not param.startswith(ENV_FLAG):
        return None
    scope, _, pairs = param[len(ENV_FLAG) :].partition(":")
    keys = dict(pair.split("=", 1) for pair in pairs.split(";") if "=" in pair)
    return Stored(scope, keys)


def _check(env: Mapping[str, str], scope: str) -> None:
    if not _SCOPE_NAME.match(scope):
        raise LakeflowError(f"-o secret_scope={scope} is not a valid scope name; use letters, digits, - _ and .")
    for name in env:
        if not _ENV_NAME.match(name):
            raise LakeflowError(f"--env-var {name} is not a valid environment variable name; use letters, digits, _")


def store(client: Any, env: Mapping[str, str], user: str, options: Mapping[str, Any]) -> Stored | None:
    """Put each value in the scope (created if missing) under a random per-job key; grant a
    different run-as identity READ on the scope. Nothing derived from a value leaves here except
    through the secrets API. On failure, what was stored is deleted again."""
    if not env:
        return None
    from databricks.sdk.errors import PermissionDenied, ResourceAlreadyExists

    scope = str(options.get("secret_scope") or default_scope(user))
    _check(env, scope)
    stored = Stored(scope)
    with api_errors(f"create secret scope {scope}"):
        try:
            client.secrets.create_scope(scope)  # the creator gets MANAGE (SDK `create_scope`)
        except ResourceAlreadyExists:
            pass
    prefix = "job-" + uuid.uuid4().hex[:12]
    try:
        for name, value in sorted(env.items()):
            key = f"{prefix}-{name}"
            with api_errors(f"store --env-var {name} in secret scope {scope}"):
                try:
                    client.secrets.put_secret(scope, key, string_value=value)
                except PermissionDenied:
                    raise LakeflowError(
                        f"you may not write to secret scope {scope} (it belongs to someone else); drop "
                        f"-o secret_scope to use your own scope {default_scope(user)}, or ask its owner for WRITE"
                    ) from None
            stored.keys[name] = key
        run_as = str(options.get("run_as") or "")
        if run_as and run_as.lower() != user.lower():
            _grant_read(client, scope, run_as)
    except BaseException:
        discard(client, stored)
        raise
    return stored


def _grant_read(client: Any, scope: str, principal: str) -> None:
    """READ and nothing more; an identity that already holds a permission keeps it (put_acl
    overwrites, and lowering someone's MANAGE would lock them out of their own scope)."""
    from databricks.sdk.service.workspace import AclPermission

    with api_errors(f"grant {principal} READ on secret scope {scope}"):
        if any(acl.principal == principal for acl in client.secrets.list_acls(scope)):
            return
        client.secrets.put_acl(scope, principal, AclPermission.READ)


def discard(client: Any, stored: Stored | None) -> None:
    """Delete what ``store`` put (best effort: a cleanup error must not hide the real failure)."""
    if stored is None:
        return
    for key in stored.keys.values():
        try:
            client.secrets.delete_secret(stored.scope, key)
        except Exception:  # noqa: BLE001 - the original error is what the user needs to see
            pass
    stored.keys.clear()
