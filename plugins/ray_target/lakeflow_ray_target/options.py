"""The options the ``ray`` target declares."""

from __future__ import annotations

from lakeflow_host import Option

#: Where each run's secrets come from (see docs/ray.md): ``lakeflow`` sends the values with the
#: submission (Ray shows them to dashboard readers), ``cluster`` sends only ``${NAME}``
#: references that each Ray node fills in from its own environment, so no value ever travels.
ENV_FROM = ("lakeflow", "cluster")

OPTIONS = (
    Option(
        "address",
        "The Ray cluster's dashboard (Job Submission) address, e.g. http://127.0.0.1:8265.",
        envvar="RAY_ADDRESS",
        flag=True,
    ),
    Option(
        "num_cpus",
        "CPUs each run reserves on the cluster (Ray's entrypoint_num_cpus).",
        type=float,
        default=1.0,
        minimum=0,
        stages=("job",),
    ),
    Option(
        "env_from",
        "Where --env-var values come from: lakeflow (sent with each submission, shown on Ray's dashboard) "
        "or cluster (only ${NAME} references are sent; each Ray node supplies the value).",
        choices=ENV_FROM,
        default="lakeflow",
        stages=("job",),
    ),
)
