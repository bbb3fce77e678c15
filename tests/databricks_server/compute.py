"""Compute as a workspace defines it: node types, runtimes, instance pools, all-purpose clusters,
cluster policies, entitlements and run-as identities; and the jobs/create rules about them.

Every rule names its source (keys of `shared/reference/databricks-api.md`, section "Real-workspace
rules", RW-n). Where the real stage or text is unconfirmed the rule is enforced at jobs/create
(the earliest stage), which is the strict side.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .errors import ApiError, invalid

ALLOW_CLUSTER_CREATE = "allow-cluster-create"
ADMINS = "admins"
#: Access modes of the SDK 0.162 `DataSecurityMode` enum (RW-19).
ACCESS_MODES = (
    "DATA_SECURITY_MODE_AUTO",
    "DATA_SECURITY_MODE_STANDARD",
    "DATA_SECURITY_MODE_DEDICATED",
    "USER_ISOLATION",
    "SINGLE_USER",
    "NONE",
    "LEGACY_TABLE_ACL",
    "LEGACY_PASSTHROUGH",
    "LEGACY_SINGLE_USER",
    "LEGACY_SINGLE_USER_STANDARD",
)
DEDICATED = ("SINGLE_USER", "DATA_SECURITY_MODE_DEDICATED")
#: GCP label values (RW-36, DOC-tags-gcp): the strictest cloud; AWS/Azure rules are unconfirmed.
TAG_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def _node(node_id: str, cores: int, memory_gb: int, gpus: int = 0, status: list[str] | None = None) -> dict:
    return {
        "node_type_id": node_id,
        "instance_type_id": node_id,
        "memory_mb": memory_gb * 1024,
        "num_cores": float(cores),
        "num_gpus": gpus,
        "description": node_id,
        "category": "GPU Accelerated" if gpus else "General Purpose",
        "is_deprecated": False,
        "is_hidden": False,
        "is_graviton": False,
        "support_cluster_tags": True,
        "node_instance_type": {
            "instance_type_id": node_id,
            "local_disks": 1,
            "local_disk_size_gb": 150,
            "local_nvme_disks": 0,
            "local_nvme_disk_size_gb": 0,
        },
        "node_info": {"status": status or []},
    }


#: An Azure-like region (status values: SDK CloudProviderNodeStatus): the plugin must pick from this list, not from the host name (the test
#: server's host is 127.0.0.1, which today's plugin counts as AWS).
NODE_TYPES = [
    _node("Standard_D2ds_v5", 2, 8, status=["NotAvailableInRegion"]),
    _node("Standard_F4s", 4, 8),
    _node("Standard_DS3_v2", 4, 14),
    _node("Standard_D4ds_v5", 4, 16),
    _node("Standard_NC4as_T4_v3", 4, 28, gpus=1),
]
SPARK_VERSIONS = [
    {"key": "12.2.x-scala2.12", "name": "12.2 LTS (includes Apache Spark 3.3.2, Scala 2.12)"},
    {"key": "13.3.x-scala2.12", "name": "13.3 LTS (includes Apache Spark 3.4.1, Scala 2.12)"},
    {"key": "14.3.x-scala2.12", "name": "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)"},
    {"key": "15.4.x-scala2.12", "name": "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"},
    {"key": "16.3.x-scala2.12", "name": "16.3 (includes Apache Spark 3.5.2, Scala 2.12)"},
    {"key": "16.4.x-scala2.12", "name": "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)"},
    {"key": "16.4.x-photon-scala2.12", "name": "16.4 LTS Photon (includes Apache Spark 3.5.2, Scala 2.12)"},
    {"key": "16.4.x-cpu-ml-scala2.12", "name": "16.4 LTS ML (includes Apache Spark 3.5.2, Scala 2.12)"},
    {"key": "17.3.x-scala2.13", "name": "17.3 LTS (includes Apache Spark 4.0.0, Scala 2.13)"},
]


@dataclass
class Identity:
    """A user's or service principal's entitlements and groups (SCIM)."""

    entitlements: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)


@dataclass
class Compute:
    """What the workspace offers; tests change these fields to shape the workspace."""

    node_types: list[dict] = field(default_factory=lambda: [dict(n) for n in NODE_TYPES])
    spark_versions: list[dict] = field(default_factory=lambda: [dict(v) for v in SPARK_VERSIONS])
    #: policy id -> {"name", "definition" (dict), "users" (set of who may use it; None: everyone)}
    policies: dict[str, dict] = field(default_factory=dict)
    #: instance pool id -> {"node_type_id": ...}
    pools: dict[str, dict] = field(default_factory=dict)
    #: all-purpose cluster id -> cluster spec
    clusters: dict[str, dict] = field(default_factory=dict)
    #: user or service principal application id -> Identity; absent users have no entitlements
    identities: dict[str, Identity] = field(default_factory=dict)
    #: group name -> entitlements granted to its members
    groups: dict[str, set[str]] = field(default_factory=lambda: {ADMINS: set(), "users": set()})
    #: service principal application id -> users allowed to use it (servicePrincipal/user role)
    service_principals: dict[str, set[str]] = field(default_factory=dict)

    def identity(self, name: str) -> Identity:
        return self.identities.setdefault(name, Identity())

    def is_admin(self, name: str) -> bool:
        return ADMINS in self.identity(name).groups

    def may_create_clusters(self, name: str) -> bool:
        # RW-7 (DOC-entitle): unrestricted cluster creation is an entitlement, held directly or
        # through a group; workspace admins have it.
        ident = self.identity(name)
        if self.is_admin(name) or ALLOW_CLUSTER_CREATE in ident.entitlements:
            return True
        return any(ALLOW_CLUSTER_CREATE in self.groups.get(g, set()) for g in ident.groups)

    # -- SCIM ---------------------------------------------------------------------------------
    def _group_id(self, name: str) -> str:
        return str(7000 + sorted(self.groups).index(name))

    def scim_extra(self, name: str) -> dict:
        """The entitlements and groups fields of SCIM Me (direct entitlements only, as in SCIM)."""
        ident = self.identity(name)
        out: dict = {"groups": [{"value": self._group_id(g), "display": g} for g in sorted(ident.groups)]}
        if ident.entitlements:
            out["entitlements"] = [{"value": e} for e in sorted(ident.entitlements)]
        return out

    def get_group(self, group_id: str) -> dict:
        for name in self.groups:
            if self._group_id(name) == group_id:
                out: dict = {"id": group_id, "displayName": name}
                if self.groups[name]:
                    out["entitlements"] = [{"value": e} for e in sorted(self.groups[name])]
                return out
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Group with id {group_id} not found.")

    # -- lists --------------------------------------------------------------------------------
    def list_node_types(self) -> dict:
        return {"node_types": self.node_types}

    def list_spark_versions(self) -> dict:
        return {"versions": self.spark_versions}

    def list_policies(self, caller: str) -> dict:
        # RW-9: the list holds the policies the caller may use (an admin sees every one).
        usable = [
            {"policy_id": pid, "name": p["name"], "definition": json.dumps(p.get("definition") or {})}
            for pid, p in sorted(self.policies.items())
            if self.is_admin(caller) or p.get("users") is None or caller in p["users"]
        ]
        return {"policies": usable, "total_count": len(usable)} if usable else {"total_count": 0}

    def get_policy(self, policy_id: str, caller: str) -> dict:
        policy = self.policies.get(policy_id)
        if policy is None:
            raise invalid(f"Cluster policy {policy_id} does not exist.")
        users = policy.get("users")
        if users is not None and caller not in users and not self.is_admin(caller):
            raise ApiError(403, "PERMISSION_DENIED", f"{caller} does not have CAN_USE on cluster policy {policy_id}.")
        return {
            "policy_id": policy_id,
            "name": policy["name"],
            "definition": json.dumps(policy.get("definition") or {}),
        }

    # -- jobs/create --------------------------------------------------------------------------
    def check_run_as(self, settings: dict, caller: str) -> str:
        """The job's run-as identity (RW-22: the creator unless `run_as` says otherwise)."""
        run_as = settings.get("run_as") or {}
        if not run_as:
            return caller
        if len(run_as) != 1:
            raise invalid("run_as must have exactly one of user_name, service_principal_name or group_name.")
        if "user_name" in run_as:
            user = run_as["user_name"]
            # RW-22: a non-admin can only set themselves.
            if user != caller and not self.is_admin(caller):
                raise ApiError(
                    403, "PERMISSION_DENIED", f"{caller} can only set run_as to themselves, not to user {user}."
                )
            return user
        if "service_principal_name" in run_as:
            app_id = run_as["service_principal_name"]
            if app_id not in self.service_principals:
                raise invalid(f"Service principal {app_id} does not exist.")
            # RW-22: needs the servicePrincipal/user role on it.
            if caller not in self.service_principals[app_id] and not self.is_admin(caller):
                raise ApiError(
                    403,
                    "PERMISSION_DENIED",
                    f"{caller} does not have the servicePrincipal/user role on service principal {app_id}.",
                )
            return app_id
        raise invalid("This test server supports run_as user_name or service_principal_name only.")

    def check_task(self, task: dict, caller: str, tags: dict) -> None:
        if task.get("existing_cluster_id"):
            cluster_id = task["existing_cluster_id"]
            if cluster_id not in self.clusters:
                raise invalid(f"Cluster {cluster_id} does not exist")
            return
        if "new_cluster" in task:
            self.check_new_cluster(task["new_cluster"], caller, tags)

    def effective(self, cluster: dict) -> dict:
        """The cluster a policy makes of the spec: fixed values always, defaults only with
        apply_policy_default_values (RW-8, SDK `ClusterSpec`)."""
        policy = self.policies.get(cluster.get("policy_id") or "")
        if policy is None:
            return dict(cluster)
        out = dict(cluster)
        for path, rule in (policy.get("definition") or {}).items():
            kind = rule.get("type")
            if kind == "fixed" or (
                kind != "forbidden" and cluster.get("apply_policy_default_values") and "defaultValue" in rule
            ):
                value = rule.get("value", rule.get("defaultValue"))
                _set_path(out, path, value)
        return out

    def check_new_cluster(self, cluster: dict, caller: str, tags: dict) -> None:
        policy_id = cluster.get("policy_id")
        if policy_id:
            policy = self.policies.get(policy_id)
            if policy is None:
                raise invalid(f"Cluster policy {policy_id} does not exist.")
            users = policy.get("users")
            if users is not None and caller not in users and not self.is_admin(caller):
                raise ApiError(
                    403, "PERMISSION_DENIED", f"{caller} does not have CAN_USE on cluster policy {policy_id}."
                )
            _check_policy(policy, cluster)
        elif not self.may_create_clusters(caller):
            # RW-7: without "Allow unrestricted cluster creation" a user creates clusters only
            # through a policy (exact text and stage UNCONFIRMED: refused at jobs/create here).
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"{caller} is not authorized to create clusters without a cluster policy "
                f"(missing entitlement {ALLOW_CLUSTER_CREATE}).",
            )
        eff = self.effective(cluster)
        version = eff.get("spark_version")
        if not version:
            raise invalid("Missing required field: new_cluster.spark_version")
        if version not in {v["key"] for v in self.spark_versions}:
            raise invalid(f"Invalid spark version {version}.")
        pool = eff.get("instance_pool_id")
        if pool is not None:
            if pool not in self.pools:
                raise invalid(f"Instance pool {pool} does not exist.")
            if eff.get("node_type_id") is not None:
                # RW-5: real text (ISSUE-tf2141, ISSUE-bf43).
                raise invalid("The field 'node_type_id' cannot be supplied when an instance pool ID is provided.")
        elif eff.get("driver_instance_pool_id") is not None:
            raise invalid("driver_instance_pool_id requires instance_pool_id.")  # RW-5 (ISSUE-mig235)
        else:
            node = eff.get("node_type_id")
            if not node:
                raise invalid("Missing required field: new_cluster.node_type_id")
            known = {n["node_type_id"]: n for n in self.node_types}
            if node not in known:
                raise invalid(f"Node type {node} is not supported.")
            if any(
                s in ("NotAvailableInRegion", "NotEnabledOnSubscription") for s in known[node]["node_info"]["status"]
            ):
                raise invalid(f"Node type {node} is not available in this region.")
        _check_shape(eff)
        mode = eff.get("data_security_mode")
        if mode is not None and mode not in ACCESS_MODES:
            raise invalid(f"Invalid data_security_mode {mode!r}.")  # RW-19
        # RW-36: job tags are forwarded to the job cluster and obey cluster tag rules. GCP
        # sanitises a bad value (DOC-tags-gcp); refusing it is the strict CHOICE, so a client
        # that normalises its values is right on every cloud.
        for key, value in tags.items():
            if key == "Name":
                raise invalid("Custom tag key 'Name' is reserved.")
            if not TAG_VALUE.match(str(value)):
                raise invalid(
                    f"Tag {key}={value!r} is not a valid cluster tag on GCP: use lowercase letters, digits, "
                    "_ and -, at most 63 characters."
                )

    def spark_version_of(self, task: dict) -> str | None:
        """The runtime the task's cluster runs: its own, its policy's, or the existing cluster's."""
        if task.get("existing_cluster_id"):
            return (self.clusters.get(task["existing_cluster_id"]) or {}).get("spark_version")
        if "new_cluster" in task:
            return self.effective(task["new_cluster"]).get("spark_version")
        return None

    def run_start_problem(self, task: dict, run_as: str) -> str | None:
        """Why the task's cluster cannot run as ``run_as``, checked when a run starts."""
        if task.get("existing_cluster_id"):
            cluster = self.clusters.get(task["existing_cluster_id"])
            if cluster is None:
                return f"Cluster {task['existing_cluster_id']} does not exist"
        elif "new_cluster" in task:
            cluster = self.effective(task["new_cluster"])
        else:
            return None
        owner = cluster.get("single_user_name")
        # RW-21: a dedicated (single user) cluster serves only its single_user_name; on a job
        # cluster an omitted name means the run-as identity (UNCONFIRMED, the field reports
        # agree).
        if cluster.get("data_security_mode") in DEDICATED and owner and owner != run_as:
            return (
                f"Single-user check failed: {run_as} attempted to run a command on a single-user cluster, "
                f"but the single user of this cluster is {owner}"
            )
        return None


def _check_shape(cluster: dict) -> None:
    # RW-2 (SDK `ClusterSpec`, DOC-tf-cluster): a fixed size or an autoscale range, never both.
    single = cluster.get("is_single_node")
    if single:
        if cluster.get("kind") != "CLASSIC_PREVIEW":  # RW-4
            raise invalid("is_single_node can only be used with kind CLASSIC_PREVIEW.")
        return
    has_fixed, has_auto = "num_workers" in cluster, "autoscale" in cluster
    if has_fixed == has_auto:
        raise invalid("new_cluster needs exactly one of num_workers or autoscale.")
    conf = cluster.get("spark_conf") or {}
    single_profile = conf.get("spark.databricks.cluster.profile") == "singleNode"
    if has_auto:
        scale = cluster["autoscale"]
        lo, hi = scale.get("min_workers"), scale.get("max_workers")
        # RW-1 (SDK compute.AutoScale: max_workers "must be strictly greater than min_workers").
        if not isinstance(lo, int) or not isinstance(hi, int) or lo < 0 or hi <= lo:
            raise invalid(
                f"Invalid autoscale range: min_workers={lo}, max_workers={hi}; max_workers must be "
                "strictly greater than min_workers."
            )
    else:
        workers = cluster["num_workers"]
        if not isinstance(workers, int) or workers < 0:
            raise invalid(f"Invalid num_workers {workers!r}.")
        if workers == 0:
            # RW-3 (DOC-tf-cluster): a driver-only cluster carries the single-node markers, else it
            # is a standard cluster that cannot run anything (Databricks' UI warns about it).
            master = str(conf.get("spark.master", ""))
            tag = (cluster.get("custom_tags") or {}).get("ResourceClass")
            if not (single_profile and master.startswith("local[") and tag == "SingleNode"):
                raise invalid(
                    "A cluster with num_workers 0 must be a single node cluster: spark_conf "
                    "spark.databricks.cluster.profile=singleNode, spark.master=local[*], "
                    "custom_tags ResourceClass=SingleNode."
                )
            return
    if single_profile:
        raise invalid("The singleNode cluster profile requires num_workers 0.")


def _check_policy(policy: dict, cluster: dict) -> None:
    """A spec may not contradict a policy's fixed values or set forbidden ones."""
    for path, rule in (policy.get("definition") or {}).items():
        given = _get_path(cluster, path)
        if given is None:
            continue
        kind = rule.get("type")
        if kind == "fixed" and given != rule.get("value"):
            raise invalid(f"Validation failed for {path}, the value must be {rule.get('value')} (is {given})")
        if kind == "forbidden":
            raise invalid(f"Validation failed for {path}, the value is forbidden by the policy")
        if kind == "allowlist" and given not in rule.get("values", []):
            raise invalid(f"Validation failed for {path}, the value must be one of {rule.get('values')}")


_MAPS = ("spark_conf", "custom_tags", "spark_env_vars", "autoscale")


def _get_path(cluster: dict, path: str):
    head, _, rest = path.partition(".")
    if rest and head in _MAPS:
        return (cluster.get(head) or {}).get(rest)
    return cluster.get(path)


def _set_path(cluster: dict, path: str, value) -> None:
    head, _, rest = path.partition(".")
    if not rest or head not in _MAPS:
        cluster[path] = value
        return
    cluster[head] = {**(cluster.get(head) or {}), rest: value}
