"""Run records and their JSON views (runs/get, runs/list, get-output metadata), fact sheet §8, §13.9-13.12."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

ACTIVE = ("QUEUED", "PENDING", "RUNNING", "TERMINATING")
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
STATUS_OF = {
    "QUEUED": "QUEUED",
    "PENDING": "PENDING",
    "RUNNING": "RUNNING",
    "TERMINATING": "TERMINATING",
    "TERMINATED": "TERMINATED",
    "SKIPPED": "TERMINATED",
    "INTERNAL_ERROR": "TERMINATED",
}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Run:
    run_id: int
    task_run_id: int
    job_id: int
    task: dict  # the job's task settings at trigger time
    params: list[str]  # python_params of run-now, else the task's parameters
    overriding: dict
    idempotency_token: str | None
    life_cycle: str = "PENDING"
    result: str | None = None
    state_message: str = ""
    queue_code: str | None = None
    termination: dict | None = None
    start_time: int = field(default_factory=now_ms)
    end_time: int = 0
    resolved_params: list[str] | None = None
    logs: str | None = None
    logs_truncated: bool = False
    error: str | None = None
    error_trace: str | None = None
    cancel_requested: bool = False
    deleted: bool = False

    @property
    def active(self) -> bool:
        return self.life_cycle in ACTIVE

    def finish(self, life_cycle: str, result: str | None, code: str, kind: str, message: str) -> None:
        self.life_cycle, self.result, self.state_message = life_cycle, result, message
        self.termination = {"code": code, "type": kind, "message": message}
        self.end_time = now_ms()
        self.queue_code = None

    def _state(self) -> dict:
        state = {
            "life_cycle_state": self.life_cycle,
            "state_message": self.state_message,
            "user_cancelled_or_timedout": self.termination is not None
            and self.termination["code"] in ("USER_CANCELED", "RUN_TIMED_OUT"),
        }
        if self.result is not None:
            state["result_state"] = self.result
        if self.queue_code:
            state["queue_reason"] = "Queued due to reaching maximum concurrent runs of the job."
        return state

    def _status(self) -> dict:
        status: dict = {"state": STATUS_OF[self.life_cycle]}
        if self.queue_code:
            status["queue_details"] = {
                "code": self.queue_code,
                "message": "Queued due to reaching maximum concurrent runs of the job.",
            }
        if self.termination is not None:
            status["termination_details"] = dict(self.termination)
        return status

    def _times(self) -> dict:
        end = self.end_time
        return {
            "start_time": self.start_time,
            "end_time": end,
            "run_duration": (end - self.start_time) if end else 0,
            "setup_duration": 0,
            "execution_duration": 0,
            "cleanup_duration": 0,
        }

    def page_url(self, host: str, run_id: int | None = None) -> str:
        return f"{host}/?o=1234567890#job/{self.job_id}/run/{run_id or self.run_id}"

    def _states(self, legacy: bool) -> dict:
        # RW-31: `state` is deprecated in favour of `status`; a server may leave it out.
        return {"state": self._state(), "status": self._status()} if legacy else {"status": self._status()}

    def task_view(self, host: str, legacy: bool = True) -> dict:
        wheel_task = dict(self.task["python_wheel_task"])
        wheel_task["parameters"] = list(self.params)
        view = {
            "task_key": self.task["task_key"],
            "run_id": self.task_run_id,
            "attempt_number": 0,
            **self._states(legacy),
            **self._times(),
            "python_wheel_task": wheel_task,
            "run_page_url": self.page_url(host, self.task_run_id),
        }
        for key in ("new_cluster", "existing_cluster_id", "environment_key", "libraries", "timeout_seconds"):
            if key in self.task:
                view[key] = self.task[key]
        if self.resolved_params is not None:
            view["resolved_values"] = {"python_wheel_task": {"parameters": list(self.resolved_params)}}
        return view

    def view(self, host: str, with_tasks: bool = True, legacy: bool = True) -> dict:
        view = {
            "job_id": self.job_id,
            "run_id": self.run_id,
            "number_in_job": self.run_id,
            "creator_user_name": "",
            "run_name": "",
            "run_type": "JOB_RUN",
            "trigger": "ONE_TIME",
            "attempt_number": 0,
            **self._states(legacy),
            **self._times(),
            "run_page_url": self.page_url(host),
            "overriding_parameters": dict(self.overriding),
            "job_parameters": [],
            "format": "MULTI_TASK",
        }
        if with_tasks:
            view["tasks"] = [self.task_view(host, legacy)]
        return view

    def task_run_as_run(self, host: str, legacy: bool = True) -> dict:
        """runs/get on a task run id returns that task run's view (CHOICE, §13.10)."""
        view = self.task_view(host, legacy)
        view.update(job_id=self.job_id, number_in_job=self.task_run_id, run_type="JOB_RUN", parent_run_id=self.run_id)
        return view
