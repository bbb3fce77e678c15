"""The per-job pump: submits a job's queued runs as its concurrency cap allows, then exits.

Started detached by a trigger that left runs queued (``python -m lakeflow_ray_target.pump JOB``);
at most one per job (it holds ``locks/pump-<job>.lock``). It lets go of that lock only while it
holds the job's lock and has seen no queued run, so a run queued meanwhile always finds a pump.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time

from lakeflow_host import LakeflowError, RunState
from lakeflow_ray_target import runs, store

_POLL = 0.5
#: How long the cluster may stay unreachable before the queued runs are given up as FAILED.
_GIVE_UP = 600.0


def main(job_id: str) -> int:
    handle = open(store.root() / "locks" / f"pump-{job_id}.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0
    os.ftruncate(handle.fileno(), 0)
    handle.write(f"{os.getpid()}\n")  # who holds it, for whoever must stop it
    handle.flush()
    job = store.job(job_id)
    failing_since: float | None = None
    while True:
        try:
            with store.runs(job_id) as data:
                runs.advance(job_id, job, data)
                if not runs.has_queued(data):
                    handle.close()
                    return 0
            failing_since = None
        except LakeflowError as exc:
            print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {exc}", file=sys.stderr, flush=True)
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > _GIVE_UP:
                with store.runs(job_id) as data:
                    for rec in data.values():
                        if not rec.get("submitted") and rec["state"] == "QUEUED":
                            rec.update(
                                state=RunState.FAILED.value,
                                end_time=time.time(),
                                message=f"never submitted: {exc}",
                            )
                handle.close()
                return 1
        time.sleep(_POLL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
