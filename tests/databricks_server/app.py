"""The HTTP face of the Databricks-compatible test server: routing, auth, faults, request log.

Paths, API versions, status codes and error bodies follow the fact sheet §13. The server listens
on 127.0.0.1 only, on a random port, and stops its threads and task processes on `close()`.
"""

from __future__ import annotations

import base64
import collections
import json
import random
import secrets
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from .compute import Compute
from .errors import ApiError, malformed
from .jobs import Jobs
from .runner import Runner
from .scopes import Secrets
from .uploads import files_api, import_file
from .validate import validate_settings
from .workspace import Workspace

USER = "lakeflow-test@example.com"


@dataclass
class Faults:
    """Fault injection knobs; change them at any time, they apply to the next request."""

    latency: float = 0.0  # seconds added to every request, as a network round trip would
    p503: float = 0.0  # share of API requests answered 503 TEMPORARILY_UNAVAILABLE
    p429: float = 0.0  # share answered 429 REQUEST_LIMIT_EXCEEDED with Retry-After
    retry_after: int = 1  # seconds, sent in Retry-After (the SDK honours integers only)
    p_drop_run_now: float = 0.0  # share of run-now calls committed and then left without a reply
    drop_creates: int = 0  # how many of the next jobs/create calls are committed, then left without a reply
    # Accept at most this many run-now calls in any one second (0: no limit); the others are
    # answered 429 REQUEST_LIMIT_EXCEEDED with Retry-After, as a workspace's per-endpoint rate
    # limit does (Databricks "Resource limits": run-now is rate limited per workspace; CHOICE:
    # a sliding one-second window, Retry-After in whole seconds as the SDK parses it).
    run_now_per_second: int = 0
    paths: tuple[str, ...] = ("/api/",)  # prefixes the 503/429 faults apply to
    seed: int = 1234
    _rng: random.Random = field(init=False, repr=False)
    _run_nows: collections.deque = field(init=False, repr=False, default_factory=collections.deque)
    _rate_lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def over_run_now_limit(self) -> bool:
        """Counts a run-now against the one-second window; True when it must be refused."""
        if self.run_now_per_second <= 0:
            return False
        with self._rate_lock:
            now = time.monotonic()
            while self._run_nows and self._run_nows[0] <= now - 1.0:
                self._run_nows.popleft()
            if len(self._run_nows) >= self.run_now_per_second:
                return True
            self._run_nows.append(now)
            return False

    def roll(self, share: float) -> bool:
        return share > 0 and self._rng.random() < share


@dataclass
class Recorded:
    method: str
    path: str  # path and query, percent-decoded
    headers: dict[str, str]  # Authorization is left out: tests must not need the token
    body: bytes
    status: int = 0
    time: float = field(default_factory=time.monotonic)


class DatabricksServer:
    def __init__(
        self,
        token: str = "dapi-test-token",
        workers: int = 4,
        execute: bool = True,
        task_timeout: float = 120.0,
        log_limit: int = 5 * 1024 * 1024,
        root: Path | None = None,
        oauth_clients: dict[str, str] | None = None,
        users: dict[str, str] | None = None,
    ):
        from uv import find_uv_bin

        self.token = token
        # Personal access tokens of further users (token -> user name): each request acts as the
        # user its token belongs to, so ACLs (secret scopes) can be tested with several people.
        self.users = {token: USER, **(users or {})}
        self._caller = threading.local()
        # OAuth M2M (client id -> secret): when set, host metadata names an OIDC endpoint and the
        # service principals get short-lived bearer tokens from it (fact sheet §2, §13.1).
        self.oauth_clients = dict(oauth_clients or {})
        self._issued: set[str] = set()
        self.faults = Faults()
        self.requests: list[Recorded] = []
        self._log_lock = threading.Lock()
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="dbx-server-")
        root = Path(root or self._tmp.name)
        self.workspace = Workspace(USER, *self.users.values())
        # The users may create clusters, as whoever set up a workspace can; tests take the
        # entitlement away to act as an ordinary user (RW-7: not granted by default).
        self.compute = Compute()
        for name in set(self.users.values()):
            self.compute.identity(name).entitlements.add("allow-cluster-create")
        self.secrets = Secrets()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.app = self
        self.host = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.jobs = Jobs(
            self.workspace,
            self.secrets,
            Runner(root, find_uv_bin(), task_timeout),
            self.host,
            USER,
            caller=self.caller,
            workers=workers,
            execute=execute,
            log_limit=log_limit,
        )
        self.jobs.compute = self.compute
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="dbx-http", daemon=True
        )
        self._routes = self._route_table()

    def caller(self) -> str:
        """The user (or run-as identity, for a cluster token) of the request being handled."""
        return getattr(self._caller, "user", USER)

    def _secrets_get(self, query: dict, body: dict) -> dict:
        # "This API can only be called from the DBUtils interface" (SDK get_secret; DOC-api-getsecret):
        # a person's token is refused; a running task's token reads what its identity may READ.
        if not getattr(self._caller, "on_cluster", False):
            raise ApiError(400, "BAD_REQUEST", "Secrets can only be read from within a notebook or job (DBUtils).")
        return self.secrets.get_secret(query.get("scope", ""), query.get("key", ""), self.caller())

    def _create_job(self, query: dict, body: dict) -> dict:
        settings = validate_settings(body)
        caller = self.caller()
        run_as = self.compute.check_run_as(settings, caller)
        for task in settings["tasks"]:
            self.compute.check_task(task, caller, settings.get("tags") or {})
        return self.jobs.create(settings, run_as=run_as)

    def start(self) -> DatabricksServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join(timeout=10)
        self.jobs.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> DatabricksServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, rec: Recorded) -> None:
        with self._log_lock:
            self.requests.append(rec)

    def recorded(self) -> list[Recorded]:
        with self._log_lock:
            return list(self.requests)

    def _route_table(self) -> dict:
        ws, sec, jobs = self.workspace, self.secrets, self.jobs
        return {
            ("GET", "/api/2.0/preview/scim/v2/Me"): lambda q, b: {
                "id": str(4242 + sorted(set(self.users.values())).index(self.caller())),
                "userName": self.caller(),
                "displayName": self.caller().split("@")[0],
                "active": True,
                "emails": [{"value": self.caller(), "primary": True}],
                **self.compute.scim_extra(self.caller()),
            },
            ("GET", "/api/2.1/clusters/list-node-types"): lambda q, b: self.compute.list_node_types(),
            ("GET", "/api/2.1/clusters/spark-versions"): lambda q, b: self.compute.list_spark_versions(),
            ("GET", "/api/2.0/policies/clusters/list"): lambda q, b: self.compute.list_policies(self.caller()),
            ("GET", "/api/2.0/policies/clusters/get"): lambda q, b: self.compute.get_policy(
                q.get("policy_id", ""), self.caller()
            ),
            ("POST", "/api/2.0/workspace/mkdirs"): lambda q, b: ws.mkdirs(b.get("path")),
            ("GET", "/api/2.0/workspace/get-status"): lambda q, b: ws.get_status(q.get("path")),
            ("GET", "/api/2.0/workspace/list"): lambda q, b: ws.list(q.get("path")),
            ("GET", "/api/2.0/workspace/export"): lambda q, b: ws.export(
                q.get("path"), q.get("direct_download") == "true"
            ),
            ("POST", "/api/2.0/workspace/delete"): lambda q, b: ws.delete(b.get("path"), bool(b.get("recursive"))),
            ("POST", "/api/2.0/secrets/scopes/create"): lambda q, b: sec.create_scope(b, self.caller()),
            ("POST", "/api/2.0/secrets/scopes/delete"): lambda q, b: sec.delete_scope(b, self.caller()),
            ("GET", "/api/2.0/secrets/scopes/list"): lambda q, b: sec.list_scopes(),
            ("POST", "/api/2.0/secrets/put"): lambda q, b: sec.put(b, self.caller()),
            ("GET", "/api/2.0/secrets/list"): lambda q, b: sec.list_secrets(q.get("scope", ""), self.caller()),
            ("POST", "/api/2.0/secrets/delete"): lambda q, b: sec.delete_secret(b, self.caller()),
            ("POST", "/api/2.0/secrets/acls/put"): lambda q, b: sec.put_acl(b, self.caller()),
            ("GET", "/api/2.0/secrets/acls/list"): lambda q, b: sec.list_acls(q.get("scope", ""), self.caller()),
            ("POST", "/api/2.0/secrets/acls/delete"): lambda q, b: sec.delete_acl(b, self.caller()),
            ("GET", "/api/2.0/secrets/get"): self._secrets_get,
            ("POST", "/api/2.2/jobs/create"): self._create_job,
            ("GET", "/api/2.2/jobs/get"): lambda q, b: jobs.get(q),
            ("GET", "/api/2.2/jobs/list"): lambda q, b: jobs.list(q),
            ("POST", "/api/2.2/jobs/delete"): lambda q, b: jobs.delete(b),
            ("POST", "/api/2.2/jobs/reset"): lambda q, b: jobs.reset(b),
            ("POST", "/api/2.2/jobs/run-now"): lambda q, b: jobs.run_now(b),
            ("GET", "/api/2.2/jobs/runs/get"): lambda q, b: jobs.get_run(q),
            ("GET", "/api/2.2/jobs/runs/list"): lambda q, b: jobs.list_runs(q),
            ("GET", "/api/2.2/jobs/runs/get-output"): lambda q, b: jobs.get_output(q),
            ("POST", "/api/2.2/jobs/runs/cancel"): lambda q, b: jobs.cancel(b),
            ("POST", "/api/2.2/jobs/runs/cancel-all"): lambda q, b: jobs.cancel_all(b),
            ("POST", "/api/2.2/jobs/runs/delete"): lambda q, b: jobs.delete_run(b),
        }

    def handle(self, req: _Handler, method: str) -> None:
        split = urlsplit(req.path)
        path, query = unquote(split.path), dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        rec = Recorded(
            method,
            path + (f"?{split.query}" if split.query else ""),
            {k: v for k, v in req.headers.items() if k.lower() != "authorization"},
            raw,
        )
        self.record(rec)
        if self.faults.latency:  # a network round trip: every request pays it, the unauthenticated too
            time.sleep(self.faults.latency)
        if path == "/.well-known/databricks-config" or path.startswith("/oidc/"):
            return self._unauthenticated(req, rec, path, raw)
        auth = req.headers.get("Authorization")
        if not auth:
            return req.reply(rec, 401, {"error_code": "UNAUTHENTICATED", "message": "No authentication provided."})
        bearer = auth.removeprefix("Bearer ")
        cluster_identity = self.jobs.cluster_tokens.get(bearer)
        if bearer in self.users:
            self._caller.user, self._caller.on_cluster = self.users[bearer], False
        elif bearer in self._issued:
            self._caller.user, self._caller.on_cluster = USER, False
        elif cluster_identity is not None:
            # A running task's own token, as the runtime gives DBUtils (see jobs.cluster_tokens).
            self._caller.user, self._caller.on_cluster = cluster_identity, True
        else:
            return req.reply(rec, 403, {"error_code": 403, "message": "Invalid access token."})
        faults = self.faults
        if path.startswith(faults.paths):
            if faults.roll(faults.p503):
                return req.reply(
                    rec,
                    503,
                    {
                        "error_code": "TEMPORARILY_UNAVAILABLE",
                        "message": "The service is temporarily unavailable.",
                    },
                )
            if faults.roll(faults.p429):
                return req.reply(
                    rec,
                    429,
                    {
                        "error_code": "REQUEST_LIMIT_EXCEEDED",
                        "message": "Too many requests. Please try again later.",
                    },
                    {"Retry-After": str(faults.retry_after)},
                )
        if method == "POST" and path == "/api/2.2/jobs/run-now" and faults.over_run_now_limit():
            return req.reply(
                rec,
                429,
                {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "Too many requests. Please try again later."},
                {"Retry-After": str(faults.retry_after)},
            )
        try:
            result = self._dispatch(method, path, query, raw, req.headers.get("Content-Type") or "")
        except ApiError as err:
            return req.reply(rec, err.status, err.body(), err.headers)
        if path == "/api/2.2/jobs/create" and faults.drop_creates > 0:
            faults.drop_creates -= 1
            rec.status = -1
            return req.drop()
        if path == "/api/2.2/jobs/run-now" and faults.roll(faults.p_drop_run_now):
            # Commit then drop: the run or job exists, the client sees a dropped connection.
            rec.status = -1
            return req.drop()
        if isinstance(result, tuple):  # raw bytes reply (Files API download / HEAD)
            return req.reply_raw(rec, *result)
        return req.reply(rec, 200, result if result is not None else {})

    def _unauthenticated(self, req: _Handler, rec: Recorded, path: str, raw: bytes) -> None:
        if not self.oauth_clients:
            # No host metadata: answered 404 (fact sheet §13.1); the SDK logs a warning and goes on.
            return req.reply(rec, 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"Bad Target: {path}"})
        if path == "/.well-known/databricks-config":
            return req.reply(rec, 200, {"oidc_endpoint": f"{self.host}/oidc", "workspace_id": "1234567890"})
        if path == "/oidc/.well-known/oauth-authorization-server":
            return req.reply(
                rec,
                200,
                {
                    "authorization_endpoint": f"{self.host}/oidc/v1/authorize",
                    "token_endpoint": f"{self.host}/oidc/v1/token",
                },
            )
        if path == "/oidc/v1/token":
            basic = req.headers.get("Authorization", "").removeprefix("Basic ")
            try:
                client_id, _, secret = base64.b64decode(basic).decode().partition(":")
            except ValueError:
                client_id, secret = "", ""
            form = dict(parse_qsl(raw.decode()))
            if self.oauth_clients.get(client_id) != secret or form.get("grant_type") != "client_credentials":
                return req.reply(
                    rec, 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
                )
            token = "oauth-" + secrets.token_hex(16)
            self._issued.add(token)
            return req.reply(rec, 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        return req.reply(rec, 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"Bad Target: {path}"})

    def _dispatch(self, method: str, path: str, query: dict, raw: bytes, ctype: str):
        if path.startswith("/api/2.0/fs/"):
            return files_api(self.workspace, method, path, query, raw)
        if path == "/api/2.0/workspace/import" and method == "POST":
            return import_file(self.workspace, raw, ctype)
        route = self._routes.get((method, path))
        if route is None and method == "GET" and path.startswith("/api/2.0/preview/scim/v2/Groups/"):
            return self.compute.get_group(path.rsplit("/", 1)[1])
        if route is None:
            if any(p == path for _, p in self._routes):
                raise ApiError(405, "BAD_REQUEST", f"Method {method} is not allowed on {path}.")
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"Bad Target: {path}")
        body: dict = {}
        if method == "POST":
            try:
                body = json.loads(raw or b"{}")
            except ValueError as exc:
                raise malformed(f"Invalid JSON given in the body of the request: {exc}") from exc
            if not isinstance(body, dict):
                raise malformed("The request body must be a JSON object.")
        return route(query, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    app: DatabricksServer

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        # Keep-alive connections would otherwise hold handler threads past teardown.
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests' connection pool expects
    # Headers and body leave in one segment (buffered wfile, flushed per request) and without
    # Nagle: otherwise delayed ACKs add ~40 ms to every response and distort latency benchmarks.
    wbufsize = -1
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection frees its thread after this
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests read `requests` instead
        pass

    def _handle(self) -> None:
        self.server.app.handle(self, self.command)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    def reply(self, rec: Recorded, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.reply_raw(rec, status, data, {"Content-Type": "application/json", **(headers or {})})

    def reply_raw(self, rec: Recorded, status: int, data: bytes, headers: dict) -> None:
        rec.status = status
        self.send_response(status)
        for key, value in headers.items():
            if key != "Content-Length":
                self.send_header(key, value)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(data))))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
