"""One databricks-sdk client per workspace configuration, with bounded waits and one-line errors.

databricks-sdk is imported only here and only inside functions: `lakeflow --help` and local runs
never pay for it. Auth is the SDK's unified auth (env vars, ~/.databrickscfg profiles, OAuth).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from lakeflow_databricks_target import transport
from lakeflow_databricks_target.config import config_file
from lakeflow_host import LakeflowError, NotFoundError

#: The host-metadata request runs while the SDK builds its config (lakeflow's probe sends it,
#: client.BoundedConfig); a throttled answer is retried by the SDK for this long (its default: 300 s).
PROBE_BUDGET_S = 3
#: Retry budget for real calls: long enough to ride out 429/503 bursts, bounded all the same.
RETRY_BUDGET_S = 120
HTTP_TIMEOUT_S = 60
#: Connections kept per host: above the host's fan-out of 16 concurrent triggers.
POOL_SIZE = 64

_clients: dict[tuple, Any] = {}
_lock = threading.Lock()
_HOST_METADATA_NOISE = "Failed to automatically resolve config from host metadata"


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(_HOST_METADATA_NOISE)


def _quiet_sdk_logging() -> None:
    """The SDK warns on every client when a workspace has no host-metadata endpoint; users must not
    see that. A NullHandler also keeps logging's last-resort handler from printing SDK warnings
    in a CLI that configured no logging; an application that configured logging still gets them."""
    logger = logging.getLogger("databricks.sdk")
    if not any(isinstance(f, _DropNoise) for f in logger.filters):
        logger.addFilter(_DropNoise())
        logger.addHandler(logging.NullHandler())


def _key(options: Mapping[str, str]) -> tuple:
    names = sorted(k for k in os.environ if k.startswith(("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_")))
    return (
        options.get("profile"),
        transport.response_timeout(options),
        tuple((k, os.environ[k]) for k in names),
        str(config_file()),
    )


def workspace_client(options: Mapping[str, str]) -> Any:
    """The (cached) WorkspaceClient for these options; thread-safe, so a fan-out shares one."""
    key = _key(options)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _make_client(options)
        return client


def _make_client(options: Mapping[str, str]) -> Any:
    _quiet_sdk_logging()
    from databricks.sdk import WorkspaceClient

    profile = options.get("profile") or None
    bound = transport.response_timeout(options)
    if profile:
        _check_profile_conflict(profile)
    try:
        offline = _OfflineConfig(profile=profile)
    except ValueError as exc:
        raise LakeflowError(_config_problem(str(exc), profile)) from None
    host = offline.host
    if not host:
        raise LakeflowError(_config_problem("cannot configure default credentials", profile))
    try:
        cfg = _bounded_config_class(bound)(
            profile=profile, retry_timeout_seconds=PROBE_BUDGET_S, http_timeout_seconds=HTTP_TIMEOUT_S
        )
    except ValueError as exc:
        raise LakeflowError(_config_problem(str(exc), profile)) from None
    cfg.retry_timeout_seconds = RETRY_BUDGET_S
    cfg.max_connection_pools = cfg.max_connection_pools or POOL_SIZE
    cfg.max_connections_per_pool = cfg.max_connections_per_pool or POOL_SIZE
    client = WorkspaceClient(config=cfg)
    session = _widen_http_pool(client)
    if session is not None:
        transport.install(session, cfg.host, bound)
        from lakeflow_databricks_target import ratelimit

        ratelimit.attach(client, session)
    return client


def _offline_config_class() -> type:
    from databricks.sdk.core import Config

    Config.attributes()  # cached on Config; computed on a subclass it would find no attributes

    class OfflineConfig(Config):
        """Resolves host and profile like Config (kwargs > env > profile file), without a request:
        no host-metadata probe, no credential exchange. databricks-sdk is pinned to 0.162."""

        def _resolve_host_metadata(self) -> None:
            pass

        def init_auth(self) -> None:
            pass

        def _validate(self) -> None:
            pass

        def _init_product(self, *args: Any, **kwargs: Any) -> None:
            pass

    return OfflineConfig


def _bounded_config_class(bound: float) -> type:
    """Config whose host-metadata request (the SDK's first, which a bare SDK script sends too) is
    lakeflow's reachability probe: one request, bounded by ``bound``, failing in one line on an
    unreachable or silent host, instead of a probe and then the SDK's own request (issue 10).

    The answer is a fact about the host (its account and workspace ids, its OIDC endpoint, or
    that it has none), kept for a day (:mod:`memo`): later commands send no probe at all, and
    their first real request fails just as fast on a host that went away (transport.py)."""
    from databricks.sdk.core import Config

    Config.attributes()

    class BoundedConfig(Config):
        def _resolve_host_metadata(self) -> None:
            if not self.host:
                return
            from lakeflow_databricks_target import memo

            known = memo.recall(self.host, "host_metadata")
            if isinstance(known, dict):
                body = known.get("body")
            else:
                status, body = transport.probe(self.host, bound, verify=not self.skip_verify)
                if status in (429, 503):  # throttled: the SDK's own request retries within PROBE_BUDGET_S
                    super()._resolve_host_metadata()
                    return
                if status in (200, 404):  # an answer about the host, not a passing state
                    memo.keep(self.host, "host_metadata", {"body": body if isinstance(body, dict) else None})
            if isinstance(body, dict) and body.get("oidc_endpoint"):
                _apply_host_metadata(self, body)

    return BoundedConfig


def _apply_host_metadata(cfg: Any, body: dict) -> None:
    """What SDK 0.162's Config._resolve_host_metadata does with a metadata answer (pinned)."""
    from databricks.sdk.oauth import HostMetadata

    meta = HostMetadata.from_dict(body)
    cfg.account_id = cfg.account_id or meta.account_id
    cfg.workspace_id = cfg.workspace_id or meta.workspace_id
    if not cfg.discovery_url and meta.oidc_endpoint:
        if "{account_id}" in meta.oidc_endpoint and not cfg.account_id:
            raise ValueError("account_id is required to resolve discovery_url from host metadata")
        base = meta.oidc_endpoint.replace("{account_id}", cfg.account_id or "").rstrip("/")
        cfg.discovery_url = f"{base}/.well-known/oauth-authorization-server"


def _OfflineConfig(**kwargs: Any) -> Any:  # noqa: N802 - reads like the class it builds
    return _offline_config_class()(**kwargs)


def _check_profile_conflict(profile: str) -> None:
    """The SDK takes a value from the environment before the profile file (SDK config.py
    `_load_from_env`, then `_known_file_config_loader`, which never overrides a set value; fact sheet
    RW-38): with DATABRICKS_HOST set, `--profile prod` would quietly run on the environment's
    workspace. Refuse instead of guessing which one the user meant."""
    from databricks.sdk.core import Config

    ignored = ("DATABRICKS_CONFIG_PROFILE", "DATABRICKS_CONFIG_FILE")
    clashing = sorted(
        a.env
        for a in Config.attributes()
        if a.env
        and a.env not in ignored
        and os.environ.get(a.env)
        and (a.auth is not None or a.name in ("host", "account_id", "workspace_id", "auth_type"))
    )
    if clashing:
        raise LakeflowError(
            f"--profile {profile} conflicts with {', '.join(clashing)} set in the environment, which the "
            f"Databricks SDK would use instead of the profile; unset {' and '.join(clashing)}, or drop --profile"
        )


def _widen_http_pool(client: Any) -> Any:
    """The SDK sizes its connection pool for https only; a plain-http host (a proxy, a test server)
    gets requests' default of 10, and a wider fan-out then reconnects and logs "Connection pool is
    full" warnings. Give http the same pool; skipped quietly if the SDK's internals move."""
    import requests

    session = getattr(getattr(client.api_client, "_api_client", None), "_session", None)
    if isinstance(session, requests.Session):
        session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE))
        return session
    return None


def _config_problem(message: str, profile: str | None) -> str:
    first = message.splitlines()[0] if message else "unknown error"
    if "has no" in first and "profile" in first:
        return (
            f"Databricks profile {profile!r} is not in {config_file()}; add it "
            f"(`databricks auth login --profile {profile}`) or pass an existing --profile"
        )
    if "cannot configure default credentials" in first or "host" in first.lower() and "not" in first.lower():
        where = f"profile {profile!r} in {config_file()}" if profile else "the environment"
        return (
            f"no Databricks credentials found in {where}: set DATABRICKS_HOST and DATABRICKS_TOKEN, or pass "
            f"--profile NAME for a profile in {config_file()} (or set DATABRICKS_CONFIG_PROFILE)"
        )
    return f"Databricks configuration problem: {first.split('. Config:')[0]}"


@contextlib.contextmanager
def api_errors(what: str, host: str | None = None) -> Iterator[None]:
    """Turn SDK and transport exceptions raised while doing ``what`` into one-line LakeflowErrors."""
    from databricks.sdk.errors import DatabricksError, NotFound, PermissionDenied, Unauthenticated

    try:
        yield
    except LakeflowError:
        raise
    except (PermissionDenied, Unauthenticated) as exc:
        message = _sdk_message(exc)
        if "Invalid access token" in message or isinstance(exc, Unauthenticated):
            raise LakeflowError(
                f"Databricks rejected the credentials while trying to {what} ({message}); create a "
                "new token and set DATABRICKS_TOKEN, or fix the profile"
            ) from None
        raise LakeflowError(
            f"permission denied while trying to {what}: {message}; ask a workspace admin for access"
        ) from None
    except NotFound as exc:
        raise NotFoundError(f"{_sdk_message(exc)} (while trying to {what})") from None
    except DatabricksError as exc:
        message = _sdk_message(exc)
        if "does not exist" in message:
            raise NotFoundError(f"{message} (while trying to {what})") from None
        code = exc.error_code or "error"
        raise LakeflowError(f"Databricks refused to {what}: {code}: {message}") from None
    except TimeoutError as exc:
        cause = exc.__cause__ or exc
        raise LakeflowError(
            f"Databricks did not answer in time while trying to {what} ({_sdk_message(cause)}); try again later"
        ) from None
    except ValueError as exc:
        # OAuth token exchanges fail lazily, on the first request, with a plain ValueError
        # (e.g. "invalid_client: Client authentication failed").
        if not re.search(r"client|token|auth|credential", str(exc), re.IGNORECASE):
            raise LakeflowError(f"Databricks could not {what}: {_sdk_message(exc)}") from None
        raise LakeflowError(
            f"Databricks authentication failed while trying to {what} ({_sdk_message(exc)}); check "
            "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET, or the profile's credentials"
        ) from None
    except OSError as exc:  # requests' ConnectionError is an OSError
        raise LakeflowError(
            f"lost the connection to Databricks while trying to {what} ({type(exc).__name__}); "
            "check the host and network, then retry"
        ) from None


def _sdk_message(exc: BaseException) -> str:
    text = str(exc).split(". Config:")[0].split("\n")[0]
    return text or type(exc).__name__
