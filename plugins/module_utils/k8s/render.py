# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the Kubernetes target of odooops.hosting: the inventory's platform description -> objects.

Plain Python, deterministic, no Ansible imports. ``render(spec)`` checks the description against
``SCHEMA`` (unknown keys, types, choices), merges ``defaults`` <- environment <- tenant, applies the
Odoo sizing and the PostgreSQL connection budget of ``sizing`` (shared with the VM target), and returns
one ``Tenant`` per environment x tenant with its objects (plain dicts, as ``kubectl`` would read them).

Secrets are only ever *referenced by name* (odoo.conf, database login roles, Redis ACL file, S3
credentials, TLS): no value is an input of this module, so none can reach a manifest.

Input (``odooops_kubernetes`` in an inventory)::

    name: retail                      # platform name, prefix of the namespaces
    kubernetes_version: "1.30"
    zones: [eu-west-1a, eu-west-1b]   # topology spread; [] = no zone constraint
    ingress: {...}                    # Traefik: controller namespace/labels, entry points, allowlists
    network: {...}                    # DNS, API server, object storage, CNPG operator for NetworkPolicies
    defaults: {<tenant settings>}
    environments:
      - name: prod
        <tenant settings>             # environment-wide overrides
        tenants:
          - name: shop
            hosts: [erp.shop.example]
            <tenant settings>         # tenant overrides

See ``SCHEMA`` below for every key and docs/kubernetes.md for the objects.
"""
from __future__ import annotations

import copy
import math
import re

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import sizing

MANAGED_BY = "odooops.hosting"
ODOO_HTTP_PORT = 8069
ODOO_GEVENT_PORT = 8072
REDIS_PORT = 6379
PG_PORT = 5432
CNPG_STATUS_PORT = 8000
CNPG_GROUP = "postgresql.cnpg.io/v1"
TRAEFIK_GROUP = "traefik.io/v1alpha1"
MIN_KUBERNETES = (1, 30)


class K8sRenderError(ValueError):
    """The platform description cannot be rendered; the message names the field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


# -- input schema --------------------------------------------------------------------------------
# A leaf is (type, default[, choices]); a dict is a nested object. None as a default = optional.
def _res(cpu_req, mem_req, cpu_lim, mem_lim):
    return {"requests": {"cpu": ("quantity", cpu_req), "memory": ("quantity", mem_req)},
            "limits": {"cpu": ("quantity", cpu_lim), "memory": ("quantity", mem_lim)}}


TENANT_SETTINGS = {
    "image": {"repository": ("str", "odoo"), "tag": ("str", "17.0"),
              "pull_policy": ("str", "IfNotPresent", ("Always", "IfNotPresent", "Never"))},
    "tls": {"secret_name": ("str", None), "cert_manager_issuer": ("str", None),
            "cert_manager_issuer_kind": ("str", "ClusterIssuer", ("ClusterIssuer", "Issuer"))},
    "odoo": {
        "replicas": ("int", 2),
        "max_replicas": ("int", None),          # None: the largest the connection budget allows
        "target_cpu_utilization": ("int", 70),
        "workers": ("int", None),               # None: from the limits with sizing.odoo_workers
        "reserved_mib": ("int", 256),           # kept out of the worker memory inside the pod
        "cron_threads": ("int", 2),
        "db_maxconn": ("int", 4),
        "cron_db_maxconn": ("int", 8),          # 3 x cron_threads + 2 at least (sizing.min_db_maxconn)
        "resources": _res("1", "2Gi", "2", "3Gi"),
        "cron_resources": _res("250m", "1Gi", "1", "2Gi"),
        "config_secret": ("str", "odoo-config"),  # Secret holding odoo.conf (never rendered here)
        "config_secret_key": ("str", "odoo.conf"),
        "run_as_user": ("int", 101),            # the odoo user of the official image
        "service_account": ("str", "odoo"),
    },
    "postgres": {
        "instances": ("int", 3),
        "image": ("str", "ghcr.io/cloudnative-pg/postgresql:15"),
        "cluster_name": ("str", "pg"),
        "database": ("str", "odoo"),
        "owner_role": ("str", "odoo_owner"),
        "login_role": ("str", "odoo"),
        "login_role_secret": ("str", "odoo-db-login"),   # kubernetes.io/basic-auth Secret (username/password)
        "extra_login_roles": ("list", [], "str"),        # e.g. [odoo_b] for two-phase rotation
        "synchronous": {"enabled": ("bool", True), "method": ("str", "any", ("any", "first")),
                        "number": ("int", 1), "data_durability": ("str", "required", ("required", "preferred"))},
        "max_connections": ("int", 400),
        "reserved_connections": ("int", 10),
        "parameters": ("dict", {}),
        "storage": {"size": ("quantity", "20Gi"), "storage_class": ("str", None)},
        "wal_storage": {"size": ("quantity", None), "storage_class": ("str", None)},
        "resources": _res("500m", "1Gi", "2", "2Gi"),
        "tls": {"server_secret": ("str", None), "server_ca_secret": ("str", None),
                "client_ca_secret": ("str", None), "replication_secret": ("str", None)},
        "backup": {
            "enabled": ("bool", True),
            "destination_path": ("str", None),          # s3://bucket/prefix
            "endpoint_url": ("str", None),
            "credentials_secret": ("str", "odooops-s3"),
            "access_key_id_key": ("str", "ACCESS_KEY_ID"),
            "secret_access_key_key": ("str", "ACCESS_SECRET_KEY"),
            "retention": ("str", "30d"),
            "schedule": ("str", "0 0 2 * * *"),          # CloudNativePG: six fields, seconds first
            "encryption": ("str", "AES256", ("AES256", "aws:kms", "")),
        },
        "pooler": {"enabled": ("bool", False), "instances": ("int", 2),
                   "pool_mode": ("str", "session", ("session", "transaction")),
                   "default_pool_size": ("int", 20), "max_client_conn": ("int", 1000)},
        "recovery": {                                     # bootstrap from a backup (restore, rehearsal)
            "enabled": ("bool", False),
            "source_cluster": ("str", None),             # serverName of the cluster whose backups are used
            "destination_path": ("str", None),           # its object store path (default: ours)
            "target_time": ("str", None),                # point in time, RFC 3339
        },
    },
    "redis": {"enabled": ("bool", True), "image": ("str", "redis:7.2"),
              "acl_secret": ("str", "redis-acl"), "acl_secret_key": ("str", "users.acl"),
              "run_as_user": ("int", 999), "resources": _res("100m", "256Mi", "500m", "512Mi")},
    "filestore": {"mode": ("str", "rwx", ("rwx", "object_storage")), "size": ("quantity", "50Gi"),
                  "storage_class": ("str", None)},
    "quota": {"enabled": ("bool", True), "headroom_pct": ("int", 25), "pods": ("int", None),
              "storage": ("quantity", None)},
    "limit_range": _res("100m", "128Mi", "500m", "512Mi"),
    "jobs": {"tools_image": ("str", "ghcr.io/odooops/ee:latest"),   # image with this collection (snapshot Job)
             "resources": _res("250m", "512Mi", "1", "2Gi")},
}

PLATFORM_SCHEMA = {
    "name": ("str", "odooops"),
    "kubernetes_version": ("str", "1.30"),
    "zones": ("list", [], "str"),
    "ingress": {
        "controller_namespace": ("str", "traefik"),
        "controller_labels": ("dict", {"app.kubernetes.io/name": "traefik"}),
        "entry_points": ("list", ["websecure"], "str"),
        "database_manager_allowlist": ("list", ["127.0.0.1/32"], "str"),
        "maintenance_allowlist": ("list", ["127.0.0.1/32"], "str"),
        "maintenance": ("bool", False),
    },
    "network": {
        "dns_namespace": ("str", "kube-system"),
        "dns_labels": ("dict", {"k8s-app": "kube-dns"}),
        "api_server_cidrs": ("list", ["0.0.0.0/0"], "str"),
        "object_storage_cidrs": ("list", ["0.0.0.0/0"], "str"),
        "object_storage_ports": ("list", [443], "int"),
        "cnpg_operator_namespace": ("str", "cnpg-system"),
        "odoo_extra_egress": ("list", [], "dict"),       # [{cidr: ..., ports: [587]}] e.g. SMTP
    },
    "defaults": ("settings", {}),
    "environments": ("list", None, "environment"),
}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")
_SUFFIX = {None: 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}


def parse_quantity(value, field: str = "quantity") -> float:
    """Kubernetes quantity ('500m', '2', '3Gi') -> float (cores or bytes)."""
    match = _QUANTITY.match(str(value))
    if not match:
        raise K8sRenderError(field, f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 2Gi)")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def _check_value(kind: str, value, field: str, choices=None):
    if kind == "str":
        if not isinstance(value, str):
            raise K8sRenderError(field, f"must be a string, got {type(value).__name__}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise K8sRenderError(field, f"must be an integer, got {value!r}")
        if value < 0:
            raise K8sRenderError(field, f"must not be negative, got {value}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise K8sRenderError(field, f"must be true or false, got {value!r}")
    elif kind == "quantity":
        value = str(value)
        parse_quantity(value, field)
    elif kind == "dict" and not isinstance(value, dict):
        raise K8sRenderError(field, f"must be a mapping, got {type(value).__name__}")
    if choices and value not in choices:
        raise K8sRenderError(field, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def _normalise(schema: dict, data, path: str, fill: bool) -> dict:
    """Check data against schema; fill defaults when fill (partial overrides keep only what is given)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise K8sRenderError(path or "platform", f"must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(schema))
    if unknown:
        raise K8sRenderError(f"{path}.{unknown[0]}" if path else unknown[0],
                             f"unknown key (known: {', '.join(sorted(schema))})")
    out = {}
    for key, rule in schema.items():
        field = f"{path}.{key}" if path else key
        if isinstance(rule, dict):
            if key in data or fill:
                out[key] = _normalise(rule, data.get(key), field, fill)
            continue
        kind, default = rule[0], rule[1]
        if key not in data:
            if fill:
                out[key] = copy.deepcopy(default)
            continue
        value = data[key]
        if value is None:
            out[key] = None
            continue
        if kind == "list":
            if not isinstance(value, list):
                raise K8sRenderError(field, f"must be a list, got {type(value).__name__}")
            item_kind = rule[2]
            if item_kind in ("str", "int", "dict"):
                value = [_check_value(item_kind, v, f"{field}[{i}]") for i, v in enumerate(value)]
            out[key] = copy.deepcopy(value)
        elif kind == "settings":
            out[key] = _normalise(TENANT_SETTINGS, value, field, fill=False)
        else:
            out[key] = _check_value(kind, value, field, rule[2] if len(rule) > 2 else None)
    return out


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("parameters",):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _dns_label(value: str, field: str, max_len: int = 63) -> str:
    if not isinstance(value, str) or not _DNS_LABEL.match(value) or len(value) > max_len:
        raise K8sRenderError(field, f"{value!r} is not a DNS-1123 label (lower case, digits, '-', at most "
                                    f"{max_len} characters)")
    return value


# -- the normalised model --------------------------------------------------------------------------
class Tenant:
    """One environment x tenant: its settings after merging, its sizing and its objects."""

    def __init__(self, platform: dict, environment: str, name: str, namespace: str, hosts: list,
                 settings: dict, path: str):
        self.platform = platform
        self.environment = environment
        self.name = name
        self.namespace = namespace
        self.hosts = hosts
        self.s = settings
        self.path = path
        self.objects: list[dict] = []
        self.sizing: dict = {}

    @property
    def key(self) -> str:
        return f"{self.environment}/{self.name}"

    def labels(self, component: str | None = None) -> dict:
        labels = {"app.kubernetes.io/part-of": self.platform["name"], "app.kubernetes.io/instance": self.name,
                  "app.kubernetes.io/managed-by": MANAGED_BY, "odooops.io/environment": self.environment,
                  "odooops.io/tenant": self.name}
        if component:
            labels["app.kubernetes.io/component"] = component
        return labels

    def selector(self, component: str) -> dict:
        return {"app.kubernetes.io/instance": self.name, "app.kubernetes.io/component": component}

    def meta(self, name: str, component: str | None = None, namespaced: bool = True) -> dict:
        meta = {"name": name, "labels": self.labels(component)}
        if namespaced:
            meta["namespace"] = self.namespace
        return meta


def load(spec: dict) -> tuple[dict, list[Tenant]]:
    """Check and merge the description; returns the platform settings and the tenants (not yet rendered)."""
    platform = _normalise(PLATFORM_SCHEMA, spec, "", fill=True)
    _dns_label(platform["name"], "name", 30)
    version = platform["kubernetes_version"]
    match = re.match(r"^v?(\d+)\.(\d+)", str(version))
    if not match or (int(match.group(1)), int(match.group(2))) < MIN_KUBERNETES:
        raise K8sRenderError("kubernetes_version", f"{version!r}: Kubernetes 1.30 or newer is required")
    if len(set(platform["zones"])) != len(platform["zones"]):
        raise K8sRenderError("zones", "zones must be distinct")
    environments = platform["environments"]
    if not environments:
        raise K8sRenderError("environments", "at least one environment with at least one tenant is required")
    defaults = _merge(_normalise(TENANT_SETTINGS, {}, "defaults", fill=True), platform["defaults"] or {})
    tenants: list[Tenant] = []
    namespaces: dict[str, str] = {}
    for e_index, env in enumerate(environments):
        e_path = f"environments[{e_index}]"
        if not isinstance(env, dict):
            raise K8sRenderError(e_path, "must be a mapping")
        env = dict(env)
        env_name = _dns_label(env.pop("name", None), f"{e_path}.name", 20)
        env_tenants = env.pop("tenants", None)
        if not env_tenants or not isinstance(env_tenants, list):
            raise K8sRenderError(f"{e_path}.tenants", "at least one tenant is required")
        env_settings = _merge(defaults, _normalise(TENANT_SETTINGS, env, e_path, fill=False))
        seen = set()
        for t_index, tenant in enumerate(env_tenants):
            t_path = f"{e_path}.tenants[{t_index}]"
            if not isinstance(tenant, dict):
                raise K8sRenderError(t_path, "must be a mapping")
            tenant = dict(tenant)
            t_name = _dns_label(tenant.pop("name", None), f"{t_path}.name", 30)
            if t_name in seen:
                raise K8sRenderError(f"{t_path}.name", f"tenant {t_name!r} appears twice in {env_name}")
            seen.add(t_name)
            hosts = tenant.pop("hosts", None)
            if not hosts or not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
                raise K8sRenderError(f"{t_path}.hosts", "a list of at least one host name is required")
            namespace = tenant.pop("namespace", None) or f"{platform['name']}-{env_name}-{t_name}"
            _dns_label(namespace, f"{t_path}.namespace")
            if namespace in namespaces:
                raise K8sRenderError(f"{t_path}.namespace", f"{namespace!r} already used by {namespaces[namespace]}")
            namespaces[namespace] = f"{env_name}/{t_name}"
            settings = _merge(env_settings, _normalise(TENANT_SETTINGS, tenant, t_path, fill=False))
            tenants.append(Tenant(platform, env_name, t_name, namespace, list(hosts), settings, t_path))
    return platform, tenants


# -- checks that need several fields ---------------------------------------------------------------
def _check_resources(res: dict, field: str) -> None:
    for kind in ("cpu", "memory"):
        req, lim = res["requests"][kind], res["limits"][kind]
        if req is None or lim is None:
            raise K8sRenderError(f"{field}.{'requests' if req is None else 'limits'}.{kind}", "is required")
        if parse_quantity(lim, f"{field}.limits.{kind}") < parse_quantity(req, f"{field}.requests.{kind}"):
            raise K8sRenderError(f"{field}.limits.{kind}",
                                 f"limit {lim} is below the request {req} ({field}.requests.{kind})")


def _size(t: Tenant) -> dict:
    o, pg = t.s["odoo"], t.s["postgres"]
    p = t.path
    _check_resources(o["resources"], f"{p}.odoo.resources")
    _check_resources(o["cron_resources"], f"{p}.odoo.cron_resources")
    _check_resources(pg["resources"], f"{p}.postgres.resources")
    _check_resources(t.s["redis"]["resources"], f"{p}.redis.resources")
    _check_resources(t.s["limit_range"], f"{p}.limit_range")
    _check_resources(t.s["jobs"]["resources"], f"{p}.jobs.resources")
    if o["replicas"] < 1:
        raise K8sRenderError(f"{p}.odoo.replicas", "at least one web replica is required")
    if pg["instances"] < 1:
        raise K8sRenderError(f"{p}.postgres.instances", "at least one PostgreSQL instance is required")
    sync = pg["synchronous"]
    if sync["enabled"] and pg["instances"] > 1 and not 1 <= sync["number"] < pg["instances"]:
        raise K8sRenderError(f"{p}.postgres.synchronous.number",
                             f"{sync['number']} synchronous standbys need between 1 and instances - 1 "
                             f"({pg['instances'] - 1})")
    cpus = max(1, math.floor(parse_quantity(o["resources"]["limits"]["cpu"])))
    memory_mib = int(parse_quantity(o["resources"]["limits"]["memory"]) // sizing.MIB)
    try:
        sized = sizing.odoo_workers(cpus, memory_mib, o["reserved_mib"], o["workers"])
    except sizing.SizingError as exc:
        raise K8sRenderError(f"{p}.odoo.resources.limits", str(exc)) from exc
    workers = o["workers"] if o["workers"] is not None else sized["workers"]
    if workers < 1:
        raise K8sRenderError(f"{p}.odoo.workers", "at least one worker is required")
    for problem in (sizing.check_db_maxconn(o["db_maxconn"], 0, "db_maxconn")
                    + sizing.check_db_maxconn(o["cron_db_maxconn"], o["cron_threads"], "cron_db_maxconn",
                                              "cron_threads")):
        raise K8sRenderError(f"{p}.odoo.{problem.split(' ', 1)[0]}", problem)
    budget = pg["max_connections"] - pg["reserved_connections"]
    if budget <= 0:
        raise K8sRenderError(f"{p}.postgres.max_connections",
                             f"max_connections {pg['max_connections']} minus reserved_connections "
                             f"{pg['reserved_connections']} leaves no connection for Odoo")
    budget_max = sizing.max_web_replicas(budget, workers, o["db_maxconn"], o["cron_threads"], o["cron_db_maxconn"])
    per_replica = sizing.process_connections(workers, 0, o["db_maxconn"])
    explain = (f"each web replica may open {per_replica} connections ((workers {workers} + 1) x db_maxconn "
               f"{o['db_maxconn']}), counted twice during a rolling update, plus "
               f"{sizing.process_connections(0, o['cron_threads'], o['cron_db_maxconn'])} for cron, within the budget "
               f"of max_connections {pg['max_connections']} - {pg['reserved_connections']} reserved = {budget}, "
               f"which holds at most {budget_max} web replicas; lower workers or db_maxconn, or raise "
               f"postgres.max_connections")
    if o["replicas"] > budget_max:
        raise K8sRenderError(f"{p}.odoo.replicas", f"{o['replicas']} replicas exceed the connection budget: "
                                                   f"{explain}")
    max_replicas = o["max_replicas"] if o["max_replicas"] is not None else budget_max
    if max_replicas > budget_max:
        raise K8sRenderError(f"{p}.odoo.max_replicas", f"{max_replicas} replicas exceed the connection budget: "
                                                       f"{explain}")
    if max_replicas < o["replicas"]:
        raise K8sRenderError(f"{p}.odoo.max_replicas",
                             f"{max_replicas} is below odoo.replicas {o['replicas']}")
    demand = sizing.connection_demand([{"name": t.key, "web_replicas": max_replicas, "workers": workers,
                                        "cron_threads": o["cron_threads"], "db_maxconn": o["db_maxconn"],
                                        "cron_db_maxconn": o["cron_db_maxconn"]}])
    tls = t.s["tls"]
    if not tls["secret_name"] and not tls["cert_manager_issuer"]:
        raise K8sRenderError(f"{p}.tls.secret_name", "a TLS secret name (or tls.cert_manager_issuer) is required "
                                                     "for the IngressRoute")
    if pg["backup"]["enabled"] and not pg["backup"]["destination_path"]:
        raise K8sRenderError(f"{p}.postgres.backup.destination_path",
                             "required when postgres.backup.enabled (e.g. s3://bucket/prefix)")
    rec = pg["recovery"]
    if rec["enabled"]:
        if not rec["source_cluster"]:
            raise K8sRenderError(f"{p}.postgres.recovery.source_cluster", "required when recovery.enabled")
        if not (rec["destination_path"] or pg["backup"]["destination_path"]):
            raise K8sRenderError(f"{p}.postgres.recovery.destination_path", "required when recovery.enabled")
    for name in ("config_secret", "service_account"):
        if not o[name]:
            raise K8sRenderError(f"{p}.odoo.{name}", "is required")
    if not pg["login_role_secret"]:
        raise K8sRenderError(f"{p}.postgres.login_role_secret", "is required")
    if t.s["redis"]["enabled"] and not t.s["redis"]["acl_secret"]:
        raise K8sRenderError(f"{p}.redis.acl_secret", "is required when redis.enabled")
    return {"workers": workers, "limit_memory_soft": sized["limit_memory_soft"],
            "limit_memory_hard": sized["limit_memory_hard"], "replicas": o["replicas"],
            "max_replicas": max_replicas, "budget": budget, "budget_max_replicas": budget_max,
            "connections_peak": demand["peak"], "connections_steady": demand["steady"]}


# -- objects -----------------------------------------------------------------------------------------
def _resources(res: dict) -> dict:
    return {"requests": {k: str(v) for k, v in res["requests"].items()},
            "limits": {k: str(v) for k, v in res["limits"].items()}}


def _pod_security(run_as: int) -> dict:
    return {"runAsNonRoot": True, "runAsUser": run_as, "runAsGroup": run_as, "fsGroup": run_as,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _container_security() -> dict:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]}}


def _zone_spread(t: Tenant, component: str) -> list:
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": t.selector(component)}}]
    if t.platform["zones"]:
        spread.insert(0, {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                          "whenUnsatisfiable": "DoNotSchedule",
                          "labelSelector": {"matchLabels": t.selector(component)}})
    return spread


def _zone_affinity(t: Tenant) -> dict | None:
    if not t.platform["zones"]:
        return None
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In",
                               "values": list(t.platform["zones"])}]}]}}}


def odoo_volumes(t: Tenant) -> tuple[list, list]:
    """Volumes and mounts of an Odoo container: odoo.conf from its Secret, data dir, /tmp."""
    o = t.s["odoo"]
    volumes = [{"name": "config", "secret": {"secretName": o["config_secret"], "defaultMode": 0o440,
                                             "items": [{"key": o["config_secret_key"], "path": "odoo.conf"}]}},
               {"name": "tmp", "emptyDir": {}}]
    if t.s["filestore"]["mode"] == "rwx":
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": "odoo-filestore"}})
    else:
        volumes.append({"name": "data", "emptyDir": {}})
    mounts = [{"name": "config", "mountPath": "/etc/odoo", "readOnly": True},
              {"name": "data", "mountPath": "/var/lib/odoo"},
              {"name": "tmp", "mountPath": "/tmp"}]
    return volumes, mounts


def odoo_container(t: Tenant, name: str, resources: dict, extra_args: list | None = None,
                   image: str | None = None, probes: bool = True) -> dict:
    """The Odoo container: the official image's entrypoint is bypassed (it copies db settings to args)."""
    _volumes, mounts = odoo_volumes(t)
    img = t.s["image"]
    container = {
        "name": name,
        "image": image or f"{img['repository']}:{img['tag']}",
        "imagePullPolicy": img["pull_policy"],
        "command": ["odoo"],
        "args": ["--config=/etc/odoo/odoo.conf", *(extra_args or [])],
        "env": [{"name": "ODOO_RC", "value": "/etc/odoo/odoo.conf"}],
        "resources": _resources(resources),
        "securityContext": _container_security(),
        "volumeMounts": mounts,
    }
    if probes:
        # liveness: /web/health, which Odoo answers without touching a database (the process runs); readiness:
        # the login page of the tenant's database (selected by odoo.conf's dbfilter, through the tenant's first host
        # name for a %h/%d filter), which answers 200 only once that database loads
        health = {"httpGet": {"path": "/web/health", "port": "http"}}
        login = {"httpGet": {"path": "/web/login", "port": "http",
                             **({"httpHeaders": [{"name": "Host", "value": t.hosts[0]}]} if t.hosts else {})}}
        container["ports"] = [{"name": "http", "containerPort": ODOO_HTTP_PORT, "protocol": "TCP"},
                              {"name": "gevent", "containerPort": ODOO_GEVENT_PORT, "protocol": "TCP"}]
        container["startupProbe"] = {**health, "periodSeconds": 5, "failureThreshold": 60, "timeoutSeconds": 3}
        container["readinessProbe"] = {**login, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 5}
        container["livenessProbe"] = {**health, "periodSeconds": 20, "failureThreshold": 6, "timeoutSeconds": 5}
    return container


def odoo_pod_spec(t: Tenant, containers: list, restart: str | None = None, component: str | None = None) -> dict:
    volumes, _mounts = odoo_volumes(t)
    spec = {"serviceAccountName": t.s["odoo"]["service_account"], "automountServiceAccountToken": False,
            "securityContext": _pod_security(t.s["odoo"]["run_as_user"]), "containers": containers,
            "volumes": volumes, "terminationGracePeriodSeconds": 60}
    if component:
        spec["topologySpreadConstraints"] = _zone_spread(t, component)
    affinity = _zone_affinity(t)
    if affinity:
        spec["affinity"] = affinity
    if restart:
        spec["restartPolicy"] = restart
    return spec


def _namespace(t: Tenant) -> list:
    meta = t.meta(t.namespace, namespaced=False)
    meta["labels"]["pod-security.kubernetes.io/enforce"] = "restricted"
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}]


def _quota(t: Tenant) -> list:
    s = t.s
    lr = s["limit_range"]
    objs = [{"apiVersion": "v1", "kind": "LimitRange", "metadata": t.meta("odooops-defaults"),
             "spec": {"limits": [{"type": "Container", "defaultRequest": {k: str(v) for k, v in
                                                                          lr["requests"].items()},
                                  "default": {k: str(v) for k, v in lr["limits"].items()}}]}}]
    if not s["quota"]["enabled"]:
        return objs
    # what the tenant may run at most: web at max replicas + one surge, cron, PostgreSQL, Redis, a Job
    parts = [(s["odoo"]["resources"], t.sizing["max_replicas"] + 1), (s["odoo"]["cron_resources"], 1),
             (s["postgres"]["resources"], s["postgres"]["instances"]), (s["jobs"]["resources"], 1)]
    pods = t.sizing["max_replicas"] + 1 + 1 + s["postgres"]["instances"] + 1
    if s["redis"]["enabled"]:
        parts.append((s["redis"]["resources"], 1))
        pods += 1
    if s["postgres"]["pooler"]["enabled"]:
        # PgBouncer pods get the LimitRange defaults
        parts.append((s["limit_range"], s["postgres"]["pooler"]["instances"]))
        pods += s["postgres"]["pooler"]["instances"]
    factor = 1 + s["quota"]["headroom_pct"] / 100
    hard = {}
    for scope in ("requests", "limits"):
        cpu = sum(parse_quantity(r[scope]["cpu"]) * n for r, n in parts) * factor
        mem = sum(parse_quantity(r[scope]["memory"]) * n for r, n in parts) * factor
        hard[f"{scope}.cpu"] = f"{math.ceil(cpu * 1000)}m"
        hard[f"{scope}.memory"] = f"{math.ceil(mem / sizing.MIB)}Mi"
    storage = s["quota"]["storage"]
    if storage is None:
        total = parse_quantity(s["postgres"]["storage"]["size"]) * s["postgres"]["instances"]
        if s["postgres"]["wal_storage"]["size"]:
            total += parse_quantity(s["postgres"]["wal_storage"]["size"]) * s["postgres"]["instances"]
        if s["filestore"]["mode"] == "rwx":
            total += parse_quantity(s["filestore"]["size"])
        storage = f"{math.ceil(total * factor / 2 ** 30)}Gi"
    hard["requests.storage"] = str(storage)
    hard["pods"] = str(s["quota"]["pods"] or math.ceil(pods * factor))
    objs.insert(0, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": t.meta("odooops-quota"),
                    "spec": {"hard": hard}})
    return objs


def _policy(t: Tenant, name: str, selector: dict, ingress=None, egress=None) -> dict:
    types = []
    spec = {"podSelector": {"matchLabels": selector} if selector else {}}
    if ingress is not None:
        types.append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        types.append("Egress")
        spec["egress"] = egress
    spec["policyTypes"] = types
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": t.meta(name), "spec": spec}


def _ports(*ports: int) -> list:
    return [{"protocol": "TCP", "port": p} for p in ports]


def _network_policies(t: Tenant) -> list:
    net, ing = t.platform["network"], t.platform["ingress"]
    odoo_pods = {"odooops.io/tenant": t.name, "odooops.io/odoo": "true"}
    pg_pods = {"cnpg.io/cluster": t.s["postgres"]["cluster_name"]}
    redis_pods = t.selector("redis")
    pg_target = [{"podSelector": {"matchLabels": pg_pods}}]
    if t.s["postgres"]["pooler"]["enabled"]:
        pg_target.append({"podSelector": {"matchLabels": {"cnpg.io/poolerName": "pg-pooler"}}})
    objs = [
        _policy(t, "default-deny", {}, ingress=[], egress=[]),
        _policy(t, "allow-dns", {}, egress=[{
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": net["dns_namespace"]}},
                    "podSelector": {"matchLabels": dict(net["dns_labels"])}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]),
        _policy(t, "allow-ingress-controller-to-odoo", t.selector("web"), ingress=[{
            "from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": ing["controller_namespace"]}},
                "podSelector": {"matchLabels": dict(ing["controller_labels"])}}],
            "ports": _ports(ODOO_HTTP_PORT, ODOO_GEVENT_PORT)}]),
    ]
    odoo_egress = [{"to": pg_target, "ports": _ports(PG_PORT)}]
    if t.s["redis"]["enabled"]:
        odoo_egress.append({"to": [{"podSelector": {"matchLabels": redis_pods}}], "ports": _ports(REDIS_PORT)})
    for i, rule in enumerate(net["odoo_extra_egress"]):
        if not rule.get("cidr") or not rule.get("ports"):
            raise K8sRenderError(f"network.odoo_extra_egress[{i}]", "needs cidr and ports")
        odoo_egress.append({"to": [{"ipBlock": {"cidr": rule["cidr"]}}], "ports": _ports(*rule["ports"])})
    if t.s["filestore"]["mode"] == "object_storage":
        odoo_egress.append({"to": [{"ipBlock": {"cidr": c}} for c in net["object_storage_cidrs"]],
                            "ports": _ports(*net["object_storage_ports"])})
    objs.append(_policy(t, "allow-odoo-egress", odoo_pods, egress=odoo_egress))
    odoo_from = [{"podSelector": {"matchLabels": odoo_pods}}]
    operator = {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": net["cnpg_operator_namespace"]}}}
    objs.append(_policy(t, "allow-postgres", pg_pods, ingress=[
        {"from": odoo_from + [{"podSelector": {"matchLabels": pg_pods}}], "ports": _ports(PG_PORT)},
        {"from": [operator, {"podSelector": {"matchLabels": pg_pods}}], "ports": _ports(CNPG_STATUS_PORT, PG_PORT)},
    ] + ([{"from": [{"podSelector": {"matchLabels": {"cnpg.io/poolerName": "pg-pooler"}}}],
           "ports": _ports(PG_PORT)}] if t.s["postgres"]["pooler"]["enabled"] else []),
        egress=[
        {"to": [{"podSelector": {"matchLabels": pg_pods}}], "ports": _ports(PG_PORT, CNPG_STATUS_PORT)},
        {"to": [{"ipBlock": {"cidr": c}} for c in net["api_server_cidrs"]], "ports": _ports(443, 6443)},
        {"to": [{"ipBlock": {"cidr": c}} for c in net["object_storage_cidrs"]],
         "ports": _ports(*net["object_storage_ports"])},
    ]))
    if t.s["postgres"]["pooler"]["enabled"]:
        objs.append(_policy(t, "allow-pooler", {"cnpg.io/poolerName": "pg-pooler"},
                            ingress=[{"from": odoo_from, "ports": _ports(PG_PORT)},
                                     {"from": [operator], "ports": _ports(PG_PORT, 9127)}],
                            egress=[{"to": [{"podSelector": {"matchLabels": pg_pods}}], "ports": _ports(PG_PORT)},
                                    {"to": [{"ipBlock": {"cidr": c}} for c in net["api_server_cidrs"]],
                                     "ports": _ports(443, 6443)}]))
    if t.s["redis"]["enabled"]:
        objs.append(_policy(t, "allow-redis", redis_pods, ingress=[{"from": odoo_from, "ports": _ports(REDIS_PORT)}],
                            egress=[]))
    return objs


AUTOMATION_RULES = [
    # exactly what the workflows (playbooks/kubernetes/*.yml) do in the tenant namespace
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},   # the smoke check after an upgrade
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": ["traefik.io"], "resources": ["middlewares"], "verbs": ["get", "patch"]},
    {"apiGroups": ["postgresql.cnpg.io"], "resources": ["clusters"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["postgresql.cnpg.io"], "resources": ["clusters/status"], "verbs": ["get", "patch"]},
    {"apiGroups": ["postgresql.cnpg.io"], "resources": ["backups"], "verbs": ["get", "list", "watch", "create"]},
]


def _rbac(t: Tenant) -> list:
    sa = t.s["odoo"]["service_account"]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": t.meta(sa, "web"),
         "automountServiceAccountToken": False},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": t.meta("odooops-automation", "automation"),
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": t.meta("odooops-automation",
                                                                                          "automation"),
         "rules": copy.deepcopy(AUTOMATION_RULES)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": t.meta("odooops-automation", "automation"),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "odooops-automation"},
         "subjects": [{"kind": "ServiceAccount", "name": "odooops-automation", "namespace": t.namespace}]},
    ]


def _odoo(t: Tenant) -> list:
    o = t.s["odoo"]
    autoscale = t.sizing["max_replicas"] > o["replicas"]
    web_labels = {**t.labels("web"), "odooops.io/odoo": "true"}
    cron_labels = {**t.labels("cron"), "odooops.io/odoo": "true"}
    web_args = [f"--workers={t.sizing['workers']}", "--max-cron-threads=0",
                f"--limit-memory-soft={t.sizing['limit_memory_soft']}",
                f"--limit-memory-hard={t.sizing['limit_memory_hard']}", f"--db_maxconn={o['db_maxconn']}",
                "--proxy-mode"]
    cron_args = ["--workers=0", f"--max-cron-threads={o['cron_threads']}", f"--db_maxconn={o['cron_db_maxconn']}",
                 "--no-http"]
    web = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": t.meta("odoo-web", "web"), "spec": {
        "selector": {"matchLabels": t.selector("web")},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "revisionHistoryLimit": 5,
        "template": {"metadata": {"labels": web_labels},
                     "spec": odoo_pod_spec(t, [odoo_container(t, "odoo", o["resources"], web_args)],
                                           component="web")}}}
    if not autoscale:
        web["spec"]["replicas"] = o["replicas"]   # with an HPA the autoscaler owns the count (GitOps-safe)
    cron_container = odoo_container(t, "odoo-cron", o["cron_resources"], cron_args, probes=False)
    # cron has no HTTP server: liveness by its process only, readiness = the process runs
    probe = {"exec": {"command": ["sh", "-c", "test -d /proc/1"]}, "periodSeconds": 30}
    cron_container["readinessProbe"] = dict(probe)
    cron_container["livenessProbe"] = dict(probe)
    cron = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": t.meta("odoo-cron", "cron"), "spec": {
        "replicas": 1, "selector": {"matchLabels": t.selector("cron")}, "strategy": {"type": "Recreate"},
        "revisionHistoryLimit": 5,
        "template": {"metadata": {"labels": cron_labels},
                     "spec": odoo_pod_spec(t, [cron_container], component="cron")}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": t.meta("odoo-web", "web"), "spec": {
        "type": "ClusterIP", "selector": t.selector("web"),
        "ports": [{"name": "http", "port": ODOO_HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                  {"name": "gevent", "port": ODOO_GEVENT_PORT, "targetPort": "gevent", "protocol": "TCP"}]}}
    objs = [web, cron, svc]
    if o["replicas"] > 1 or autoscale:
        objs.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": t.meta("odoo-web", "web"),
                     "spec": {"maxUnavailable": 1, "selector": {"matchLabels": t.selector("web")}}})
    if autoscale:
        objs.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                     "metadata": t.meta("odoo-web", "web"), "spec": {
                         "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "odoo-web"},
                         "minReplicas": o["replicas"], "maxReplicas": t.sizing["max_replicas"],
                         "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                             "type": "Utilization", "averageUtilization": o["target_cpu_utilization"]}}}]}})
    if t.s["filestore"]["mode"] == "rwx":
        pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": t.meta("odoo-filestore", "web"),
               "spec": {"accessModes": ["ReadWriteMany"],
                        "resources": {"requests": {"storage": str(t.s["filestore"]["size"])}}}}
        if t.s["filestore"]["storage_class"]:
            pvc["spec"]["storageClassName"] = t.s["filestore"]["storage_class"]
        objs.append(pvc)
    return objs


def _redis(t: Tenant) -> list:
    r = t.s["redis"]
    if not r["enabled"]:
        return []
    container = {
        "name": "redis", "image": r["image"], "imagePullPolicy": t.s["image"]["pull_policy"],
        "command": ["redis-server"],
        # the ACL file comes from the Secret: no password on the command line; default user is off there
        "args": ["--aclfile", "/etc/redis-acl/users.acl", "--dir", "/data", "--appendonly", "no",
                 "--save", "", "--maxmemory-policy", "allkeys-lru"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 20, "failureThreshold": 6},
        "resources": _resources(r["resources"]), "securityContext": _container_security(),
        "volumeMounts": [{"name": "acl", "mountPath": "/etc/redis-acl", "readOnly": True},
                         {"name": "data", "mountPath": "/data"}]}
    spec = {"automountServiceAccountToken": False, "securityContext": _pod_security(r["run_as_user"]),
            "containers": [container],
            "volumes": [{"name": "acl", "secret": {"secretName": r["acl_secret"], "defaultMode": 0o440,
                                                   "items": [{"key": r["acl_secret_key"], "path": "users.acl"}]}},
                        {"name": "data", "emptyDir": {}}]}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": t.meta("redis", "redis"), "spec": {
            "replicas": 1, "selector": {"matchLabels": t.selector("redis")}, "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": t.labels("redis")}, "spec": spec}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": t.meta("redis", "redis"), "spec": {
            "type": "ClusterIP", "selector": t.selector("redis"),
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}]}},
    ]


def _host_rule(hosts: list) -> str:
    return " || ".join(f"Host(`{h}`)" for h in hosts)


def _traefik(t: Tenant) -> list:
    ing = t.platform["ingress"]
    allow_all = ["0.0.0.0/0", "::/0"]
    objs = [
        {"apiVersion": TRAEFIK_GROUP, "kind": "Middleware", "metadata": t.meta("security-headers", "web"), "spec": {
            "headers": {"stsSeconds": 31536000, "stsIncludeSubdomains": True, "forceSTSHeader": True,
                        "contentTypeNosniff": True, "frameDeny": True, "browserXssFilter": True,
                        "referrerPolicy": "strict-origin-when-cross-origin",
                        "customRequestHeaders": {"X-Forwarded-Proto": "https"}}}},
        {"apiVersion": TRAEFIK_GROUP, "kind": "Middleware", "metadata": t.meta("database-manager-allowlist", "web"),
         "spec": {"ipAllowList": {"sourceRange": list(ing["database_manager_allowlist"])}}},
        # maintenance mode: always in the chain; "off" lets everyone through, "on" only the maintenance ranges.
        # The upgrade workflow flips it with one patch of this object.
        {"apiVersion": TRAEFIK_GROUP, "kind": "Middleware", "metadata": {
            **t.meta("maintenance", "web"), "annotations": {"odooops.io/maintenance": "on" if ing["maintenance"]
                                                            else "off"}},
         "spec": {"ipAllowList": {"sourceRange": list(ing["maintenance_allowlist"]) if ing["maintenance"]
                                  else allow_all}}},
    ]
    hosts = _host_rule(t.hosts)
    base_mw = [{"name": "maintenance"}, {"name": "security-headers"}]
    web = {"kind": "Service", "name": "odoo-web", "port": ODOO_HTTP_PORT}
    tls = t.s["tls"]
    secret = tls["secret_name"] or f"{t.name}-tls"
    route = {"apiVersion": TRAEFIK_GROUP, "kind": "IngressRoute", "metadata": t.meta("odoo", "web"), "spec": {
        "entryPoints": list(ing["entry_points"]),
        "routes": [
            # the database manager (UI and XML-RPC db service); /jsonrpc stays open for integrations: its db
            # service needs the master password (stored hashed) and list_db = False hides the databases
            {"kind": "Rule", "match": f"({hosts}) && (PathPrefix(`/web/database`) || PathPrefix(`/xmlrpc/2/db`))",
             "priority": 100,
             "middlewares": [{"name": "database-manager-allowlist"}, *base_mw], "services": [dict(web)]},
            {"kind": "Rule", "match": f"({hosts}) && PathPrefix(`/websocket`)", "priority": 90,
             "middlewares": list(base_mw),
             "services": [{"kind": "Service", "name": "odoo-web", "port": ODOO_GEVENT_PORT}]},
            {"kind": "Rule", "match": hosts, "priority": 10, "middlewares": list(base_mw), "services": [dict(web)]},
        ],
        "tls": {"secretName": secret}}}
    objs.append(route)
    if not tls["secret_name"]:
        # cert-manager issues the certificate into <tenant>-tls (schema not available offline: policy-checked)
        objs.append({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": t.meta(secret, "web"),
                     "spec": {"secretName": secret, "dnsNames": list(t.hosts),
                              "issuerRef": {"name": tls["cert_manager_issuer"],
                                            "kind": tls["cert_manager_issuer_kind"], "group": "cert-manager.io"}}})
    return objs


def barman_store(t: Tenant, destination_path: str, server_name: str | None = None) -> dict:
    b = t.s["postgres"]["backup"]
    secret = b["credentials_secret"]
    store = {"destinationPath": destination_path,
             "s3Credentials": {"accessKeyId": {"name": secret, "key": b["access_key_id_key"]},
                               "secretAccessKey": {"name": secret, "key": b["secret_access_key_key"]}},
             "wal": {"compression": "gzip", "maxParallel": 2},
             "data": {"compression": "gzip", "jobs": 2}}
    if b["encryption"]:
        store["wal"]["encryption"] = b["encryption"]
        store["data"]["encryption"] = b["encryption"]
    if b["endpoint_url"]:
        store["endpointURL"] = b["endpoint_url"]
    if server_name:
        store["serverName"] = server_name
    return store


def _cnpg(t: Tenant) -> list:
    pg = t.s["postgres"]
    name = pg["cluster_name"]
    roles = [{"name": pg["owner_role"], "ensure": "present", "login": False, "createdb": True, "inherit": True,
              "comment": "owns the Odoo databases"}]
    for role in [pg["login_role"], *pg["extra_login_roles"]]:
        secret = pg["login_role_secret"] if role == pg["login_role"] else f"{pg['login_role_secret']}-{role}"
        roles.append({"name": role, "ensure": "present", "login": True, "inherit": True, "createdb": False,
                      "inRoles": [pg["owner_role"]], "passwordSecret": {"name": secret},
                      "connectionLimit": t.sizing["connections_peak"]})
    parameters = {"max_connections": str(pg["max_connections"]), "superuser_reserved_connections": "3",
                  "wal_compression": "on", "log_min_duration_statement": "1000"}
    parameters.update({k: str(v) for k, v in (pg["parameters"] or {}).items()})
    role_sql = [f'ALTER ROLE "{r}" SET role = \'{pg["owner_role"]}\''
                for r in [pg["login_role"], *pg["extra_login_roles"]]]
    spec = {
        "instances": pg["instances"],
        "imageName": pg["image"],
        "enableSuperuserAccess": False,
        "primaryUpdateStrategy": "unsupervised",
        "primaryUpdateMethod": "switchover",
        "postgresql": {"parameters": parameters,
                       "pg_hba": ["hostssl all all all scram-sha-256", "host all all all reject"]},
        "storage": {"size": str(pg["storage"]["size"])},
        "resources": _resources(pg["resources"]),
        "affinity": {"enablePodAntiAffinity": True, "podAntiAffinityType": "required",
                     "topologyKey": "topology.kubernetes.io/zone" if t.platform["zones"]
                     else "kubernetes.io/hostname"},
        "managed": {"roles": roles},
    }
    if t.platform["zones"]:
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                              "whenUnsatisfiable": "DoNotSchedule",
                                              "labelSelector": {"matchLabels": {"cnpg.io/cluster": name}}}]
    if pg["storage"]["storage_class"]:
        spec["storage"]["storageClass"] = pg["storage"]["storage_class"]
    if pg["wal_storage"]["size"]:
        spec["walStorage"] = {"size": str(pg["wal_storage"]["size"])}
        if pg["wal_storage"]["storage_class"]:
            spec["walStorage"]["storageClass"] = pg["wal_storage"]["storage_class"]
    sync = pg["synchronous"]
    if sync["enabled"] and pg["instances"] > 1:
        spec["postgresql"]["synchronous"] = {"method": sync["method"], "number": sync["number"],
                                             "dataDurability": sync["data_durability"]}
    certs = {k: pg["tls"][f] for k, f in (("serverTLSSecret", "server_secret"), ("serverCASecret", "server_ca_secret"),
                                          ("clientCASecret", "client_ca_secret"),
                                          ("replicationTLSSecret", "replication_secret")) if pg["tls"][f]}
    if certs:
        spec["certificates"] = certs   # else the operator issues and rotates its own (TLS is always on)
    rec = pg["recovery"]
    if rec["enabled"]:
        source_path = rec["destination_path"] or pg["backup"]["destination_path"]
        recovery = {"source": "origin", "database": pg["database"], "owner": pg["owner_role"]}
        if rec["target_time"]:
            recovery["recoveryTarget"] = {"targetTime": rec["target_time"]}
        spec["bootstrap"] = {"recovery": recovery}
        spec["externalClusters"] = [{"name": "origin",
                                     "barmanObjectStore": barman_store(t, source_path, rec["source_cluster"])}]
    else:
        spec["bootstrap"] = {"initdb": {"database": pg["database"], "owner": pg["owner_role"],
                                        "encoding": "UTF8", "localeCollate": "C", "localeCType": "C",
                                        "postInitSQL": [f'CREATE ROLE "{r}" LOGIN' for r in
                                                        [pg["login_role"], *pg["extra_login_roles"]]]
                                        + [f'GRANT "{pg["owner_role"]}" TO "{r}"' for r in
                                           [pg["login_role"], *pg["extra_login_roles"]]] + role_sql}}
    objs = []
    if pg["backup"]["enabled"]:
        # serverName is namespace-qualified so tenants can share one bucket prefix without collisions
        spec["backup"] = {"barmanObjectStore": barman_store(t, pg["backup"]["destination_path"],
                                                            f"{t.namespace}-{name}"),
                          "retentionPolicy": pg["backup"]["retention"], "target": "prefer-standby"}
        objs.append({"apiVersion": CNPG_GROUP, "kind": "ScheduledBackup",
                     "metadata": t.meta(f"{name}-daily", "postgres"),
                     "spec": {"schedule": pg["backup"]["schedule"], "cluster": {"name": name},
                              "backupOwnerReference": "self", "method": "barmanObjectStore",
                              "immediate": True}})
    objs.insert(0, {"apiVersion": CNPG_GROUP, "kind": "Cluster", "metadata": t.meta(name, "postgres"),
                    "spec": spec})
    if pg["pooler"]["enabled"]:
        p = pg["pooler"]
        objs.append({"apiVersion": CNPG_GROUP, "kind": "Pooler", "metadata": t.meta("pg-pooler", "postgres"),
                     "spec": {"cluster": {"name": name}, "instances": p["instances"], "type": "rw",
                              "pgbouncer": {"poolMode": p["pool_mode"], "parameters": {
                                  "default_pool_size": str(p["default_pool_size"]),
                                  "max_client_conn": str(p["max_client_conn"])}}}})
    return objs


def render_tenant(t: Tenant) -> list[dict]:
    t.sizing = _size(t)
    objs = (_namespace(t) + _quota(t) + _rbac(t) + _network_policies(t) + _odoo(t) + _redis(t) + _traefik(t)
            + _cnpg(t))
    t.objects = objs
    return objs


def render(spec: dict) -> tuple[dict, list[Tenant]]:
    """Description -> (platform settings, tenants with .objects and .sizing). Raises K8sRenderError."""
    platform, tenants = load(spec)
    for tenant in tenants:
        render_tenant(tenant)
    return platform, tenants


def object_id(obj: dict) -> str:
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"
