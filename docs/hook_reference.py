"""The "Every hook" section of docs/plugins.md, generated from lakeflow_host/hookspecs.py.

The contract is written once, in the hookspecs' docstrings; this renders it with an example per
hook. ``python docs/hook_reference.py`` prints the section; ``tests/test_docs.py`` checks that the
guide holds exactly what this renders.
"""

from __future__ import annotations

import inspect
import re
import textwrap

from lakeflow_host import hookspecs

#: The order the reference follows: declarations, then builders, then targets' operations.
ORDER = (
    "builders",
    "targets",
    "target_is_configured",
    "build_artifact",
    "upload_artifact",
    "create_job",
    "update_job",
    "delete_job",
    "get_job",
    "list_jobs",
    "trigger_run",
    "list_job_runs",
    "get_run",
    "get_run_logs",
    "cancel_run",
    "prune",
)

EXAMPLES = {
    "builders": """\
OPTIONS = (Option("tool_args", "Extra arguments for mytool.", envvar="MYTOOL_ARGS"),)


@hookimpl
def builders() -> list[BuilderInfo]:
    return [BuilderInfo("prebuilt", OPTIONS, "uses the newest wheel already in PROJECT/dist")]
""",
    "targets": """\
OPTIONS = (
    Option("region", "Where jobs run.", choices=("eu", "us"), default="eu", flag=True, stages=("job",)),
    Option("api_token", "The service's token.", secret=True, envvar="MYSERVICE_TOKEN"),
)


@hookimpl
def targets() -> list[TargetInfo]:
    return [TargetInfo("myservice", OPTIONS, "jobs on MyService", triggers_in_flight=8, poll_interval=2.0)]
""",
    "target_is_configured": """\
@hookimpl
def target_is_configured(options: Mapping[str, Any]) -> bool:
    return bool(options.get("api_token")) or Path("~/.myservice.toml").expanduser().is_file()
""",
    "build_artifact": """\
@hookimpl
def build_artifact(project_dir: Path, output_dir: Path | None, options: Mapping[str, Any]) -> Artifact:
    out = output_dir or project_dir / "dist"
    extra = shlex.split(options.get("tool_args", ""))
    proc = subprocess.run(["mytool", "wheel", str(project_dir), "-o", str(out), *extra], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-20:])
        raise LakeflowError(f"mytool failed for {project_dir}: {tail}")
    wheel = max(out.glob("*.whl"), key=lambda p: p.stat().st_mtime)
    package, version = parse_wheel_name(wheel.name)
    return Artifact(wheel, "wheel", package, version, builder="prebuilt")
""",
    "upload_artifact": """\
@hookimpl
def upload_artifact(artifact: Artifact, options: Mapping[str, Any]) -> RemoteArtifact:
    sent = 0
    for path in artifact.files:
        if not store.has(path.name, file_sha256(path)):
            store.put(path)
            sent += path.stat().st_size
    remote = [store.url(p.name) for p in artifact.files]
    return RemoteArtifact("myservice", remote[0], tuple(remote[1:]), sent)
""",
    "create_job": """\
@hookimpl
def create_job(spec: JobSpec, options: Mapping[str, Any]) -> Job:
    job_id = api.create(spec.name, spec.package, spec.artifact, workers=spec.max_workers, region=options["region"])
    api.put_secrets(job_id, dict(spec.env))
    cap = spec.max_concurrent_runs or spec.max_workers
    return Job(
        "myservice", job_id, spec.name, spec.package, spec.artifact, spec.max_workers, cap, tuple(sorted(spec.env))
    )
""",
    "update_job": """\
@hookimpl
def update_job(job_id: str, spec: JobSpec, options: Mapping[str, Any]) -> Job:
    old_secrets = api.secret_keys(job_id)
    # The service snapshots a job's settings into each run it starts, so earlier runs keep theirs.
    api.replace(job_id, spec.name, spec.package, spec.artifact, workers=spec.max_workers, region=options["region"])
    api.put_secrets(job_id, dict(spec.env))
    if not api.active_runs(job_id):
        api.delete_secrets(old_secrets - api.secret_keys(job_id))
    return get_job(job_id)
""",
    "delete_job": """\
@hookimpl
def delete_job(job_id: str, cancel_runs: bool) -> Job:
    job = get_job(job_id)
    active = api.active_runs(job_id)
    if active and not cancel_runs:
        raise LakeflowError(f"job {job_id} has {len(active)} active runs; wait for them, or pass --cancel-runs")
    for run_id in active:
        api.cancel(run_id)
    api.delete(job_id)
    api.delete_secrets(api.secret_keys(job_id))
    return job
""",
    "get_job": """\
@hookimpl
def get_job(job_id: str) -> Job:
    record = api.find_job(job_id)
    if record is None:
        raise NotFoundError(f"unknown job id {job_id} on target myservice; see `lakeflow list-jobs`")
    return to_job(record)
""",
    "list_jobs": """\
@hookimpl
def list_jobs(name: str | None) -> list[Job]:
    return [to_job(record) for record in api.jobs(tag="lakeflow", name=name, newest_first=True)]
""",
    "trigger_run": """\
@hookimpl
def trigger_run(job_id: str, args: Sequence[str]) -> Run:
    run_id = api.submit(job_id, argv=list(args), token=uuid.uuid4().hex)  # the token makes retries safe
    return Run("myservice", run_id, job_id, RunState.QUEUED, tuple(args), queued_time=time.time())
""",
    "list_job_runs": """\
@hookimpl
def list_job_runs(job_id: str | None) -> list[Run]:
    jobs = [get_job(job_id)] if job_id is not None else list_jobs()
    runs = [to_run(r) for job in jobs for r in api.runs(job.job_id)]
    return sorted(runs, key=lambda run: run.queued_time or 0, reverse=True)
""",
    "get_run": """\
@hookimpl
def get_run(run_id: str) -> Run:
    record = api.run(run_id)
    if record is None:
        raise NotFoundError(f"unknown run id {run_id} on target myservice; see `lakeflow list-job-runs`")
    return to_run(record)
""",
    "get_run_logs": """\
@hookimpl
def get_run_logs(run_id: str) -> RunLogs:
    run = get_run(run_id)
    text, truncated = api.output(run_id, limit=10 * 1024 * 1024)
    note = "the run is queued and has not started yet" if run.state is RunState.QUEUED else None
    error = run.message if run.state is RunState.FAILED else None
    return RunLogs(run_id, run.state, text, error, None, truncated, note)
""",
    "cancel_run": """\
@hookimpl
def cancel_run(run_id: str) -> Run:
    run = get_run(run_id)
    if not run.state.is_final:
        api.cancel(run_id)
        run = get_run(run_id)
    return run
""",
    "prune": """\
@hookimpl
def prune(older_than_days: float) -> PruneReport:
    cutoff = time.time() - older_than_days * 86400
    runs = api.delete_runs(ended_before=cutoff)
    in_use = {job.artifact for job in list_jobs()}
    gone = [u for u in api.uploads(created_before=cutoff) if u.url not in in_use]
    for upload in gone:
        api.delete_upload(upload.url)
    return PruneReport("myservice", len(runs), tuple(u.url for u in gone), sum(u.size for u in gone))
""",
}

INTRO = """\
## Every hook

This section is generated from `lakeflow_host/hookspecs.py` by `python docs/hook_reference.py`
(and `tests/test_docs.py` checks it word for word), so the contract is written once. Each heading
is the hook's exact signature: the argument names are public API; types come from
`lakeflow_host`. Only the plugin that declared the chosen builder or target is called, so no
implementation checks names. Every operation hook is **firstresult**: its one plugin's answer is
the result, and `None` means "not implemented" (the user is told so in one line).
"""


def specs() -> dict[str, object]:
    return {name: getattr(hookspecs, name) for name in ORDER}


def signature(name: str) -> str:
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def heading(name: str) -> str:
    return f"### {name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})"


def contract(name: str) -> str:
    """The hookspec's docstring as Markdown: reST fields become a list."""
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    doc = re.sub(r"``([^`]+)``", r"`\1`", doc)
    doc = re.sub(r":(?:func|class|data|mod):`~?(?:lakeflow_host\.)?([^`]+)`", r"`\1`", doc)
    doc = re.sub(r"^:param (\w+):", r"- `\1`:", doc, flags=re.M)
    doc = re.sub(r"^:return:", "- returns:", doc, flags=re.M)
    return textwrap.dedent(doc).strip()


def firstresult(name: str) -> bool:
    return bool(getattr(hookspecs, name).lakeflow_spec.get("firstresult"))


def section(name: str) -> str:
    mark = "\n\n**firstresult**" if firstresult(name) else ""
    return (
        f"{heading(name)}\n\n```python\n{signature(name)}\n```\n\n{contract(name)}{mark}\n\n"
        f"```python\n{EXAMPLES[name]}```\n"
    )


def render() -> str:
    return INTRO + "\n" + "\n".join(section(name) for name in ORDER)


if __name__ == "__main__":
    print(render(), end="")
