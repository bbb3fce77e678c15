"""Connections and auth as on corporate networks: proxies, profiles next to environment
variables, workspaces that never answer, and replies lost after a job was created."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from databricks_server import DatabricksServer

import lakeflow_host as lf


def one_line_error(result) -> str:
    code = result.returncode if hasattr(result, "returncode") else result.exit_code  # subprocess or click
    assert code == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("Error: ")]
    return line


class _Forwarder(BaseHTTPRequestHandler):
    """A plain HTTP forward proxy: requests sends it absolute URIs; everything goes to `upstream`."""

    upstream: str = ""
    seen: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self) -> None:
        self.seen.append(self.path)
        target = urlsplit(self.upstream)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        path = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        conn.request(self.command, path.path + (f"?{path.query}" if path.query else ""), body or None, headers)
        reply = conn.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward


@pytest.fixture
def proxy(dbx: DatabricksServer) -> Iterator[ThreadingHTTPServer]:
    handler = type("Forwarder", (_Forwarder,), {"upstream": dbx.host, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_workspace_reachable_only_through_the_proxy_works(
    cli, home: Path, dbx: DatabricksServer, proxy: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The workspace's name does not even resolve here: only the proxy can reach it.
    monkeypatch.setenv("DATABRICKS_HOST", "http://workspace.invalid")
    monkeypatch.setenv("DATABRICKS_TOKEN", dbx.token)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert cli("list-jobs").exit_code == 0
    assert any(p.startswith("http://workspace.invalid/api/") for p in proxy.RequestHandlerClass.seen)


def test_no_proxy_hosts_are_probed_directly(cli, dbx_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert cli("list-jobs").exit_code == 0


def test_a_profile_next_to_environment_credentials_is_refused(
    cli, dbx_env: dict, dbx: DatabricksServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "databrickscfg"
    config.write_text(f"[prod]\nhost = {dbx.host}\ntoken = {dbx.token}\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(config))
    message = one_line_error(cli("list-jobs", "--profile", "prod", check=False))
    assert "--profile prod" in message and "DATABRICKS_HOST" in message and "DATABRICKS_TOKEN" in message
    assert not [r for r in dbx.recorded() if r.path.startswith("/api/")]  # nothing ran on either workspace
    monkeypatch.delenv("DATABRICKS_HOST")
    monkeypatch.delenv("DATABRICKS_TOKEN")
    assert cli("list-jobs", "--profile", "prod").exit_code == 0


class _Mute:
    """Accepts connections and reads requests; answers only paths in `answer` (404), never others."""

    def __init__(self, answer: tuple[str, ...] = ()):
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.host = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        buffer = b""
        while not self.stop.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                if path.startswith(self.answer):
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for conn in self.conns:
            conn.close()
        self.thread.join(timeout=5)


@pytest.mark.parametrize("answer", [(), ("/.well-known/",)], ids=["never-answers", "answers-only-the-probe"])
def test_a_workspace_that_never_answers_fails_within_the_bound(lakeflow, home: Path, answer: tuple) -> None:
    mute = _Mute(answer)
    try:
        env = {"DATABRICKS_HOST": mute.host, "DATABRICKS_TOKEN": "dapi-x", "LAKEFLOW_DATABRICKS_RESPONSE_TIMEOUT": "3"}
        start = time.monotonic()
        result = lakeflow("list-jobs", "--target", "databricks", env=env, check=False, timeout=60)
        took = time.monotonic() - start
    finally:
        mute.close()
    message = one_line_error(result)
    assert "did not answer within 3 s" in message and "response_timeout" in message
    assert f"waiting for Databricks workspace {mute.host}" in result.stderr  # said what it waited for
    assert took < 45, took  # not the SDK's minutes (60 s per attempt, retried for 2 minutes)


def test_a_lost_reply_to_create_job_makes_one_job(
    dbx_env: dict, dbx: DatabricksServer, dbx_project: lf.Artifact
) -> None:
    remote = lf.upload_wheel(dbx_project, target="databricks")
    dbx.faults.drop_creates = 1  # the job is created, the reply never arrives
    job = lf.create_job("once", dbx_project.package, remote.path, target="databricks")
    jobs = dbx.jobs.all_jobs()
    assert [str(j["job_id"]) for j in jobs] == [job.job_id]
    creates = [r for r in dbx.recorded() if r.path == "/api/2.2/jobs/create"]
    assert len(creates) == 1 and creates[0].status == -1
    assert job.name == "once" and job.artifact == remote.path


@pytest.mark.parametrize("oauth", [False, True], ids=["token-no-host-metadata", "oauth-host-metadata"])
def test_a_new_client_asks_for_host_metadata_once(
    cli, home: Path, dbx_root: Path, monkeypatch: pytest.MonkeyPatch, oauth: bool
) -> None:
    # The reachability probe is the SDK's host-metadata request: a new client sends it once (a
    # bare SDK script sends it too), then its real calls. A second one was a round trip on every
    # `lakeflow trigger-run` (issue 10: start-up within 1.1x of a bare SDK script).
    clients = {"sp-id": "sp-secret"} if oauth else None
    with DatabricksServer(token="dapi-t", oauth_clients=clients, root=dbx_root) as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.host)
        if oauth:
            monkeypatch.setenv("DATABRICKS_CLIENT_ID", "sp-id")
            monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", "sp-secret")
        else:
            monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-t")
        assert cli("list-jobs").exit_code == 0
        paths = [r.path.split("?")[0] for r in server.recorded()]
        # The answer is kept for the day: the next command (a new client) asks nothing before its call.
        start = len(server.recorded())
        assert cli("list-jobs").exit_code == 0
        again = [r.path.split("?")[0] for r in server.recorded()[start:]]
    assert paths.count("/.well-known/databricks-config") == 1, paths
    assert "/api/2.2/jobs/list" in paths
    assert ("/oidc/v1/token" in paths) is oauth  # OAuth found its endpoints in the probe's answer
    assert "/.well-known/databricks-config" not in again and "/api/2.2/jobs/list" in again, again


def test_a_trigger_run_sends_jobs_get_and_run_now_only(lakeflow, dbx: DatabricksServer, dbx_job: lf.Job) -> None:
    """The reachability bound rides on the SDK's own first request (host metadata, which a bare
    databricks-sdk script sends too), not on a probe of its own before it, and once the host's
    answer is known (the job's creation asked), not even that (issue 10 start-up)."""
    sent = []
    for _ in range(2):  # the first also learns the run page URL's shape (one runs/get, kept for a day)
        start = len(dbx.recorded())
        lakeflow("trigger-run", dbx_job.job_id, "--target", "databricks", "--", "x")
        sent.append([r.path.split("?")[0] for r in dbx.recorded()[start:]])
    assert "/.well-known/databricks-config" not in sent[0], sent
    assert sent[1] == ["/api/2.2/jobs/get", "/api/2.2/jobs/run-now"], sent


def test_a_remembered_answer_others_could_write_is_not_trusted(
    lakeflow, home: Path, dbx: DatabricksServer, dbx_env: dict
) -> None:
    """The host's metadata names the OIDC endpoint OAuth sends its client secret to: a file
    anyone else may write is asked again, never believed."""
    lakeflow("list-jobs", "--target", "databricks")
    (memo,) = (home / "cache").glob("databricks-memo-*.json")
    assert memo.stat().st_mode & 0o777 == 0o600
    memo.chmod(0o666)
    start = len(dbx.recorded())
    lakeflow("list-jobs", "--target", "databricks")
    assert "/.well-known/databricks-config" in [r.path for r in dbx.recorded()[start:]]


def test_a_remembered_host_that_went_away_fails_at_once(lakeflow, home: Path, dbx_root: Path) -> None:
    """With the host's metadata remembered a new command sends no probe: its first real request
    says the host cannot be reached in one line, as the probe would, instead of retrying for
    the response timeout (60 s)."""
    with DatabricksServer(token="dapi-t", root=dbx_root) as server:
        env = {"DATABRICKS_HOST": server.host, "DATABRICKS_TOKEN": "dapi-t"}
        lakeflow("list-jobs", "--target", "databricks", env=env)
    start = time.monotonic()
    result = lakeflow("list-jobs", "--target", "databricks", env=env, check=False, timeout=120)
    assert time.monotonic() - start < 15
    assert f"cannot reach Databricks workspace {server.host}" in one_line_error(result)
