"""Where a lakeflow job's task runs: a classic job cluster (autoscaling, fixed, single node, from a
pool, under a policy), an existing all-purpose cluster, or serverless; and who it runs as.

Facts and their sources are the keys of `shared/reference/databricks-api.md`, "Real-workspace
rules" (RW-n). Everything here runs before lakeflow creates anything on the workspace, so a bad
option costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lakeflow_databricks_target.client import api_errors
from lakeflow_databricks_target.memo import cache_dir, read_private, write_private
from lakeflow_host import LakeflowError

if TYPE_CHECKING:
    from lakeflow_host import JobSpec

ALLOW_CLUSTER_CREATE = "allow-cluster-create"
#: RW-14: wheel tasks install /Workspace and /Volumes libraries from DBR 13.3 on.
MIN_RUNTIME = (13, 3)
#: The user's short names for the access modes of SDK 0.162's DataSecurityMode (RW-19).
_ACCESS_ALIASES = {
    "DEDICATED": "DATA_SECURITY_MODE_DEDICATED",
    "STANDARD": "DATA_SECURITY_MODE_STANDARD",
    "AUTO": "DATA_SECURITY_MODE_AUTO",
}
#: Dedicated (single user) can read Unity Catalog volumes and workspace files, and on a job
#: cluster without single_user_name it serves the run-as identity (RW-21; field reports).
DEFAULT_ACCESS_MODE = "SINGLE_USER"
#: RW-3 (DOC-tf-cluster; the Databricks UI's JSON export writes local[*, 4]).
SINGLE_NODE_CONF = {"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*, 4]"}
SINGLE_NODE_TAGS = {"ResourceClass": "SingleNode"}
_CACHE_TTL_S = 7 * 24 * 3600
_CLUSTER_OPTIONS = ("policy_id", "instance_pool_id", "single_node", "node_type", "spark_version", "data_security_mode")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def flag(options: Mapping[str, Any], key: str, default: bool) -> bool:
    """A declared bool option: the host has already converted it."""
    value = options.get(key)
    return default if value is None else bool(value)


def text(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    return None if value is None or str(value).strip() == "" else str(value).strip()


def timeout_seconds(options: Mapping[str, Any]) -> int | None:
    """The declared int option `timeout` (at least 1, checked by the host)."""
    value = options.get("timeout")
    return None if value is None else int(value)


def access_mode(value: str) -> str:
    """A `data_security_mode` the SDK knows: it silently drops unknown values (RW-19), which
    would give a cluster without Unity Catalog."""
    from databricks.sdk.service.compute import DataSecurityMode

    wanted = value.strip().upper()
    wanted = _ACCESS_ALIASES.get(wanted, wanted)
    known = [m.value for m in DataSecurityMode]
    if wanted not in known:
        raise LakeflowError(
            f"-o data_security_mode={value} is not a Databricks access mode; use DEDICATED, STANDARD or AUTO "
            f"(or one of {', '.join(known)})"
        )
    return wanted


def run_as(value: str) -> dict[str, str]:
    """The job's `run_as`: a service principal is named by its application id, a UUID (RW-22)."""
    value = value.strip()
    if _UUID.match(value):
        return {"service_principal_name": value}
    return {"user_name": value}


def tag_value(value: str) -> str:
    """A job tag value every cloud keeps as is: job tags become cluster tags (RW-36), and GCP
    labels allow only lowercase letters, digits, _ and -, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", value.lower())[:63]


def runtime_version(key: str) -> tuple[int, int] | None:
    match = re.match(r"^(\d+)\.(\d+)\.", key)
    return (int(match[1]), int(match[2])) if match else None


def check_options(spec: JobSpec, options: Mapping[str, Any]) -> None:
    """Option conflicts, found locally before any call."""
    given = [k for k in _CLUSTER_OPTIONS if (flag(options, k, False) if k == "single_node" else text(options, k))]
    if text(options, "performance_target") and not flag(options, "serverless", False):
        raise LakeflowError("-o performance_target applies to serverless compute only; add --serverless or drop it")
    if flag(options, "serverless", False):
        clash = given + (["existing_cluster_id"] if text(options, "existing_cluster_id") else [])
        if clash:
            raise LakeflowError(f"-o {clash[0]} describes a cluster, and --serverless has none; drop one of them")
        return
    if text(options, "existing_cluster_id"):
        if given:
            raise LakeflowError(
                f"-o {given[0]} describes a new job cluster, and -o existing_cluster_id runs on a cluster that "
                "exists already; drop one of them"
            )
        if spec.max_workers != 1:
            raise LakeflowError("--max-workers sizes a new job cluster; an existing cluster keeps its own size")
        return
    if flag(options, "single_node", False) and spec.max_workers != 1:
        raise LakeflowError(
            f"-o single_node=true has no workers, so --max-workers {spec.max_workers} cannot apply; drop one of them"
        )
    if text(options, "instance_pool_id") and text(options, "node_type"):
        # RW-5: "The field 'node_type_id' cannot be supplied when an instance pool ID is provided."
        raise LakeflowError("-o instance_pool_id decides the node type; drop --node-type")
    version = text(options, "spark_version")
    if version:
        parsed = runtime_version(version)
        if parsed is not None and parsed < MIN_RUNTIME:
            raise LakeflowError(
                f"--spark-version {version} is older than 13.3, which cannot install wheels from workspace files "
                "or volumes; use 13.3 LTS or later (e.g. 15.4.x-scala2.12), or leave it out for the latest LTS"
            )
    mode = text(options, "data_security_mode")
    if mode:
        access_mode(mode)


def task_compute(client: Any, spec: JobSpec, options: Mapping[str, Any]) -> dict:
    """The task's compute keys: ``{"existing_cluster_id": ...}`` or ``{"new_cluster": {...}}``;
    empty for serverless (the caller adds the environment)."""
    check_options(spec, options)
    if flag(options, "serverless", False):
        return {}
    cluster_id = text(options, "existing_cluster_id")
    if cluster_id:
        return {"existing_cluster_id": cluster_id}
    policy_id = text(options, "policy_id")
    policy: dict = {}
    if policy_id:
        policy = _policy_definition(client, policy_id)
    else:
        _check_cluster_create(client)
    cluster: dict = {}
    if policy_id:
        # RW-8: defaults of the policy fill what the spec leaves out; fixed values always apply.
        cluster["policy_id"] = policy_id
        cluster["apply_policy_default_values"] = True
    pool = text(options, "instance_pool_id")
    version = text(options, "spark_version")
    if version is None and "spark_version" not in policy:
        version = workspace_defaults(client)["spark_version"]
    if version is not None:
        cluster["spark_version"] = version
    if pool:
        cluster["instance_pool_id"] = pool
    elif text(options, "node_type"):
        cluster["node_type_id"] = text(options, "node_type")
    elif not ({"node_type_id", "instance_pool_id"} & set(policy)):
        cluster["node_type_id"] = workspace_defaults(client)["node_type"]
    shaped_by_policy = bool({"num_workers", "autoscale.min_workers", "autoscale.max_workers"} & set(policy))
    if shaped_by_policy and not flag(options, "single_node", False) and spec.max_workers == 1:
        pass  # the policy sizes the cluster (e.g. Personal Compute: single node)
    elif flag(options, "single_node", False):
        cluster["num_workers"] = 0
        cluster["spark_conf"] = dict(SINGLE_NODE_CONF)
        cluster["custom_tags"] = dict(SINGLE_NODE_TAGS)
    elif spec.max_workers == 1:
        cluster["num_workers"] = 1  # RW-1: an autoscale range needs min < max
    else:
        cluster["autoscale"] = {"min_workers": 1, "max_workers": spec.max_workers}
    mode = text(options, "data_security_mode")
    if mode:
        cluster["data_security_mode"] = access_mode(mode)
    elif "data_security_mode" not in policy:
        # No single_user_name: pinned to the creator it breaks a job that runs as someone else.
        cluster["data_security_mode"] = DEFAULT_ACCESS_MODE
    return {"new_cluster": cluster}


def default_runtime(client: Any, options: Mapping[str, Any]) -> str | None:
    """The runtime a classic job cluster gets when --spark-version is not given: the policy's,
    else the workspace's latest LTS. None on serverless."""
    if flag(options, "serverless", False):
        return None
    pinned = text(options, "spark_version")
    if pinned:
        return pinned
    policy_id = text(options, "policy_id")
    if policy_id:
        rule = _policy_definition(client, policy_id).get("spark_version") or {}
        value = rule.get("value", rule.get("defaultValue"))
        if value:
            return str(value)
    return workspace_defaults(client)["spark_version"]


_policies: dict[tuple[int, str], dict] = {}


def _policy_definition(client: Any, policy_id: str) -> dict:
    """The policy's definition (attribute path -> rule), to leave to it what it sets; read once
    per client and policy."""
    key = (id(client), policy_id)
    if key not in _policies:
        _policies[key] = _read_policy(client, policy_id)
    return _policies[key]


def _read_policy(client: Any, policy_id: str) -> dict:
    """The policy's definition (attribute path -> rule), to leave to it what it sets."""
    from databricks.sdk.errors import DatabricksError

    with api_errors(f"read cluster policy {policy_id}"):
        try:
            policy = client.cluster_policies.get(policy_id)
        except DatabricksError:  # unknown, not usable, or only listed to this user
            policy = next((p for p in client.cluster_policies.list() if p.policy_id == policy_id), None)
    if policy is None:
        raise LakeflowError(
            f"cluster policy {policy_id} does not exist or you may not use it; {_your_policies(client)}"
        )
    try:
        definition = json.loads(policy.definition or "{}")
    except ValueError:
        definition = {}
    return {
        path: rule for path, rule in definition.items() if isinstance(rule, dict) and rule.get("type") != "forbidden"
    }


def _your_policies(client: Any) -> str:
    with api_errors("list your cluster policies"):
        policies = list(client.cluster_policies.list())
    if not policies:
        return "you may use no cluster policy: ask a workspace admin for one, or use --serverless"
    names = ", ".join(f"{p.policy_id} ({p.name})" for p in policies[:10])
    more = f" and {len(policies) - 10} more" if len(policies) > 10 else ""
    return f"pass -o policy_id=ID with one you may use: {names}{more}"


def _check_cluster_create(client: Any) -> None:
    """RW-7: without "Allow unrestricted cluster creation" a user creates job clusters only
    through a policy. Said before anything is created, when we can tell; when the workspace does
    not let us see a group's entitlements, Databricks decides."""
    with api_errors("look up the current Databricks user"):
        me = client.current_user.me()
    if ALLOW_CLUSTER_CREATE in {e.value for e in me.entitlements or []}:
        return
    groups = me.groups or []
    if any(g.display == "admins" for g in groups):
        return
    from databricks.sdk.errors import DatabricksError

    for group in groups:
        if not group.value:
            return
        try:
            entitlements = client.groups.get(group.value).entitlements or []
        except DatabricksError:
            return  # cannot see the group's entitlements: do not guess
        if ALLOW_CLUSTER_CREATE in {e.value for e in entitlements}:
            return
    raise LakeflowError(
        f"{me.user_name} may not create clusters without a cluster policy (no 'Allow unrestricted cluster "
        f"creation' entitlement); {_your_policies(client)}"
    )


_defaults: dict[str, dict] = {}


def workspace_defaults(client: Any) -> dict:
    """The workspace's smallest general-purpose node type and latest LTS runtime, from its own
    lists (RW-10, RW-11); cached per workspace for a week, so a command pays at most once."""
    host = client.config.host or ""
    if host in _defaults:
        return _defaults[host]
    path = cache_dir() / f"databricks-{hashlib.sha256(host.encode()).hexdigest()[:16]}.json"
    cached = read_private(path)
    if isinstance(cached, dict) and cached.get("host") == host and time.time() - cached.get("time", 0) < _CACHE_TTL_S:
        _defaults[host] = cached
        return cached
    found = {
        "host": host,
        "time": time.time(),
        "node_type": _node_type(client),
        "spark_version": _spark_version(client),
    }
    write_private(path, found)
    _defaults[host] = found
    return found


def _node_type(client: Any) -> str:
    with api_errors("list the workspace's node types"):
        for category in ("General Purpose", None):
            try:
                return client.clusters.select_node_type(min_memory_gb=8, min_cores=2, category=category)
            except ValueError:
                continue
    raise LakeflowError("the workspace offers no node type with 2 cores and 8 GB; pass --node-type NAME")


def _spark_version(client: Any) -> str:
    with api_errors("list the workspace's runtimes"):
        try:
            return client.clusters.select_spark_version(long_term_support=True, latest=True)
        except ValueError:
            pass
    raise LakeflowError("the workspace lists no LTS runtime; pass --spark-version (13.3 or later)")
