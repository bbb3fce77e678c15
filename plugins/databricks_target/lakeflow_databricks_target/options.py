"""The options the databricks target reads, declared for the host (one Option per entry,
alphabetical). Until the host routes typed options, values may still arrive as strings: read
them through the helpers in `compute.py` and `jobspec.py`, which accept both."""

from __future__ import annotations

from lakeflow_host import Option

OPTIONS: tuple[Option, ...] = (
    Option(
        "data_security_mode",
        "cluster access mode: DEDICATED, STANDARD, AUTO or a Databricks enum value [SINGLE_USER]",
        stages=("job",),
    ),
    Option("environment_version", "serverless environment version", stages=("job",)),
    Option(
        "existing_cluster_id",
        "run on this all-purpose cluster instead of a new job cluster (for development)",
        stages=("job",),
    ),
    Option(
        "instance_pool_id",
        "instance pool for the job cluster's nodes (the pool decides the node type)",
        stages=("job",),
    ),
    Option(
        "node_type",
        "cluster node type [the smallest general-purpose type the workspace offers]",
        flag=True,
        stages=("job",),
    ),
    Option(
        "policy_id",
        "cluster policy for the job cluster (needed without unrestricted cluster creation)",
        stages=("job",),
    ),
    Option("profile", "~/.databrickscfg profile (else DATABRICKS_* env vars, else DEFAULT)", flag=True),
    Option(
        "queue",
        "false: do not queue runs over max_concurrent_runs (Databricks then skips them)",
        type=bool,
        stages=("job",),
    ),
    Option(
        "run_as",
        "identity the job runs as: a user name, or a service principal's application id",
        stages=("job",),
    ),
    Option("secret_scope", "secret scope holding --env-var values", stages=("job",)),
    Option(
        "serverless", "serverless jobs compute, wheels in the task's environment", type=bool, flag=True, stages=("job",)
    ),
    Option(
        "single_node", "a driver-only job cluster (pure-Python tasks use only the driver)", type=bool, stages=("job",)
    ),
    Option(
        "spark_version",
        "cluster runtime, 13.3 or later [the workspace's latest LTS]",
        flag=True,
        stages=("job",),
    ),
    Option(
        "timeout", "seconds a run may take before Databricks stops it [no limit]", type=int, minimum=1, stages=("job",)
    ),
    Option("volume", "/Volumes/<catalog>/<schema>/<volume> to upload to, instead of workspace files", flag=True),
)
