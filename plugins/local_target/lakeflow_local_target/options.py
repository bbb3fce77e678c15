"""The ``-o`` settings the local target reads; both are job settings, stored with the job."""

from __future__ import annotations

from lakeflow_host import Option
from lakeflow_local_target.output import DEFAULT_MAX_LOG_BYTES, MIN_LOG_BYTES

OPTIONS = (
    Option(
        "inherit_env",
        "runs see the whole environment of the process that started them, not only the documented "
        "base and the job's --env-var values (an escape hatch; leaks whatever that process holds)",
        type=bool,
        default=False,
        stages=("job",),
    ),
    Option(
        "max_log_bytes",
        "the most bytes of output a run's log keeps: its first and last halves, with a marker of what was cut",
        type=int,
        default=DEFAULT_MAX_LOG_BYTES,
        stages=("job",),
        minimum=MIN_LOG_BYTES,
        maximum=2**62,
    ),
)
