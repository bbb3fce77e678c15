"""The HTTP side of the client: a reachability probe that takes the SDK's road, a bound on how long
a command waits for a workspace that does not answer, and POSTs that must not be retried blind.

- databricks-sdk 0.162 sends everything through a plain `requests.Session` (trust_env, no
  `proxies`), so HTTPS_PROXY/NO_PROXY apply (SDK `_base_client.py`; fact sheet RW-37). The probe
  uses requests the same way; a raw socket would ignore the proxy and fail behind it.
- The SDK retries timeouts and dropped connections until its retry budget runs out, per call
  (SDK `_base_client._is_retryable`, `retries.py`). So "no answer" is bounded here, across calls:
  once the workspace has been silent for the bound, the next failure ends the command.
- It also retries a POST whose connection dropped after the server committed it (fact sheet §16,
  RW-41); `jobs/create` has no idempotency token, so that would make a second job. Such a POST
  raises :class:`ReplyLost` instead, which the SDK does not retry; the caller looks the job up.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from lakeflow_host import LakeflowError

#: Seconds without an answer after which a command gives up (option `response_timeout`).
DEFAULT_RESPONSE_TIMEOUT_S = 60.0
RESPONSE_TIMEOUT_ENV = "LAKEFLOW_DATABRICKS_RESPONSE_TIMEOUT"
CONNECT_TIMEOUT_S = 5.0
#: After this long without an answer, stderr says what lakeflow is waiting for.
NOTICE_AFTER_S = 5.0
#: POSTs that create something without an idempotency token: never retried blind.
UNREPEATABLE_POSTS = ("/api/2.2/jobs/create",)


class ReplyLost(Exception):
    """An unrepeatable POST was sent and no reply came back: it may or may not have happened."""


def response_timeout(options: Mapping[str, Any]) -> float:
    raw = options.get("response_timeout") or os.environ.get(RESPONSE_TIMEOUT_ENV)
    if raw in (None, ""):
        return DEFAULT_RESPONSE_TIMEOUT_S
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = 0.0
    if value <= 0:
        raise LakeflowError(
            f"response timeout {raw!r} is not a positive number of seconds; "
            f"set -o response_timeout=SECONDS or {RESPONSE_TIMEOUT_ENV}"
        )
    return value


def silent_error(host: str, bound: float) -> LakeflowError:
    return LakeflowError(
        f"Databricks workspace {host} accepted the connection but did not answer within {bound:g} s; check "
        f"that the host is a Databricks workspace and your proxy or VPN, then retry (waits up to "
        f"-o response_timeout=SECONDS or {RESPONSE_TIMEOUT_ENV})"
    )


class _Notice:
    """Prints one stderr line if a wait lasts longer than NOTICE_AFTER_S."""

    def __init__(self, text: str, bound: float):
        self._timer = threading.Timer(
            min(NOTICE_AFTER_S, bound / 2), lambda: print(f"lakeflow: {text}", file=sys.stderr, flush=True)
        )
        self._timer.daemon = True

    def __enter__(self) -> _Notice:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def probe(host: str, bound: float, verify: bool = True) -> tuple[int, Any]:
    """Fail in seconds, with one line, when the workspace is unreachable or does not answer.
    Any HTTP answer counts (the host-metadata path answers 404 on many workspaces). It asks for the
    host metadata (`/.well-known/databricks-config`), the SDK's own first request, so that the
    answer serves both (client.py): returns the status and the JSON body of a 200, else None."""
    import requests

    url = host.rstrip("/") + "/.well-known/databricks-config"
    waiting = f"waiting for Databricks workspace {host} to answer (up to {bound:g} s)"
    try:
        with _Notice(waiting, bound), requests.Session() as session:
            with session.get(url, timeout=(CONNECT_TIMEOUT_S, bound), allow_redirects=False, verify=verify) as resp:
                status = resp.status_code
                try:
                    body = resp.json() if status == 200 else None
                except ValueError:
                    body = None
    except requests.Timeout as exc:
        if isinstance(exc, requests.ConnectTimeout):
            raise _unreachable(host, "connection timed out") from None
        raise silent_error(host, bound) from None
    except requests.RequestException as exc:
        reason = _reason(exc)
        raise _unreachable(host, reason) from None
    return status, body


def _unreachable(host: str, reason: str) -> LakeflowError:
    return LakeflowError(
        f"cannot reach Databricks workspace {host} ({reason}); check DATABRICKS_HOST or the "
        "profile's host, and your network, proxy (HTTPS_PROXY/NO_PROXY) or VPN"
    )


def _could_not_connect(exc: BaseException) -> bool:
    """No connection was made (refused, no route, unknown name, connect timeout); a connection
    that dropped mid-request is not that."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return True
    todo, seen = [exc], set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        # urllib3's NewConnectionError (NameResolutionError is one), by name: urllib3 comes with
        # requests but is not a dependency of ours to import.
        if any(cls.__name__ == "NewConnectionError" for cls in type(current).__mro__):
            return True
        linked = (*current.args, current.__cause__, current.__context__, getattr(current, "reason", None))
        todo += [e for e in linked if isinstance(e, BaseException)]
    return False


def _reason(exc: BaseException) -> str:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
    text = str(exc)
    for marker in ("Name or service not known", "Connection refused", "No route to host", "Temporary failure"):
        if marker in text:
            return marker
    return type(exc).__name__


class Watch:
    """Tracks how long the workspace has been silent, across every call and thread of a client."""

    def __init__(self, host: str, bound: float, clock: Callable[[], float] = time.monotonic):
        self.host, self.bound, self._clock = host, bound, clock
        self._lock = threading.Lock()
        self._silent_since: float | None = None
        self._answered = False

    def remaining(self) -> float:
        with self._lock:
            if self._silent_since is None:
                return self.bound
            return self.bound - (self._clock() - self._silent_since)

    def unanswered(self, started: float) -> bool:
        """Record a request that got no answer; True once the silence has lasted the bound."""
        with self._lock:
            if self._silent_since is None:
                self._silent_since = started
            return self._clock() - self._silent_since >= self.bound - 0.05

    def answered(self) -> None:
        with self._lock:
            self._silent_since = None
            self._answered = True

    def ever_answered(self) -> bool:
        return self._answered


def install(session: Any, host: str, bound: float) -> Watch:
    """Wrap ``session.send`` (the SDK's own requests session) with the bound and ReplyLost."""
    import requests

    watch = Watch(host, bound)
    send = session.send

    def bounded_send(request: Any, **kwargs: Any) -> Any:
        remaining = watch.remaining()
        if remaining <= 0:
            raise silent_error(host, bound)
        timeout = kwargs.get("timeout")
        read = timeout[1] if isinstance(timeout, tuple) else timeout
        kwargs["timeout"] = (CONNECT_TIMEOUT_S, max(0.5, min(read or remaining, remaining)))
        started = time.monotonic()
        try:
            with _Notice(f"waiting for Databricks workspace {host} to answer (up to {bound:g} s)", bound):
                response = send(request, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            if not watch.ever_answered() and _could_not_connect(exc):
                # The first contact, as the probe would have said it (a command whose host's
                # metadata is remembered sends no probe): not the SDK's retries for minutes.
                raise _unreachable(host, _reason(exc)) from None
            if watch.unanswered(started):
                if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout):
                    raise _unreachable(host, _reason(exc)) from None
                raise silent_error(host, bound) from None
            path = urlsplit(request.url).path
            if request.method == "POST" and path in UNREPEATABLE_POSTS:
                raise ReplyLost(f"no reply to POST {path}") from exc
            raise
        watch.answered()
        return response

    session.send = bounded_send
    return watch
