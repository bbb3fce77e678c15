"""Really runs a python_wheel_task: installs the task's wheels into a venv with uv and calls the
wheel's entry point in a child process, the way a job cluster's driver would.

Venvs are cached by the content hashes of the wheels: a new job cluster per run would install the
same bytes, so reusing the venv changes nothing the task can observe but saves seconds per run.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

# Runs inside the task's venv: find the entry point the way a wheel task does (package metadata
# first, then `package.entry_point()` as the Jobs API docs describe) and call it with the params.
# A SystemExit out of the entry point, even SystemExit(0), fails the task: field reports of Click
# apps (which raise it on success) failing as wheel tasks (RW-39: ISSUE-azdocs116964,
# ISSUE-kedro1807, kedro PR 3191 "Exit: 0" traceback); the runner itself is undocumented, so
# this is the strict side.
BOOTSTRAP = r"""
import importlib, importlib.metadata as md, sys, traceback
package, entry_point, params = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    dist = md.distribution(package)
except md.PackageNotFoundError:
    dist = None
eps = [e for e in (dist.entry_points if dist else []) if e.name == entry_point]
eps.sort(key=lambda e: e.group != "console_scripts")
func = eps[0].load() if eps else getattr(importlib.import_module(package), entry_point)
sys.argv = [package, *params]
try:
    result = func()
except SystemExit:
    traceback.print_exc()
    sys.stdout.flush()
    sys.exit(1)
sys.exit(result if isinstance(result, int) else 0)
"""


class InstallError(Exception):
    """Library installation failed; the run ends in INTERNAL_ERROR like LIBRARY_INSTALLATION_ERROR."""


@dataclass
class Outcome:
    exit_code: int | None  # None: killed (cancel or timeout)
    output: bytes
    timed_out: bool = False


class Runner:
    def __init__(self, root: Path, uv_bin: str, task_timeout: float):
        self._root = root
        self._uv = uv_bin
        self._timeout = task_timeout
        self._venv_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self._closed = False

    def _uv_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV", "PIP_"))}
        env.update(UV_CACHE_DIR=str(self._root / "uv-cache"), UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never")
        return env

    def venv_for(self, wheels: dict[str, bytes], pip_lines: list[str]) -> Path:
        """A venv with exactly these wheels (name -> bytes) installed from their bytes; their own
        dependencies come from the package index, as on a cluster."""
        digest = hashlib.sha256()
        for name in sorted(wheels):
            digest.update(name.encode() + b"\0" + hashlib.sha256(wheels[name]).digest())
        for line in sorted(pip_lines):
            digest.update(b"pip\0" + line.encode())
        key = digest.hexdigest()[:16]
        with self._lock:
            lock = self._venv_locks.setdefault(key, threading.Lock())
        venv = self._root / "venvs" / key
        with lock:
            if (venv / ".ready").exists():
                return venv
            wheel_dir = self._root / "wheels" / key
            wheel_dir.mkdir(parents=True, exist_ok=True)
            for name, data in wheels.items():
                (wheel_dir / name).write_bytes(data)
            self._check([self._uv, "venv", "-q", "--python", sys.executable, str(venv)])
            # Each uploaded wheel is named explicitly, so its name is never looked up on the index;
            # what those wheels require from PyPI is, as a cluster's library install does.
            self._check(
                [
                    self._uv,
                    "pip",
                    "install",
                    "-q",
                    "--find-links",
                    str(wheel_dir),
                    "--python",
                    str(venv / "bin" / "python"),
                    *[str(wheel_dir / n) for n in sorted(wheels)],
                    *pip_lines,
                ]
            )
            (venv / ".ready").write_text("ok")
            return venv

    def _check(self, cmd: list[str]) -> None:
        try:
            done = subprocess.run(cmd, capture_output=True, env=self._uv_env(), timeout=300)
        except subprocess.TimeoutExpired as exc:
            raise InstallError(f"Library installation timed out: {exc}") from exc
        if done.returncode != 0:
            raise InstallError(done.stderr.decode("utf-8", "replace").strip()[-4000:])

    def run(
        self,
        venv: Path,
        package: str,
        entry_point: str,
        params: list[str],
        env: dict[str, str],
        on_start=None,
        timeout: float | None = None,
    ) -> Outcome:
        """Run the entry point; `on_start(proc)` lets the caller record the process for cancel."""
        task_env = {
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(self._root / "home"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            **env,
        }
        (self._root / "home").mkdir(exist_ok=True)
        with self._lock:
            if self._closed:
                return Outcome(None, b"")
            proc = subprocess.Popen(
                [str(venv / "bin" / "python"), "-c", BOOTSTRAP, package, entry_point, *params],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=task_env,
                cwd=str(self._root / "home"),
                start_new_session=True,
            )  # own process group, so cancel kills the task's children too
            self._procs.add(proc)
        if on_start is not None:
            on_start(proc)
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=min(self._timeout, timeout or self._timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
            kill(proc)
            out, _ = proc.communicate()
        finally:
            with self._lock:
                self._procs.discard(proc)
        code = proc.returncode
        return Outcome(None if code is not None and code < 0 else code, out, timed_out)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            procs = list(self._procs)
        for proc in procs:
            kill(proc)


def kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
