"""The values that travel between the host, its plugins and users.

They are frozen dataclasses so that a plugin cannot change what another plugin or the user
sees, and so that ``--json`` output is simply :func:`dataclasses.asdict`.

This module holds what every command touches (run states, runs, logs, plugin declarations);
artifacts, jobs, the loaded plugins and the reports of launch, prune and status live in
:mod:`lakeflow_host.results` and are importable from here too. Creating a dataclass costs about
a millisecond at import, and ``lakeflow list-job-runs`` must start quickly.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakeflow_host.options import Option


class RunState(str, enum.Enum):
    """Where a run is in its life. QUEUED and RUNNING are not final; the other four are."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    #: The target refused to start the run (e.g. a concurrency limit with its queue off).
    SKIPPED = "SKIPPED"

    @property
    def is_final(self) -> bool:
        return self not in (RunState.QUEUED, RunState.RUNNING)

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class Run:
    """One execution of a job's task with one argument list.

    :ivar args: the task's ``sys.argv[1:]``.
    :ivar start_time: / :ivar end_time: seconds since the epoch, ``None`` until known.
    :ivar exit_code: the task process's exit code, when the target knows it.
    :ivar message: why the run is in its state (an error, a cancel, a lost process).
    :ivar url: the run's page, when the target has one.
    :ivar artifact: the uploaded artifact the run installs (a job updated by a later ``launch``
        points at a new one; its earlier runs keep theirs), when the target knows it.
    """

    target: str
    run_id: str
    job_id: str
    state: RunState
    args: tuple[str, ...] = ()
    queued_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    exit_code: int | None = None
    message: str | None = None
    url: str | None = None
    artifact: str | None = None

    @property
    def duration(self) -> float | None:
        if self.start_time is None:
            return None
        if self.end_time is None:
            return None
        return self.end_time - self.start_time


@dataclasses.dataclass(frozen=True)
class RunLogs:
    """What a run wrote, as far as the target has it.

    :ivar text: the task's stdout and stderr, interleaved as the target captured them.
    :ivar error: the error the target reported for the run (e.g. an exception summary).
    :ivar error_trace: the error's traceback, when the target has one.
    :ivar truncated: ``True`` when the target kept only part of the output.
    :ivar note: a remark for the reader, e.g. "the run has not started yet".
    """

    run_id: str
    state: RunState
    text: str = ""
    error: str | None = None
    error_trace: str | None = None
    truncated: bool = False
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class BuilderInfo:
    """A builder a plugin provides, as it declares it in its ``builders`` hook.

    :ivar name: what ``--builder`` takes; unique across installed plugins.
    :ivar options: every ``-o`` setting the builder reads.
    :ivar help: one line for ``lakeflow plugins``.
    """

    name: str
    options: tuple[Option, ...] = ()
    help: str = ""


@dataclasses.dataclass(frozen=True)
class TargetInfo:
    """A target a plugin provides, as it declares it in its ``targets`` hook.

    :ivar name: what ``--target`` takes; unique across installed plugins.
    :ivar options: every ``-o`` setting the target reads.
    :ivar help: one line for ``lakeflow plugins``.
    :ivar triggers_in_flight: how many ``trigger_run`` calls a fan-out may make at once (a
        remote API gains from many requests in flight; ``1`` serializes them, which also keeps
        run ids in input order).
    :ivar poll_interval: seconds between two status polls of ``wait`` (a remote target whose
        runs take minutes wants seconds, not a busy loop). A target that declares a ``float``
        option named ``poll_interval`` lets users change it; ``wait`` then uses the option.
    """

    name: str
    options: tuple[Option, ...] = ()
    help: str = ""
    triggers_in_flight: int = 16
    poll_interval: float = 0.5


def to_jsonable(value: Any) -> Any:
    """Turn our dataclasses (and containers of them) into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "env"}
        if isinstance(value, Run):
            out["duration"] = value.duration
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, type):  # an Option's type
        return value.__name__
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


#: The names defined in :mod:`lakeflow_host.results`, importable from here and from lakeflow_host.
RESULT_NAMES = frozenset(
    {
        "Artifact",
        "FailedRun",
        "Job",
        "JobSpec",
        "JobStatus",
        "Launch",
        "PluginInfo",
        "PruneReport",
        "RemoteArtifact",
        "TriggerFailure",
    }
)


def __getattr__(name: str) -> object:
    if name in RESULT_NAMES:
        from lakeflow_host import results

        return getattr(results, name)
    raise AttributeError(f"module 'lakeflow_host.types' has no attribute {name!r}")
