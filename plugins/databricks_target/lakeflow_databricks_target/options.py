"""The options the databricks target reads (declared for the host; see lakeflow_host.options)."""

from __future__ import annotations

from lakeflow_host import Option

OPTIONS: tuple[Option, ...] = (
    Option(
        name="data_security_mode",
        help="cluster access mode",
        stages=("job",),
    ),
    Option(
        name="environment_version",
        help="serverless environment version [4; chosen to fit the wheels' Python when not given]",
        stages=("upload", "job"),
    ),
    Option(
        name="node_type",
        help="cluster node type",
        flag=True,
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
        name="spark_version",
        help="cluster runtime [15.4 LTS; 16.4 LTS when the wheels need Python 3.12]",
        flag=True,
        stages=("upload", "job"),
    ),
    Option(
        name="volume",
        help="/Volumes/<catalog>/<schema>/<volume> to upload to, instead of workspace files",
        flag=True,
        stages=("upload", "job"),
    ),
)
