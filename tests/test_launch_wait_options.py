"""``launch --wait`` with a target option that shapes only create-job (such as the ray target's
``num_cpus``): the job gets it, and the wait that follows does not trip over it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from support import copy_project

from lakeflow_host import Artifact, Job, JobSpec, Option, RemoteArtifact, Run, RunState, TargetInfo, hookimpl
from lakeflow_host.cli import cli
from lakeflow_host.plugins import registered


class Instant:
    """A target whose runs have ended by the time anyone asks."""

    def __init__(self) -> None:
        self.job_options: list[dict[str, Any]] = []

    @hookimpl
    def targets(self) -> list[TargetInfo]:
        return [TargetInfo("zeta", (Option("cluster", "The cluster.", stages=("job",)),), poll_interval=0.01)]

    @hookimpl
    def list_jobs(self) -> list[Job]:
        return []

    @hookimpl
    def upload_artifact(self, artifact: Artifact) -> RemoteArtifact:
        return RemoteArtifact("zeta", str(artifact.path))

    @hookimpl
    def create_job(self, spec: JobSpec, options: Mapping[str, Any]) -> Job:
        self.job_options.append(dict(options))
        return Job("zeta", "1", spec.name, spec.package, spec.artifact, 1, 1)

    @hookimpl
    def trigger_run(self, job_id: str, args: Sequence[str]) -> Run:
        return Run("zeta", "run-1", job_id, RunState.QUEUED, tuple(args))

    @hookimpl
    def get_run(self, run_id: str) -> Run:
        return Run("zeta", run_id, "1", RunState.SUCCEEDED, (), exit_code=0)


def test_launch_wait_takes_a_create_job_option(home: Path, tmp_path: Path) -> None:
    project = copy_project("tasks", tmp_path)
    target = Instant()
    with registered(target, "zeta_plugin"):
        result = CliRunner().invoke(cli, ["launch", "--target", "zeta", "-o", "cluster=c1", "--wait", str(project)])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["1", "run-1"]
    assert target.job_options == [{"cluster": "c1"}]
