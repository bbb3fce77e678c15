"""Constants shared by the Ray fixture and tests."""

#: Set in the Ray head's own environment: a run with env_from=cluster reads it from there.
CLUSTER_SECRET_NAME = "LAKEFLOW_RAY_CLUSTER_SECRET"
CLUSTER_SECRET = "cluster-canary-4b1d-DO-NOT-LEAK"
