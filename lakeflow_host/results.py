"""What the operations that make and report on jobs take and return: artifacts, job specs and
jobs, the reports of a launch, a prune and a job's status, and the loaded plugins.

Frozen dataclasses, like :mod:`lakeflow_host.types` (which re-exports them); kept apart so that
commands that only list or watch runs do not pay for creating them.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from pathlib import Path

from lakeflow_host.types import BuilderInfo, Run, RunState, TargetInfo


@dataclasses.dataclass(frozen=True)
class Artifact:
    """What a builder produced on this machine.

    :ivar path: the main file: a ``.whl`` (``kind="wheel"``) or a ``.pex`` (``kind="pex"``).
    :ivar kind: ``"wheel"`` or ``"pex"``.
    :ivar package: the distribution name of the project (``[project] name``).
    :ivar version: the distribution version.
    :ivar companions: wheels of local path dependencies that must be installed with ``path``
        and must never be looked up on a package index.
    :ivar builder: the builder name that produced it.
    :ivar built: ``False`` when the builder reused an earlier build of unchanged sources.
    :ivar requirements: a pip requirements file of exact pins (``name==version`` lines) that a
        job installs together with the wheels, so that runs use the versions the project locked;
        ``None`` when the project has no lock and targets resolve dependencies at job creation.
    """

    path: Path
    kind: str
    package: str
    version: str
    companions: tuple[Path, ...] = ()
    builder: str = ""
    built: bool = True
    requirements: Path | None = None

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file that must travel: the main file first, the requirements file last."""
        return (self.path, *self.companions, *((self.requirements,) if self.requirements else ()))


@dataclasses.dataclass(frozen=True)
class RemoteArtifact:
    """An :class:`Artifact` after upload to a target.

    :ivar target: the target name it was uploaded to.
    :ivar path: where the main file now lives, in the target's own terms; ``create_job`` takes it.
    :ivar companions: where the companion wheels now live.
    :ivar bytes_uploaded: bytes actually sent or copied; 0 when the same bytes were already there.
    """

    target: str
    path: str
    companions: tuple[str, ...] = ()
    bytes_uploaded: int = 0


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """What ``create_job`` is asked to create.

    :ivar name: the job's display name.
    :ivar package: the distribution name whose ``lakeflow-task`` entry point each run executes.
    :ivar artifact: the uploaded main file, as returned in :attr:`RemoteArtifact.path`.
    :ivar max_workers: the size a run's cluster may autoscale to (on the local target, the cap on
        concurrent runs unless ``max_concurrent_runs`` is given).
    :ivar max_concurrent_runs: how many runs of the job may run at once; ``None`` lets the target
        choose.
    :ivar env: environment variables every run sees, as a read-only mapping. The values are
        secrets: a target stores them where job readers cannot see them and never returns them.
    """

    name: str
    package: str
    artifact: str
    max_workers: int = 1
    max_concurrent_runs: int | None = None
    env: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # A read-only copy: a plugin cannot alter what the caller or another plugin sees.
        object.__setattr__(self, "env", types.MappingProxyType(dict(self.env)))


@dataclasses.dataclass(frozen=True)
class Job:
    """A job as the target knows it. Never carries env-var values, only their names."""

    target: str
    job_id: str
    name: str
    package: str
    artifact: str
    max_workers: int
    max_concurrent_runs: int
    env_var_names: tuple[str, ...] = ()
    url: str | None = None
    created_time: float | None = None


@dataclasses.dataclass(frozen=True)
class TriggerFailure:
    """A run that could not be started during a fan-out; the others are unaffected."""

    index: int
    args: tuple[str, ...]
    error: str


@dataclasses.dataclass(frozen=True)
class Launch:
    """What ``launch`` did: the artifact it built and uploaded, the job, and the runs."""

    artifact: Artifact
    remote: RemoteArtifact
    job: Job
    runs: tuple[Run, ...]
    failures: tuple[TriggerFailure, ...] = ()
    #: ``True`` when the project's existing job was updated rather than a new one created.
    updated: bool = False


@dataclasses.dataclass(frozen=True)
class PruneReport:
    """What ``prune`` removed.

    :ivar runs: how many run records (with their logs) were removed.
    :ivar removed: each other thing removed, as the target names it (a folder, an upload).
    :ivar bytes_freed: the bytes those took, as far as the target can tell.
    """

    target: str
    runs: int = 0
    removed: tuple[str, ...] = ()
    bytes_freed: int = 0


@dataclasses.dataclass(frozen=True)
class FailedRun:
    """A run that did not succeed, with the last line of its error."""

    run_id: str
    state: RunState
    error: str
    args: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class JobStatus:
    """How a job's runs are doing, as ``lakeflow status`` shows it.

    :ivar counts: runs per state (states with no run left out).
    :ivar failed: the runs that failed, were canceled or skipped, newest first.
    :ivar artifacts: each artifact the runs used, with the ids of the runs that used it.
    """

    job: Job
    total: int
    counts: Mapping[str, int]
    failed: tuple[FailedRun, ...]
    oldest_start: float | None
    newest_start: float | None
    artifacts: Mapping[str, tuple[str, ...]]


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as ``lakeflow plugins`` shows it."""

    name: str
    kinds: tuple[str, ...]
    builders: tuple[str, ...]
    targets: tuple[str, ...]
    distribution: str | None
    version: str | None
    #: What it declares, with every option: its :class:`BuilderInfo` and :class:`TargetInfo` values.
    provides: tuple[BuilderInfo | TargetInfo, ...] = ()
