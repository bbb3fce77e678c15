"""1000 runs on the strict test server: requests per poll of `wait` grow with the active runs, not
with the job's history; `list-job-runs` never pages through other tools' runs; a fan-out under the
workspace's run-now rate limit starts every run exactly once. Requests are counted in the server's
request log."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from databricks_server import DatabricksServer
from dbx_helpers import TOKEN

import lakeflow_host as lf
from lakeflow_host import RunState


def _api_requests(server: DatabricksServer, since: int) -> list:
    return [r for r in server.recorded()[since:] if r.path.startswith("/api/")]


def test_wait_on_1000_runs_asks_only_about_the_active_ones(dbx: DatabricksServer, dbx_job: lf.Job) -> None:
    job = int(dbx_job.job_id)
    dbx.jobs.record_runs(job, [[f"done-{i}"] for i in range(950)], age_s=120)
    active = dbx.jobs.record_runs(job, [[f"busy-{i}"] for i in range(50)], active=True, age_s=60)
    runs = lf.list_job_runs(dbx_job.job_id, target="databricks")
    assert len(runs) == 1000
    marks: list[int] = []

    def on_update(seen: list[lf.Run]) -> None:
        marks.append(len(dbx.recorded()))
        if len(marks) == 1:  # ten runs end between the first and the second poll
            dbx.jobs.finish_runs(active[:10])
        if len(marks) == 4:
            dbx.jobs.finish_runs(active[10:])

    start = len(dbx.recorded())
    final = lf.wait(runs, target="databricks", timeout=30, poll_interval=0.05, on_update=on_update)
    assert [r.run_id for r in final] == [r.run_id for r in runs]
    assert all(r.state is RunState.SUCCEEDED for r in final)
    assert sorted(r.args[0] for r in final) == sorted(
        [f"done-{i}" for i in range(950)] + [f"busy-{i}" for i in range(50)]
    )
    per_poll = [b - a for a, b in zip([start, *marks], marks, strict=False)]
    # 50 active runs: two full pages (25 each, limit 0); then 40 (two pages) plus one runs/get for each of
    # the ten that left the active list.
    assert per_poll[0] <= 3, per_poll
    assert per_poll[1] <= 2 + 10, per_poll
    assert all(n <= 3 for n in per_poll[2:4]), per_poll
    gets = [r.path for r in _api_requests(dbx, start) if r.path.startswith("/api/2.2/jobs/runs/get?")]
    assert len(gets) == len(set(gets)) == 50  # each run fetched once, when it finished
    lists = [r.path for r in _api_requests(dbx, start) if r.path.startswith("/api/2.2/jobs/runs/list")]
    assert all("active_only=true" in p and f"job_id={job}" in p for p in lists)


def test_list_job_runs_without_a_job_skips_other_tools_runs(dbx: DatabricksServer, dbx_job: lf.Job, cli) -> None:
    foreign = dbx.jobs.add_foreign_job()
    ours = dbx.jobs.record_runs(int(dbx_job.job_id), [[f"ours-{i}"] for i in range(10)], age_s=600)
    dbx.jobs.record_runs(foreign, [[f"theirs-{i}"] for i in range(5000)])  # newer than ours
    start = len(dbx.recorded())
    runs = lf.list_job_runs(target="databricks")
    assert sorted(int(r.run_id) for r in runs) == ours
    assert len(_api_requests(dbx, start)) <= 5
    start = len(dbx.recorded())
    shown = cli("list-job-runs", "--target", "databricks", "--limit", "3", "--json")
    assert len(__import__("json").loads(shown.stdout)) == 3
    assert len(_api_requests(dbx, start)) <= 5


@pytest.mark.slow
def test_a_fan_out_under_the_run_now_rate_limit_starts_each_run_once(
    dbx_root: Path, dbx_project: lf.Artifact, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    lines = [[f"line-{i}", "two words", f"--flag={i}"] for i in range(200)]
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text("".join(shlex.join(args) + "\n" for args in lines))
    with DatabricksServer(token=TOKEN, workers=4, execute=False, root=dbx_root) as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.host)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        server.faults.run_now_per_second = 20
        project = dbx_project.path.parent.parent
        # The client allows twice the server's rate: the server answers 429 and the SDK retries.
        cli("launch", str(project), "--target", "databricks", "--runs-from", str(runs_file), "-o", "max_rps=40")
        (job,) = server.jobs.all_jobs()
        created = server.jobs.all_runs()
        listed = lf.list_job_runs(str(job["job_id"]), target="databricks")
        run_nows = [r for r in server.recorded() if r.path == "/api/2.2/jobs/run-now"]
    assert any(r.status == 429 for r in run_nows)
    assert len(created) == len(lines)
    assert sorted(r.args for r in listed) == sorted(tuple(args) for args in lines)  # each its own, none twice


def test_a_fan_out_keeps_to_the_default_rate(
    dbx_root: Path, dbx_project: lf.Artifact, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the default 10 run-now per second, a workspace that allows twice that never answers 429
    (without the token bucket, 16 requests in flight go far faster)."""
    with DatabricksServer(token=TOKEN, workers=4, execute=False, root=dbx_root) as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.host)
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
        remote = lf.upload_wheel(dbx_project, target="databricks")
        job = lf.create_job("paced", dbx_project.package, remote.path, target="databricks")
        server.faults.run_now_per_second = 20
        runs, failures = lf.trigger_runs(job.job_id, [[str(i)] for i in range(40)], target="databricks")
        run_nows = [r for r in server.recorded() if r.path == "/api/2.2/jobs/run-now"]
    assert not failures and len(runs) == 40
    assert [r.status for r in run_nows] == [200] * 40


def test_list_job_runs_shows_the_newest_100_in_5_requests(dbx: DatabricksServer, dbx_job: lf.Job) -> None:
    """The issue's goal: the default listing (100 newest runs of lakeflow's jobs), 5,000 foreign
    runs beside them, in at most 5 requests: jobs/list, then four full pages."""
    foreign = dbx.jobs.add_foreign_job()
    ours = dbx.jobs.record_runs(int(dbx_job.job_id), [[f"ours-{i}"] for i in range(150)], age_s=600)
    dbx.jobs.record_runs(foreign, [[f"theirs-{i}"] for i in range(5000)])
    start = len(dbx.recorded())
    runs = lf.list_job_runs(target="databricks")
    assert [int(r.run_id) for r in runs] == sorted(ours, reverse=True)[:100]
    assert len(_api_requests(dbx, start)) <= 5


def test_list_job_runs_asks_for_each_jobs_first_page_at_once(dbx: DatabricksServer, dbx_job: lf.Job) -> None:
    """Merging several jobs' runs needs every job's newest page first: four jobs cost one round
    trip for those pages, not four. Each request waits 0.5 s on the server, so requests sent one
    after another arrive at least 0.5 s apart."""
    jobs = [int(dbx_job.job_id)]
    jobs += [
        int(lf.create_job(f"more-{i}", dbx_job.package, dbx_job.artifact, target="databricks").job_id) for i in range(3)
    ]
    for job in jobs:
        dbx.jobs.record_runs(job, [[f"{job}-{i}"] for i in range(3)])
    dbx.faults.latency = 0.5
    start = len(dbx.recorded())
    runs = lf.list_job_runs(target="databricks", limit=10)
    dbx.faults.latency = 0.0
    assert len(runs) == 10
    firsts = [r for r in _api_requests(dbx, start) if r.path.startswith("/api/2.2/jobs/runs/list")]
    assert sorted(int(r.path.split("job_id=")[1].split("&")[0]) for r in firsts) == sorted(jobs)
    arrivals = [r.time for r in firsts]
    assert max(arrivals) - min(arrivals) < 0.4, arrivals


def test_wait_on_1000_ids_lists_their_job_instead_of_a_get_each(dbx: DatabricksServer, dbx_job: lf.Job, cli) -> None:
    """`lakeflow wait ID...` knows ids only: one runs/get finds the job, its newest runs the rest."""
    job = int(dbx_job.job_id)
    ids = dbx.jobs.record_runs(job, [[f"done-{i}"] for i in range(1000)])
    start = len(dbx.recorded())
    shown = cli("wait", *map(str, ids), "--target", "databricks", "--json")
    assert len(__import__("json").loads(shown.stdout)) == 1000
    sent = _api_requests(dbx, start)
    assert len([r for r in sent if r.path.startswith("/api/2.2/jobs/runs/get?")]) == 1
    assert len(sent) <= 1 + 1 + (1000 + 50) // 25 + 1  # get, jobs/get, full pages of 25
