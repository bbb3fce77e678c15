"""A real single-node Ray head on 127.0.0.1 for the ``ray`` target's tests, one per session."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_support import CLUSTER_SECRET, CLUSTER_SECRET_NAME

_START_TIMEOUT = 120
_STOP_TIMEOUT = 45


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ray_cli() -> str:
    found = Path(sys.executable).parent / "ray"
    return str(found) if found.exists() else shutil.which("ray") or "ray"


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """Start ``ray start --head --block`` (2 CPUs, dashboard on 127.0.0.1) in its own temp dir
    and session; stop it at the end: SIGTERM lets Ray drain and stop its processes, and the
    process group is killed if that takes too long."""
    job_submission = pytest.importorskip(
        "ray.job_submission", reason="Ray is not installed; pip install -e '.[test,ray]'"
    )
    # Short: Ray's socket paths live under it and must fit in 107 bytes.
    temp = tempfile.mkdtemp(prefix="lfray", dir="/tmp")
    port = _free_port()
    address = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    # Tests talk to 127.0.0.1 only. On Linux Ray replaces a --node-ip-address of 127.0.0.1 with
    # the machine's own address for GCS and raylets (services.resolve_ip_for_localhost) unless
    # "cluster mode" is off, as it is by default on macOS and Windows: then it stays on loopback.
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    env[CLUSTER_SECRET_NAME] = CLUSTER_SECRET
    log = open(Path(temp) / "ray-start.log", "wb")
    proc = subprocess.Popen(
        [_ray_cli(), "start", "--head", "--block", "--port", "0", "--node-ip-address", "127.0.0.1",
         "--dashboard-host", "127.0.0.1", "--dashboard-port", str(port), "--include-dashboard", "true",
         "--num-cpus", "2", "--temp-dir", temp, "--disable-usage-stats"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {proc.returncode}; see {temp}/ray-start.log")
            try:
                job_submission.JobSubmissionClient(address).list_jobs()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Ray did not answer at {address} within {_START_TIMEOUT}s") from None
                time.sleep(0.5)
        yield address
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def ray_env(home: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh lakeflow home whose default target is the session's Ray head (via RAY_ADDRESS)."""
    monkeypatch.setenv("RAY_ADDRESS", ray_address)
    monkeypatch.setenv("LAKEFLOW_TARGET", "ray")
    yield {"RAY_ADDRESS": ray_address}
    # Nothing a test started may outlive it: its pumps, and its runs on the shared head.
    for lock in (home / "ray" / "locks").glob("pump-*.lock"):
        text = lock.read_text().strip()
        if text.isdigit():
            try:
                os.kill(int(text), signal.SIGKILL)
            except ProcessLookupError:
                pass
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_address)
    for job in client.list_jobs():
        if not job.status.is_terminal() and job.submission_id:
            client.stop_job(job.submission_id)
