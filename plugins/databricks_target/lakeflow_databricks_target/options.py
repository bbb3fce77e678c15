"""Every setting the Databricks target reads, declared for the host to parse, check and list."""

from __future__ import annotations

from lakeflow_host import Option

OPTIONS = (
    Option(
        "data_security_mode",
        "The job cluster's access mode [SINGLE_USER].",
        stages=("job",),
    ),
    Option(
        "environment_version",
        "With serverless: the serverless environment version [2].",
        stages=("job",),
    ),
    Option("node_type", "The job cluster's node type [by cloud].", flag=True, stages=("job",)),
    Option("profile", "The ~/.databrickscfg profile to use (else DATABRICKS_* variables, else DEFAULT).", flag=True),
    Option(
        "queue",
        "Queue runs over the concurrency limit (false: Databricks SKIPS them).",
        type=bool,
        default=True,
        stages=("job",),
    ),
    Option(
        "secret_scope",
        "The secret scope holding --env-var values [lakeflow].",
        stages=("job",),
    ),
    Option(
        "serverless",
        "Run on serverless jobs compute instead of a job cluster.",
        type=bool,
        default=False,
        flag=True,
        stages=("job",),
    ),
    Option("spark_version", "The job cluster's Databricks Runtime [15.4.x-scala2.12].", flag=True, stages=("job",)),
    Option(
        "volume",
        "Upload to this Unity Catalog volume (/Volumes/CATALOG/SCHEMA/VOLUME) instead of workspace files.",
        flag=True,
        stages=("upload", "job"),
    ),
)
