"""Executing a run as a job cluster would: fetch libraries, resolve secrets and dynamic values,
install the wheels, run the entry point, and record the outcome (fact sheet §13.9).

`RunExecution` is a mixin of `Jobs`; it shares its lock and stores.
"""

from __future__ import annotations

import re
import secrets
import time

from .pythons import install_problem, python_of
from .runner import InstallError, kill
from .runs import Run

SECRET_REF = re.compile(r"\{\{secrets/([^/{}]+)/([^/{}]+)\}\}")
DYNAMIC_REF = re.compile(r"\{\{\s*(job\.run_id|job\.id|task\.run_id|task\.name)\s*\}\}")


class RunExecution:
    def _execute_run(self, run: Run) -> None:
        token = "dkea" + secrets.token_hex(16)
        try:
            self._execute_inner(run, token)
        except Exception as exc:  # a bug here must fail the run, not hang it
            with self._lock:
                if run.active:
                    run.finish(
                        "INTERNAL_ERROR",
                        "FAILED",
                        "INTERNAL_ERROR",
                        "INTERNAL_ERROR",
                        f"Test server: {exc!r}",
                    )
        finally:
            self.cluster_tokens.pop(token, None)
            self._promote(run.job_id)

    def _execute_inner(self, run: Run, token: str) -> None:
        with self._lock:
            if run.cancel_requested or self._closed:
                return self._canceled(run)
        wheels, pip_lines, missing = self._libraries(run.task)
        if missing:
            with self._lock:
                return run.finish(
                    "INTERNAL_ERROR",
                    "FAILED",
                    "LIBRARY_INSTALLATION_ERROR",
                    "CLIENT_ERROR",
                    f"Library installation failed: The library file does not exist: {missing}",
                )
        problem = self.compute.run_start_problem(run.task, run.task.get("_run_as") or self._user)
        if problem:
            with self._lock:
                return run.finish("INTERNAL_ERROR", "FAILED", "INVALID_CLUSTER_REQUEST", "CLIENT_ERROR", problem)
        python = python_of(run.task, self.compute.spark_version_of(run.task))
        problems = [p for name, data in wheels.items() if (p := install_problem(name, data, python or "0"))]
        if python is None or problems:
            with self._lock:
                return run.finish(
                    "INTERNAL_ERROR",
                    "FAILED",
                    "LIBRARY_INSTALLATION_ERROR",
                    "CLIENT_ERROR",
                    "Library installation failed: "
                    + (problems[0] if python else "unknown runtime or environment version"),
                )
        env, bad_ref = self._cluster_env(run.task)
        # What the runtime gives DBUtils: this task's own credentials, acting as the run-as
        # identity, for `secrets/get` (a stand-in for the cluster's native dbutils).
        identity = run.task.get("_run_as") or self._user
        self.cluster_tokens[token] = identity
        env.update(DATABRICKS_HOST=self.host, DATABRICKS_TOKEN=token)
        if bad_ref:
            with self._lock:
                return run.finish(
                    "INTERNAL_ERROR",
                    "FAILED",
                    "INVALID_CLUSTER_REQUEST",
                    "CLIENT_ERROR",
                    f"Secret does not exist with scope and key: {bad_ref}",
                )
        params = [self._resolve(p, run) for p in run.params]
        with self._lock:
            run.resolved_params = params
        if not self._execute:
            with self._lock:
                if run.cancel_requested:
                    return self._canceled(run)
                run.life_cycle = "RUNNING"
            time.sleep(0.05)
            with self._lock:
                return (
                    self._canceled(run)
                    if run.cancel_requested
                    else run.finish("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS", "")
                )
        try:
            venv = self._runner.venv_for(wheels, pip_lines)
        except InstallError as exc:
            with self._lock:
                return run.finish(
                    "INTERNAL_ERROR",
                    "FAILED",
                    "LIBRARY_INSTALLATION_ERROR",
                    "CLIENT_ERROR",
                    f"Library installation failed: {exc}",
                )

        def started(proc) -> None:
            with self._lock:
                self._procs[run.run_id] = proc
                run.life_cycle, run.state_message = "RUNNING", "In run"
                if run.cancel_requested:
                    kill(proc)

        wheel = run.task["python_wheel_task"]
        outcome = self._runner.run(
            venv, wheel["package_name"], wheel["entry_point"], params, env, started, run.task.get("timeout_seconds")
        )
        with self._lock:
            self._procs.pop(run.run_id, None)
            self._store_logs(run, outcome.output)
            if run.cancel_requested or outcome.exit_code is None and not outcome.timed_out:
                return self._canceled(run)
            if outcome.timed_out:
                # SDK TerminationCodeCode: CANCELED is "canceled ... by the Databricks platform; for
                # example, if the maximum run duration was exceeded"; the legacy result is TIMEDOUT.
                return run.finish("TERMINATED", "TIMEDOUT", "CANCELED", "CLIENT_ERROR", "Run timed out.")
            if outcome.exit_code == 0:
                return run.finish("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS", "")
            run.error, run.error_trace = _error_of(run.logs or "", outcome.exit_code)
            run.finish(
                "TERMINATED",
                "FAILED",
                "RUN_EXECUTION_ERROR",
                "CLIENT_ERROR",
                "Workload failed, see run output for details",
            )

    def _libraries(self, task: dict) -> tuple[dict[str, bytes], list[str], str | None]:
        paths = [lib["whl"] for lib in task.get("libraries") or [] if "whl" in lib]
        # A pypi library is a requirement for the index, with an optional exact version
        # (compute.py PythonPyPiLibrary.package); the cluster installs it with the wheels.
        pip_lines = [lib["pypi"]["package"] for lib in task.get("libraries") or [] if "pypi" in lib]
        for dep in task.get("_dependencies") or []:
            (paths if dep.startswith(("/Workspace/", "/Volumes/")) else pip_lines).append(dep)
        wheels: dict[str, bytes] = {}
        for path in paths:
            data = self._ws.read(path)
            if data is None:
                return {}, [], path
            wheels[path.rsplit("/", 1)[-1]] = data
        return wheels, pip_lines, None

    def _cluster_env(self, task: dict) -> tuple[dict[str, str], str | None]:
        cluster = task.get("new_cluster") or {}
        env = {
            "DATABRICKS_RUNTIME_VERSION": str(cluster.get("spark_version", "client.1")).split(".x")[0],
            "DB_IS_JOB_CLUSTER": "TRUE",
        }
        identity = task.get("_run_as") or self._user
        for name, value in (cluster.get("spark_env_vars") or {}).items():
            for scope, key in SECRET_REF.findall(value):
                if self._secrets.resolve(scope, key, identity) is None:
                    return {}, f"{scope}/{key}"
            env[name] = SECRET_REF.sub(lambda m: self._secrets.resolve(m[1], m[2], identity) or "", value)
        return env, None

    def _resolve(self, param: str, run: Run) -> str:
        values = {
            "job.run_id": run.run_id,
            "job.id": run.job_id,
            "task.run_id": run.task_run_id,
            "task.name": run.task["task_key"],
        }
        return DYNAMIC_REF.sub(lambda m: str(values[m[1]]), param)

    def _store_logs(self, run: Run, output: bytes) -> None:
        run.logs_truncated = len(output) > self._log_limit
        run.logs = output[-self._log_limit :].decode("utf-8", "replace")

    def _canceled(self, run: Run) -> None:
        run.finish("TERMINATED", "CANCELED", "USER_CANCELED", "SUCCESS", "Run was cancelled by the user.")


def _error_of(logs: str, exit_code: int | None) -> tuple[str, str]:
    """(error, error_trace) from a failed Python process's output, like Databricks shows them."""
    start = logs.rfind("Traceback (most recent call last):")
    if start < 0:
        return f"Process exited with code {exit_code}", logs[-10_000:]
    trace = logs[start:].rstrip()
    lines = [ln for ln in trace.splitlines() if ln.strip()]
    return lines[-1], trace
