"""runs/list, bounded: a job's runs, or the runs of every lakeflow job, never the workspace's.

runs/list without a job id pages through every run of every user for 60 days; a shared workspace
holds hundreds of thousands. So the runs of "every lakeflow job" are the merge of each lakeflow
job's own newest runs (jobs/list pages hold up to 100 jobs with their tags, SDK `JobsAPI.list`),
and every listing stops after ``limit`` runs: the SDK fetches a page only when iteration reaches it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any

from lakeflow_databricks_target import convert, jobs_admin
from lakeflow_databricks_target.client import api_errors
from lakeflow_host import Run

#: runs/list: "greater than 0 and less than 25", and "a limit of 0" makes "the service instead use
#: the maximum limit" (SDK list_runs docstring, RW-32). The maximum itself is not settled (the API
#: reference's schema says 1..25, a 2022 server took 26, ISSUE-464), so a listing that wants more
#: than this asks for 0 and takes whatever a full page holds.
PAGE = 24
#: jobs/list: "between 1 and 100" (SDK list docstring).
JOBS_PAGE = 100
#: First pages asked for at once when several jobs are merged: the fan-out's concurrency.
FIRST_PAGES_IN_FLIGHT = 16


def lakeflow_job_ids(client: Any) -> list[int]:
    with api_errors("list jobs"):
        return [j.job_id for j in client.jobs.list(limit=JOBS_PAGE) if convert.is_lakeflow_job(j)]


def list_runs(client: Any, job_ids: list[int], active_only: bool, limit: int | None, since: float | None) -> list[Run]:
    """The newest ``limit`` runs (all when ``None``) of these jobs, newest first."""
    page = limit if limit and limit <= PAGE else 0
    start_from = int(since * 1000) if since else None

    def runs_of(job_id: int) -> Iterator[Any]:
        # Databricks lists "in descending order by start time" (SDK list_runs docstring).
        return iter(
            client.jobs.list_runs(
                # With the tasks: each run's libraries say which upload it installs (same page count).
                job_id=job_id,
                active_only=active_only or None,
                start_time_from=start_from,
                limit=page,
                expand_tasks=True,
            )
        )

    with api_errors("list runs"):
        runs = [runs_of(j) for j in job_ids]
        if len(runs) > 1:
            runs = _with_first_pages(runs)
        merged = heapq.merge(*runs, key=lambda r: r.start_time or 0, reverse=True)
        found = list(itertools.islice(merged, limit))
    return [jobs_admin.with_artifact(convert.to_run(r), r) for r in found]


def _with_first_pages(runs: list[Iterator[Any]]) -> list[Iterator[Any]]:
    """The merge takes every job's newest run before it yields one: fetch those first pages at
    once (the client is shared by a fan-out's threads), not one round trip after another."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(FIRST_PAGES_IN_FLIGHT, len(runs))) as pool:
        heads = list(pool.map(lambda it: next(it, None), runs))
    return [itertools.chain([head], it) for head, it in zip(heads, runs, strict=True) if head is not None]
