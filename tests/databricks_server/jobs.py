"""Jobs API 2.2: jobs, run-now with idempotency and concurrency rules, the run state machine.

A run is executed by a worker pool that stands in for job clusters: PENDING while its cluster is
"starting" (waiting for a worker and installing libraries), RUNNING while the wheel's entry point
runs, then TERMINATED with SUCCESS/FAILED/CANCELED or INTERNAL_ERROR when its libraries or
secrets cannot be resolved.
"""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

from .compute import Compute
from .errors import ApiError, invalid, job_missing, require_int, run_missing
from .execution import RunExecution
from .runner import Runner, kill
from .runs import Run, now_ms
from .scopes import Secrets
from .validate import validate_settings
from .workspace import Workspace

MAX_LOG = 5 * 1024 * 1024


class Jobs(RunExecution):
    def __init__(
        self,
        workspace: Workspace,
        secrets: Secrets,
        runner: Runner,
        host: str,
        user: str,
        workers: int,
        execute: bool,
        log_limit: int = MAX_LOG,
        caller=None,
    ):
        self._ws, self._secrets, self._runner = workspace, secrets, runner
        self.host, self._user, self._execute, self._log_limit = host, user, execute, log_limit
        self._lock = threading.RLock()
        self._jobs: dict[int, dict] = {}
        self._runs: dict[int, Run] = {}
        self._task_runs: dict[int, Run] = {}
        self._tokens: dict[str, int] = {}
        self._procs: dict[int, object] = {}
        self._ids = iter(range(1_000_001, 10**12))
        self._caller = caller or (lambda: user)
        # token -> run-as identity, for each running task: what the runtime gives DBUtils.
        self.cluster_tokens: dict[str, str] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dbx-cluster")
        self._closed = False
        #: False: run views carry only Jobs 2.2 `status`, not the deprecated `state` (RW-31).
        self.legacy_state = True
        self.compute = Compute()  # the server shares its own

    # -- jobs ---------------------------------------------------------------------------------
    def create(self, body: dict, run_as: str | None = None) -> dict:
        settings = validate_settings(body)
        with self._lock:
            job_id = next(self._ids)
            self._jobs[job_id] = {
                "job_id": job_id,
                "created_time": now_ms(),
                "creator_user_name": self._caller(),
                # RW-22: runs act as the run-as identity (the creator unless settings.run_as).
                "run_as_user_name": run_as or self._caller(),
                "settings": settings,
            }
        return {"job_id": job_id}

    def get(self, query: dict) -> dict:
        job_id = require_int(query, "job_id")
        with self._lock:
            if job_id not in self._jobs:
                raise job_missing(job_id)
            return self._jobs[job_id]

    def list(self, query: dict) -> dict:
        limit = int(query.get("limit", 20))
        if not 1 <= limit <= 100:
            raise invalid(f"Invalid limit {limit} - it has to be between 1 and 100.")
        name = query.get("name")
        with self._lock:
            jobs = [
                j
                for j in sorted(self._jobs.values(), key=lambda j: -j["job_id"])
                if name is None or j["settings"]["name"].lower() == name.lower()
            ]
        if query.get("expand_tasks") != "true":
            # Like the real service: settings without tasks (and job_clusters) unless expanded.
            jobs = [
                {**j, "settings": {k: v for k, v in j["settings"].items() if k not in ("tasks", "job_clusters")}}
                for j in jobs
            ]
        return _page(jobs, query.get("page_token"), limit, "jobs")

    def reset(self, body: dict) -> dict:
        # jobs/reset overwrites every setting; "changes to other fields [than timeout_seconds]
        # are applied to future runs only" (databricks-sdk 0.162 JobsAPI.reset docstring): each
        # run keeps the task copied at run-now.
        job_id = require_int(body, "job_id")
        if not isinstance(body.get("new_settings"), dict):
            raise invalid("new_settings is required.")
        settings = validate_settings(body["new_settings"])
        with self._lock:
            if job_id not in self._jobs:
                raise job_missing(job_id)
            self._jobs[job_id] = {**self._jobs[job_id], "settings": settings}
        return {}

    def delete(self, body: dict) -> dict:
        job_id = require_int(body, "job_id")
        with self._lock:
            if self._jobs.pop(job_id, None) is None:
                raise job_missing(job_id)
            runs = [r for r in self._runs.values() if r.job_id == job_id and r.active]
        for run in runs:
            self._cancel(run)
        return {}

    # -- run-now ------------------------------------------------------------------------------
    def run_now(self, body: dict) -> dict:
        job_id = require_int(body, "job_id")
        token = body.get("idempotency_token")
        if token is not None and (not isinstance(token, str) or len(token) > 64):
            raise invalid("idempotency_token must be a string of at most 64 characters.")
        params = body.get("python_params")
        if params is not None:
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                raise invalid("python_params must be a list of strings.")
            encoded = _json_len(params)
            if not all(p.isascii() for p in params):
                raise invalid("python_params must contain only ASCII characters.")
            if encoded > 10_000:
                raise invalid(f"python_params must be at most 10000 bytes when JSON encoded, got {encoded}.")
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise job_missing(job_id)
            if token is not None and token in self._tokens:
                # Same token: the same run, never a second one (Jobs API idempotency guarantee).
                return {"run_id": self._tokens[token], "number_in_job": self._tokens[token]}
            settings = job["settings"]
            task = dict(settings["tasks"][0])
            # Runs act as the job's run-as identity, by default its creator (DOC-jobrunas; RW-22).
            run_as = settings.get("run_as") or {}
            task["_run_as"] = (
                run_as.get("user_name") or run_as.get("service_principal_name") or job["creator_user_name"]
            )
            if "environment_key" in task:  # serverless: the run installs its environment's dependencies
                envs = {e["environment_key"]: e for e in settings.get("environments") or []}
                spec = envs[task["environment_key"]].get("spec", {})
                task["_dependencies"] = list(spec.get("dependencies") or [])
                task["_environment_version"] = str(spec.get("environment_version") or spec.get("client") or "")
            run = Run(
                run_id=next(self._ids),
                task_run_id=next(self._ids),
                job_id=job_id,
                task=task,
                params=list(params if params is not None else task["python_wheel_task"].get("parameters", [])),
                overriding={"python_params": params} if params is not None else {},
                idempotency_token=token,
            )
            self._runs[run.run_id] = run
            self._task_runs[run.task_run_id] = run
            if token is not None:
                self._tokens[token] = run.run_id
            active = sum(1 for r in self._runs.values() if r.job_id == job_id and r.active and r is not run)
            queue = body.get("queue") or settings.get("queue") or {}
            limit = settings["max_concurrent_runs"]
            if active < limit:
                self._start(run)
            elif queue.get("enabled"):
                run.life_cycle, run.queue_code = "QUEUED", "MAX_CONCURRENT_RUNS_REACHED"
            else:
                run.finish(
                    "SKIPPED",
                    None,
                    "SKIPPED",
                    "CLIENT_ERROR",
                    f"Skipping this run because the limit of {limit} maximum concurrent runs has been reached.",
                )
        return {"run_id": run.run_id, "number_in_job": run.run_id}

    def _start(self, run: Run) -> None:
        run.life_cycle, run.queue_code = "PENDING", None
        run.state_message = "Waiting for cluster"
        if not self._closed:
            self._pool.submit(self._execute_run, run)

    def _promote(self, job_id: int) -> None:
        with self._lock:
            settings = (self._jobs.get(job_id) or {}).get("settings")
            if settings is None:
                return
            runs = sorted((r for r in self._runs.values() if r.job_id == job_id), key=lambda r: r.run_id)
            free = settings["max_concurrent_runs"] - sum(1 for r in runs if r.active and r.life_cycle != "QUEUED")
            for run in runs:
                if free <= 0:
                    break
                if run.life_cycle == "QUEUED":
                    self._start(run)
                    free -= 1

    # -- execution ----------------------------------------------------------------------------
    # -- runs ---------------------------------------------------------------------------------
    def _find(self, run_id: int, allow_task: bool = True) -> tuple[Run, bool]:
        run = self._runs.get(run_id)
        if run is not None and not run.deleted:
            return run, False
        run = self._task_runs.get(run_id) if allow_task else None
        if run is None or run.deleted:
            raise run_missing(run_id)
        return run, True

    def get_run(self, query: dict) -> dict:
        with self._lock:
            run, is_task = self._find(require_int(query, "run_id"))
            legacy = self.legacy_state
            return run.task_run_as_run(self.host, legacy) if is_task else run.view(self.host, legacy=legacy)

    def get_output(self, query: dict) -> dict:
        with self._lock:
            run, is_task = self._find(require_int(query, "run_id"))
            if not is_task:
                raise invalid(
                    "Retrieving the output of runs with multiple tasks is not supported. "
                    "Please retrieve the output of each individual task run instead."
                )
            out: dict = {"metadata": run.task_run_as_run(self.host, self.legacy_state)}
            if not run.active and run.logs is not None:
                out["logs"], out["logs_truncated"] = run.logs, run.logs_truncated
            if run.error:
                out["error"], out["error_trace"] = run.error, run.error_trace
            return out

    def list_runs(self, query: dict) -> dict:
        active_only = query.get("active_only") == "true"
        completed_only = query.get("completed_only") == "true"
        if active_only and completed_only:
            raise invalid("active_only and completed_only cannot both be true.")
        # RW-32 (SDK list_runs docstring): "greater than 0 and less than 25", default 20, and 0
        # asks for the service maximum. A 2022 server took 26 (ISSUE-464); the documented bound
        # is the strict side for what a client sends. What 0 gives is the maximum of the API
        # reference's schema for `limit`, "[ 1 .. 25 ]" (docs.databricks.com/api/workspace/jobs/
        # listruns; older SDK docstrings: "The default value is 25").
        limit = int(query.get("limit") or 0) if "limit" in query else 20
        if limit < 0 or limit >= 25:
            raise invalid(f"Invalid limit {limit} - it has to be greater than 0 and less than 25.")
        limit = limit or 25
        job_id = int(query["job_id"]) if query.get("job_id") else None
        # SDK list_runs docstring: runs that started "at or after" / "at or before" these UTC
        # milliseconds; a run's start_time is when it was created.
        since = int(query["start_time_from"]) if query.get("start_time_from") else None
        until = int(query["start_time_to"]) if query.get("start_time_to") else None
        with self._lock:
            if job_id is not None and job_id not in self._jobs:
                raise job_missing(job_id)
            runs = [
                r
                for r in self._runs.values()
                if not r.deleted
                and (job_id is None or r.job_id == job_id)
                and (not active_only or r.active)
                and (not completed_only or not r.active)
                and (since is None or r.start_time >= since)
                and (until is None or r.start_time <= until)
            ]
            runs.sort(key=lambda r: (r.start_time, r.run_id), reverse=True)
            expand = query.get("expand_tasks") == "true"
            views = [r.view(self.host, with_tasks=expand, legacy=self.legacy_state) for r in runs]
        return _page(views, query.get("page_token"), limit, "runs")

    def cancel(self, body: dict) -> dict:
        with self._lock:
            run, _ = self._find(require_int(body, "run_id"))
        self._cancel(run)
        return {}

    def _cancel(self, run: Run) -> None:
        with self._lock:
            if not run.active:
                return  # finished: a no-op, like the real service
            run.cancel_requested = True
            if run.life_cycle == "QUEUED":
                self._canceled(run)
            elif run.life_cycle == "RUNNING":
                run.life_cycle = "TERMINATING"
                proc = self._procs.get(run.run_id)
                if proc is not None:
                    kill(proc)

    def cancel_all(self, body: dict) -> dict:
        job_id = body.get("job_id")
        if job_id is None and not body.get("all_queued_runs"):
            raise invalid("Either job_id or all_queued_runs must be specified.")
        with self._lock:
            runs = [r for r in self._runs.values() if r.active and (job_id is None or r.job_id == job_id)]
        for run in runs:
            self._cancel(run)
        return {}

    def delete_run(self, body: dict) -> dict:
        with self._lock:
            run, _ = self._find(require_int(body, "run_id"), allow_task=False)
            if run.active:
                raise ApiError(400, "INVALID_STATE", f"Run {run.run_id} is active and cannot be deleted.")
            run.deleted = True
        return {}

    # -- set-up helpers for tests and benchmarks ------------------------------------------------
    def record_runs(self, job_id: int, arg_lists: list[list[str]], active: bool = False, age_s: float = 0) -> list[int]:
        """Runs of ``job_id`` recorded without executing anything: finished with SUCCESS, or
        active (RUNNING until cancelled), created ``age_s`` seconds ago. Lets a test stand up a
        workspace with thousands of runs in milliseconds."""
        created = now_ms() - int(age_s * 1000)
        ids = []
        with self._lock:
            task = dict(self._jobs[job_id]["settings"]["tasks"][0])
            for args in arg_lists:
                run = Run(
                    run_id=next(self._ids),
                    task_run_id=next(self._ids),
                    job_id=job_id,
                    task=task,
                    params=list(args),
                    overriding={"python_params": list(args)},
                    idempotency_token=None,
                    start_time=created,
                )
                if active:
                    run.life_cycle = "RUNNING"
                else:
                    run.finish("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS", "")
                self._runs[run.run_id] = run
                self._task_runs[run.task_run_id] = run
                ids.append(run.run_id)
        return ids

    def finish_runs(self, run_ids: list[int]) -> None:
        """End recorded active runs with SUCCESS, as if their tasks had exited 0."""
        with self._lock:
            for run_id in run_ids:
                self._runs[run_id].finish("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS", "")

    def add_foreign_job(self, name: str = "someone-elses-job") -> int:
        """A job another tool created (no lakeflow tags), as a busy shared workspace holds."""
        task = {"task_key": "main", "python_wheel_task": {"package_name": "other", "entry_point": "main"}}
        with self._lock:
            job_id = next(self._ids)
            self._jobs[job_id] = {
                "job_id": job_id,
                "created_time": now_ms(),
                "creator_user_name": "someone@example.com",
                "run_as_user_name": "someone@example.com",
                "settings": {"name": name, "tasks": [task], "max_concurrent_runs": 1000},
            }
        return job_id

    # -- introspection for tests --------------------------------------------------------------
    def all_runs(self) -> list[Run]:
        with self._lock:
            return sorted(self._runs.values(), key=lambda r: r.run_id)

    def all_jobs(self) -> list[dict]:
        with self._lock:
            return [self._jobs[k] for k in sorted(self._jobs)]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for run in self._runs.values():
                run.cancel_requested = True
        self._runner.close()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _json_len(params: list[str]) -> int:
    import json

    return len(json.dumps(params).encode())


def _page(items: list, token: str | None, limit: int, key: str) -> dict:
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError as exc:
        raise invalid(f"Invalid page_token {token!r}.") from exc
    page = items[offset : offset + limit]
    out: dict = {"has_more": offset + limit < len(items)}
    if page:
        out[key] = page
    if out["has_more"]:
        out["next_page_token"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
    if offset:
        out["prev_page_token"] = base64.urlsafe_b64encode(str(max(0, offset - limit)).encode()).decode()
    return out
