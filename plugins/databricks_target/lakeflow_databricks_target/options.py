"""The options the databricks target reads (declared for the host; see lakeflow_host.options),
one Option per entry, alphabetical."""

from __future__ import annotations

from lakeflow_host import Option

OPTIONS: tuple[Option, ...] = (
    Option(
        name="data_security_mode",
        help="cluster access mode: DEDICATED, STANDARD, AUTO or a value of the SDK's DataSecurityMode "
        "[SINGLE_USER, unless a policy sets it]",
        stages=("job",),
    ),
    Option(
        name="environment_version",
        help="serverless environment version [4; chosen to fit the wheels' Python when not given]",
        stages=("upload", "job"),
    ),
    Option(
        name="existing_cluster_id",
        help="run on this all-purpose cluster instead of a new job cluster (for development)",
        stages=("job",),
    ),
    Option(
        name="instance_pool_id",
        help="instance pool for the job cluster's nodes (the pool decides the node type)",
        stages=("job",),
    ),
    Option(
        name="node_type",
        help="cluster node type [the workspace's smallest general-purpose one with 2 cores and 8 GB]",
        flag=True,
        stages=("job",),
    ),
    Option(
        name="policy_id",
        help="cluster policy for the job cluster (needed without unrestricted cluster creation)",
        stages=("job",),
    ),
    Option(
        name="profile",
        help="~/.databrickscfg profile (refused while DATABRICKS_HOST/DATABRICKS_TOKEN are set)",
        flag=True,
    ),
    Option(
        name="queue",
        help="false: do not queue runs over max_concurrent_runs (Databricks then skips them)",
        type=bool,
        default=True,
        stages=("job",),
    ),
    Option(
        name="response_timeout",
        help="seconds to wait for the workspace to answer before giving up",
        type=float,
        default=60.0,
        envvar="LAKEFLOW_DATABRICKS_RESPONSE_TIMEOUT",
        minimum=0.1,
    ),
    Option(
        name="run_as",
        help="user name or service principal application id the job runs as (gets READ on the secret scope)",
        stages=("upload", "job"),
    ),
    Option(
        name="secret_scope",
        help="secret scope holding --env-var values [lakeflow-<hash of your user name>]",
        stages=("job",),
    ),
    Option(
        name="serverless",
        help="serverless jobs compute, wheels in the task's environment",
        type=bool,
        default=False,
        flag=True,
        stages=("upload", "job"),
    ),
    Option(
        name="single_node",
        help="a driver-only job cluster (pure-Python tasks use only the driver)",
        type=bool,
        default=False,
        stages=("job",),
    ),
    Option(
        name="spark_version",
        help="cluster runtime, 13.3 or later [the workspace's latest LTS, or one that fits the wheels' Python]",
        flag=True,
        stages=("upload", "job"),
    ),
    Option(
        name="timeout",
        help="seconds a run may take before Databricks stops it [no limit]",
        type=int,
        minimum=1,
        stages=("job",),
    ),
    Option(
        name="volume",
        help="/Volumes/<catalog>/<schema>/<volume> to upload to, instead of workspace files",
        flag=True,
        stages=("upload", "job"),
    ),
)
