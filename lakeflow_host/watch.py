"""How ``wait`` watches many runs: requests that grow with the active runs, not with history.

One poll lists each job's *active* runs (bounded by the earliest queue time it knows), takes the
state of every run that is still listed from that list, and fetches each run that left the list
once, for its final state. A run known to be final is never asked about again. So 1000 runs of
which 50 are active cost about 50 / page size list requests per poll, plus one request for each run
that finished since the last one.

The functions that reach the target are passed in: :mod:`lakeflow_host.api` stays the only module
that calls hooks.
"""

from __future__ import annotations

from collections.abc import Callable

from lakeflow_host.types import Run

#: From this many unfinished runs of one job on, listing the job's active runs beats a get each.
LIST_THRESHOLD = 3

#: Listing a job's newest runs to find ids given without their runs: this many more than asked.
SLACK = 48

ListActive = Callable[[str, "float | None"], list[Run]]
ListRecent = Callable[[str, int], list[Run]]
GetRun = Callable[[str], Run]


def refresh(
    current: dict[str, Run | None], list_active: ListActive, get_run: GetRun, list_recent: ListRecent | None = None
) -> None:
    """Bring every unfinished run in ``current`` (run id -> last known run, ``None`` when only
    the id is known) up to date, in place."""
    unknown = [run_id for run_id, run in current.items() if run is None]
    if list_recent is not None and len(unknown) >= LIST_THRESHOLD:
        # `lakeflow wait ID...` after a launch: one get tells the job, and that job's newest runs
        # (24 a page) hold the others, instead of one get per id. Ids not found there (older
        # runs, other jobs) are fetched one by one below.
        first = current[unknown[0]] = get_run(unknown[0])
        listed = {r.run_id: r for r in list_recent(first.job_id, len(unknown) - 1 + SLACK)}
        for run_id in unknown[1:]:
            if run_id in listed:
                current[run_id] = listed[run_id]
    pending: dict[str, list[str]] = {}
    for run_id, run in current.items():
        if run is None or not run.state.is_final:
            pending.setdefault(run.job_id if run else "", []).append(run_id)
    for job_id, ids in pending.items():
        if job_id and len(ids) >= LIST_THRESHOLD:
            known = [current[r] for r in ids]
            times = [r.queued_time or r.start_time for r in known if r is not None]
            since = min(times) if times and all(t is not None for t in times) else None
            listed = {r.run_id: r for r in list_active(job_id, since)}
            for run_id in ids:
                if run_id in listed:
                    current[run_id] = _merged(current[run_id], listed[run_id])
            # Not among the active runs any more: it finished (or was never listed); ask once.
            ids = [run_id for run_id in ids if run_id not in listed]
        for run_id in ids:
            current[run_id] = _merged(current[run_id], get_run(run_id))


def _merged(old: Run | None, new: Run) -> Run:
    """The newer view, keeping the arguments when the target's view leaves them out."""
    if old is not None and old.args and not new.args:
        import dataclasses

        return dataclasses.replace(new, args=old.args)
    return new
