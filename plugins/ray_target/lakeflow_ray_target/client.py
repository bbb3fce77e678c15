"""Ray's Job Submission SDK, imported only here and only when a ``ray`` hook needs it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from lakeflow_host import LakeflowError, RunState

INSTALL_HINT = "the ray target needs Ray's Job Submission SDK; install it with pip install 'lakeflow-host[ray]'"

#: Ray's job states (ray.dashboard.modules.job.common.JobStatus) as lakeflow's.
STATES = {
    "PENDING": RunState.QUEUED,
    "RUNNING": RunState.RUNNING,
    "SUCCEEDED": RunState.SUCCEEDED,
    "FAILED": RunState.FAILED,
    "STOPPED": RunState.CANCELED,
}

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def sdk() -> Any:
    """``ray.job_submission``, or the one-line install command."""
    try:
        from ray import job_submission
    except ImportError:
        raise LakeflowError(INSTALL_HINT) from None
    # The SDK logs each package upload at INFO on the root logger's handlers; lakeflow's output
    # stays its own.
    logging.getLogger("ray.dashboard.modules.dashboard_sdk").setLevel(logging.WARNING)
    logging.getLogger("ray._private.runtime_env.packaging").setLevel(logging.WARNING)
    return job_submission


def address(options: Mapping[str, Any]) -> str:
    value = options.get("address")
    if not value:
        raise LakeflowError(
            "no Ray cluster address; pass -o address=http://HOST:8265 (the dashboard's address) or set RAY_ADDRESS"
        )
    return str(value)


def client(where: str) -> Any:
    """One JobSubmissionClient per address and process (it holds an HTTP session)."""
    job_submission = sdk()
    with _lock:
        found = _clients.get(where)
        if found is None:
            try:
                found = _clients[where] = job_submission.JobSubmissionClient(where)
            except (OSError, RuntimeError, ValueError) as exc:
                raise LakeflowError(
                    f"cannot reach the Ray cluster at {where} ({_first_line(exc)}); start it, or fix -o address / RAY_ADDRESS"
                ) from None
        return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def is_duplicate(exc: BaseException) -> bool:
    """Ray refused a submission id it already has (job_manager.py: "already exists")."""
    return "already exists" in str(exc)


def is_missing(exc: BaseException) -> bool:
    """Ray answered that it has no job with this submission id (HTTP 404)."""
    text = str(exc)
    return "404" in text or "does not exist" in text


def call(where: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """``JobSubmissionClient.<method>(...)``, with the cluster's failures as one line."""
    try:
        return getattr(client(where), method)(*args, **kwargs)
    except OSError as exc:  # requests' ConnectionError and timeouts are OSErrors
        raise LakeflowError(f"cannot reach the Ray cluster at {where} ({_first_line(exc)}); is it running?") from None


def info(where: str, submission_id: str) -> Any | None:
    """The cluster's ``JobDetails`` of one submission, or None when the cluster has no such job."""
    try:
        return call(where, "get_job_info", submission_id)
    except RuntimeError as exc:
        if is_missing(exc):
            return None
        raise LakeflowError(f"the Ray cluster at {where} failed: {_first_line(exc)}") from None
