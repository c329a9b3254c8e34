# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight of the workflow playbooks: the inventory slice a workflow uses, checked with strict types before any
change. Plain Python (no Ansible import), used by the action plugin plugins/action/preflight.py.

Ansible's own argument spec validation converts before it checks: a string passes `type: list` (split on commas),
"yes" passes `type: bool`. That is how `postgres_app_cidrs: "10.0.0.0/8"` or `-e rotate=db` got through. Here a
list must be a list, a dict a dict; then what specs cannot say: CIDRs parse, names match their patterns, secrets
are long enough, a workflow's own inputs (rotate, mode, failover_target, odooops_restore_method) are coherent.

Every function returns a list of messages (empty: fine); each message starts with the variable it is about.
"""
from __future__ import annotations

import ipaddress
import os
import re
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import sizing

try:
    import yaml
except ImportError:  # the controller always has PyYAML (ansible-core requires it); reported if not
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

BOOL_STRINGS = {"yes", "no", "true", "false", "on", "off", "1", "0", "y", "n", "t", "f"}

# PostgreSQL role names the platform creates (unquoted identifiers, as the roles and modules use them)
PG_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# database names Odoo accepts
DB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# a stack name prefixes container, network and volume names
STACK = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
# a site host name (a leading '*' for a wildcard certificate)
SITE_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
HBA_KEYWORDS = {"samenet", "samehost", "all"}

REDIS_MIN = 12
ODOO_MIN = 8

# inputs shared by several workflows (odooops_* of inventories/*/group_vars) and each workflow's own extra vars
COMMON_SPEC = {
    "odooops_stack": {"type": "str"},
    "odooops_db_name": {"type": "str"},
    "odooops_db_user": {"type": "str"},
    "odooops_db_owner_role": {"type": "str"},
    "odooops_replication_user": {"type": "str"},
    "odooops_backup_keys": {"type": "list", "elements": "dict"},
}
WORKFLOW_SPEC = {
    "rotate_secrets": {
        "rotate": {"type": "list", "elements": "str"},
        "rotate_secrets_db_login_roles": {"type": "list", "elements": "str"},
        "rotate_secrets_max_age_days": {"type": "dict"},
        "rotate_secrets_begin_values": {"type": "dict"},
    },
    "failover": {
        "mode": {"type": "str", "choices": ["switchover", "failover", "rejoin"]},
        "failover_target": {"type": "str"},
        "failover_candidates": {"type": "list", "elements": "str"},
    },
    "restore": {
        "odooops_restore_method": {"type": "str", "choices": ["logical", "pitr"]},
        "odooops_restore_force": {"type": "bool"},
        "odooops_restore_target": {"type": "str"},
        "odooops_restore_source_db": {"type": "str"},
        "odooops_pitr_host": {"type": "str"},
        "odooops_restore_target_time": {"type": "str"},
    },
    "backup": {},
    "dr_drill": {},
    "provision": {},
    "upgrade": {
        "upgrade_modules": {"type": "list", "elements": "str"},
        "upgrade_business_checks": {"type": "list", "elements": "dict"},
        "upgrade_emergency": {"type": "dict"},
        "upgrade_gates": {"type": "dict"},
        "upgrade_rehearsal": {"type": "bool"},
        "upgrade_open_check_url": {"type": "str"},
    },
    "rehearse": {
        "upgrade_modules": {"type": "list", "elements": "str"},
        "upgrade_business_checks": {"type": "list", "elements": "dict"},
        "upgrade_gates": {"type": "dict"},
    },
}


def load_role_options(roles_dir: str, role: str, entry_point: str = "main") -> dict:
    """The options of a role's entry point (roles/<role>/meta/argument_specs.yml)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", role):
        raise ValueError(f"not a role name: {role!r}")
    path = os.path.join(roles_dir, role, "meta", "argument_specs.yml")
    if not os.path.exists(path):
        raise ValueError(f"role {role} has no meta/argument_specs.yml under {roles_dir}")
    if not HAS_YAML:
        raise ValueError(f"{missing_required_lib('PyYAML')}: {YAML_IMPORT_ERROR}")
    with open(path, encoding="utf-8") as fh:
        specs = (yaml.safe_load(fh) or {}).get("argument_specs", {})
    if entry_point not in specs:
        raise ValueError(f"role {role} has no argument spec entry point {entry_point!r} (has {', '.join(specs)})")
    return specs[entry_point].get("options", {})


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a dict"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) <= 40 else "a string"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return type(value).__name__


def _kind_secret(value) -> str:
    return "a string" if isinstance(value, str) else _kind(value)


SECRET_WORDS = ("password", "secret", "pass", "_key", "token")


def is_secret(name: str, spec: dict | None = None) -> bool:
    return bool((spec or {}).get("no_log")) or any(w in name for w in SECRET_WORDS)


def type_error(name: str, value, spec: dict) -> str | None:
    """Strict type check of one value against an argument spec entry; None if it is fine."""
    want = spec.get("type", "str")
    kind = _kind_secret(value) if is_secret(name, spec) else _kind(value)
    if value is None:
        return None  # unset (a role default of null); the role decides
    if want == "list":
        if not isinstance(value, (list, tuple)):
            return f"{name} must be a list, got {kind}"
        return None
    if want == "dict":
        if not isinstance(value, dict):
            return f"{name} must be a dict, got {kind}"
        return None
    if want == "bool":
        if isinstance(value, bool) or (isinstance(value, str) and value.lower() in BOOL_STRINGS) \
                or (isinstance(value, int) and value in (0, 1)):
            return None
        return f"{name} must be a boolean (true/false), got {kind}"
    if want == "int":
        if isinstance(value, (bool, list, tuple, dict)):
            return f"{name} must be an integer, got {kind}"
        if isinstance(value, int):
            return None
        if isinstance(value, float) and value.is_integer():
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return None
        return f"{name} must be an integer, got {kind}"
    if want == "float":
        if isinstance(value, (bool, list, tuple, dict)):
            return f"{name} must be a number, got {kind}"
        try:
            float(value)
        except (TypeError, ValueError):
            return f"{name} must be a number, got {kind}"
        return None
    if want in ("str", "path", "raw"):
        if want != "raw" and isinstance(value, (list, tuple, dict)):
            return f"{name} must be a string, got {kind}"
        return None
    return None


def check_options(values: dict, options: dict, prefix: str = "") -> list[str]:
    """Strict types, choices and required sub-options of the values present, against an argument spec's options."""
    errors = []
    for name, spec in options.items():
        if name not in values:
            continue
        value = values[name]
        label = prefix + name
        err = type_error(label, value, spec)
        if err:
            errors.append(err)
            continue
        if value is None:
            continue
        choices = spec.get("choices")
        if choices and spec.get("type", "str") != "list" and str(value) not in [str(c) for c in choices]:
            shown = "a value" if is_secret(label, spec) else repr(value)
            errors.append(f"{label} must be one of {', '.join(str(c) for c in choices)}, got {shown}")
        if spec.get("type") == "list":
            elements = spec.get("elements")
            for i, item in enumerate(value):
                item_label = f"{label}[{i}]"
                if elements:
                    err = type_error(item_label, item, {"type": elements, "no_log": spec.get("no_log")})
                    if err:
                        errors.append(err)
                        continue
                if elements == "str" and item is None:
                    errors.append(f"{item_label} must be a string, got null")
                    continue
                if choices and str(item) not in [str(c) for c in choices]:
                    errors.append(f"{item_label} must be one of {', '.join(str(c) for c in choices)}, got {item!r}")
                if elements == "dict" and spec.get("options"):
                    errors += _check_suboptions(item, spec["options"], item_label)
        elif spec.get("type") == "dict" and spec.get("options"):
            errors += _check_suboptions(value, spec["options"], label)
    return errors


def _check_suboptions(value: dict, options: dict, label: str) -> list[str]:
    errors = [f"{label} needs '{name}'" for name, sub in options.items() if sub.get("required") and name not in value]
    unknown = sorted(str(k) for k in value if k not in options)
    if unknown:
        errors.append(f"{label} has unknown key(s) {', '.join(unknown)} (known: {', '.join(options)})")
    return errors + check_options(value, options, label + ".")


def check_cidrs(name: str, value) -> list[str]:
    """pg_hba addresses: CIDRs (a bare address is refused: pg_hba needs a mask) or samenet/samehost/all."""
    if not isinstance(value, (list, tuple)):
        return []  # reported by the type check
    errors = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item in HBA_KEYWORDS:
            continue
        if not isinstance(item, str) or "/" not in item:
            errors.append(f"{name}[{i}] must be a CIDR such as 10.0.0.0/8 (or samenet/samehost), got {_kind(item)}")
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            errors.append(f"{name}[{i}] is not a valid CIDR ({item!r}: {exc})")
    return errors


def check_name(name: str, value, pattern: re.Pattern, what: str) -> list[str]:
    if value is None or value == "" or not isinstance(value, str):
        return []
    if not pattern.match(value):
        return [f"{name} must be {what} (pattern {pattern.pattern}), got {value!r}"]
    return []


def check_secret(name: str, value, minimum: int) -> list[str]:
    """A secret is set and long enough (its value never appears in the message)."""
    if not isinstance(value, str) or len(value) < minimum:
        return [f"{name} must be set (Ansible Vault) and at least {minimum} characters long"]
    return []


def check_secret_pair(first: tuple[str, object], second: tuple[str, object], minimum: int) -> list[str]:
    """Two secrets (name, value), each set and long enough, and not the same value."""
    errors = check_secret(*first, minimum) + check_secret(*second, minimum)
    if isinstance(first[1], str) and first[1] and first[1] == second[1]:
        errors.append(f"{first[0].split(' ')[0]} and {second[0].split(' ')[0]} must differ")
    return errors


# Docker's networks every container of a host may share: Odoo on one of them is reachable past the edge
DOCKER_SHARED_NETWORKS = {"bridge", "host", "none", "default"}


def check_odoo_db_network(values: dict) -> list[str]:
    """Odoo's path to the db hosts is a network of Odoo's own: not one of Docker's shared networks (any container
    of the host would reach 8069 past the edge), nor the stack's app, data or ingress network."""
    net = values.get("odoo_db_network")
    if not isinstance(net, str) or not net:
        return []
    if net in DOCKER_SHARED_NETWORKS:
        return [f"odoo_db_network must be a network of Odoo's own (default <stack>-db), not Docker's {net!r}: "
                "any container of the app host would reach Odoo's 8069 past the edge"]
    stack = values.get("odoo_stack")
    others = {"odoo_app_network": values.get("odoo_app_network"), "odoo_data_network": values.get("odoo_data_network"),
              "the ingress network": f"{stack}-ingress" if isinstance(stack, str) and stack else None}
    for what, name in others.items():
        if isinstance(name, str) and name == net:
            return [f"odoo_db_network must be a network of Odoo's own (default <stack>-db), not {what} ({net!r})"]
    return []


# -- per role: what the argument spec cannot express ---------------------------------------------------------
def check_role_values(role: str, values: dict, secrets: bool = True) -> list[str]:
    """Semantic checks of a role's effective values (inventory or role default); values missing are skipped."""
    v = values.get
    errors: list[str] = []
    if role == "postgres":
        errors += check_cidrs("postgres_app_cidrs", v("postgres_app_cidrs", []))
        for key in ("postgres_db_owner_role", "postgres_db_user", "postgres_replication_user"):
            errors += check_name(key, v(key), PG_ROLE, "a PostgreSQL role name")
        errors += check_name("postgres_db_name", v("postgres_db_name"), DB_NAME, "a database name")
        hba = v("postgres_hba_extra", [])
        if isinstance(hba, (list, tuple)):
            for i, line in enumerate(hba):
                if isinstance(line, str) and ("\n" in line or len(line.split()) < 3):
                    errors.append(f"postgres_hba_extra[{i}] must be one pg_hba.conf line (type, database, user, ...)")
        if secrets and v("postgres_db_password") is not None:
            errors += check_secret("postgres_db_password (odooops_db_password)", v("postgres_db_password"), ODOO_MIN)
    elif role == "redis":
        errors += check_name("redis_stack", v("redis_stack"), STACK, "a stack name")
        if secrets:
            errors += check_secret_pair(
                ("redis_admin_password (odooops_redis_admin_password)", v("redis_admin_password")),
                ("redis_odoo_password (odooops_redis_odoo_password)", v("redis_odoo_password")), REDIS_MIN)
    elif role == "odoo":
        errors += check_name("odoo_stack", v("odoo_stack"), STACK, "a stack name")
        errors += check_name("odoo_db_user", v("odoo_db_user"), PG_ROLE, "a PostgreSQL role name")
        errors += check_name("odoo_db_name", v("odoo_db_name"), DB_NAME, "a database name")
        errors += check_odoo_maxconn(values)
        errors += check_odoo_session_redis(values, secrets)
        extra = v("odoo_extra_options")
        if isinstance(extra, dict):
            managed = sorted(k for k in extra if str(k) in ODOO_CONF_MANAGED)
            if managed:
                errors.append(f"odoo_extra_options sets {', '.join(managed)}, which the role writes itself (a second "
                              "key makes odoo.conf unreadable): use the role's variable (addons_path: "
                              "odoo_addons_paths / odoo_image_addons_paths)")
        errors += check_odoo_db_network(values)
        if secrets:
            errors += check_secret_pair(("odoo_db_password (odooops_db_password)", v("odoo_db_password")),
                                        ("odoo_admin_password (odooops_odoo_admin_password)", v("odoo_admin_password")),
                                        ODOO_MIN)
    elif role == "traefik":
        errors += check_name("traefik_stack", v("traefik_stack"), STACK, "a stack name")
        sites = v("traefik_sites", [])
        if isinstance(sites, (list, tuple)):
            hosts = [s.get("host") for s in sites if isinstance(s, dict)]
            for i, site in enumerate(sites):
                if isinstance(site, dict) and isinstance(site.get("host"), str):
                    errors += check_name(f"traefik_sites[{i}].host", site["host"], SITE_HOST, "a host name")
            dup = sorted({str(h) for h in hosts if h is not None and hosts.count(h) > 1})
            if dup:
                errors.append(f"traefik_sites has the host(s) {', '.join(dup)} more than once")
        if v("traefik_acme_enabled") in (True, "true", "yes") and not v("traefik_acme_email"):
            errors.append("traefik_acme_email must be set when traefik_acme_enabled is true")
    elif role == "docker_networks":
        errors += check_name("docker_networks_stack", v("docker_networks_stack"), STACK, "a stack name")
        subnets = v("docker_networks_subnets", {})
        if isinstance(subnets, dict):
            for net, cidr in subnets.items():
                errors += [e.replace("[0]", f".{net}") for e in check_cidrs("docker_networks_subnets", [cidr])]
    return errors


def _int_or_none(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def check_odoo_maxconn(values: dict) -> list[str]:
    """The odoo role's pools against Odoo 18's needs (sizing.min_db_maxconn): the web containers run without cron
    threads with odoo_db_maxconn, the cron container with odoo_cron_threads and odoo_cron_db_maxconn."""
    errors = []
    web = _int_or_none(values.get("odoo_db_maxconn"))
    if web is not None:
        errors += sizing.check_db_maxconn(web, 0, "odoo_db_maxconn")
    cron, threads = _int_or_none(values.get("odoo_cron_db_maxconn")), _int_or_none(values.get("odoo_cron_threads"))
    if cron is not None and threads is not None and threads >= 0:
        errors += sizing.check_db_maxconn(cron, threads, "odoo_cron_db_maxconn", "odoo_cron_threads")
    return errors


# odoo.conf keys roles/odoo/templates/odoo.conf.j2 writes
ODOO_CONF_MANAGED = {"db_user", "db_password", "db_sslmode", "db_maxconn", "db_name", "dbfilter", "list_db",
                     "admin_passwd", "data_dir", "proxy_mode", "http_port", "gevent_port", "workers",
                     "max_cron_threads", "limit_memory_soft", "limit_memory_hard", "limit_time_cpu", "limit_time_real",
                     "limit_time_real_cron", "limit_request", "without_demo", "addons_path", "server_wide_modules"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_odoo_session_redis(values: dict, secrets: bool = True) -> list[str]:
    """odoo_session_redis (Camptocamp's session_redis addon): its extra settings are shell variable names (the file
    is sourced by /bin/sh) and, when it is on, the Redis password is set."""
    errors = []
    env = values.get("odoo_session_redis_env")
    if isinstance(env, dict):
        bad = sorted(str(k) for k in env if not isinstance(k, str) or not ENV_NAME.match(k))
        if bad:
            errors.append(f"odoo_session_redis_env has name(s) {', '.join(bad)} that are not environment variable "
                          "names (letters, digits, _)")
    on = values.get("odoo_session_redis")
    if secrets and (on is True or (isinstance(on, str) and on.lower() in ("yes", "true", "on", "1"))):
        errors += check_secret("odoo_session_redis_password (odooops_redis_odoo_password)",
                               values.get("odoo_session_redis_password"), REDIS_MIN)
    return errors


# -- per workflow: its own inputs ----------------------------------------------------------------------------
def check_common(values: dict) -> list[str]:
    errors = check_options(values, COMMON_SPEC)
    errors += check_name("odooops_stack", values.get("odooops_stack"), STACK, "a stack name")
    errors += check_name("odooops_db_name", values.get("odooops_db_name"), DB_NAME, "a database name")
    for key in ("odooops_db_user", "odooops_db_owner_role", "odooops_replication_user"):
        errors += check_name(key, values.get(key), PG_ROLE, "a PostgreSQL role name")
    return errors


def check_workflow(workflow: str, values: dict, db_hosts: list[str], known_secrets: list[str] | None = None
                   ) -> list[str]:
    """A workflow's own inputs (extra vars mostly), against its spec and each other."""
    if workflow not in WORKFLOW_SPEC:
        return [f"preflight: unknown workflow {workflow!r} (known: {', '.join(sorted(WORKFLOW_SPEC))})"]
    spec = WORKFLOW_SPEC[workflow]
    errors = check_options(values, spec)
    bad = {e.split(" ", 1)[0].split("[", 1)[0] for e in errors}
    v = values.get
    if workflow == "rotate_secrets":
        rotate = v("rotate")
        if "rotate" in values and "rotate" not in bad and rotate is not None:
            known = list(known_secrets or [])
            unknown = [s for s in rotate if s not in known]
            if unknown:
                errors.append(f"rotate has unknown secret(s) {', '.join(map(str, unknown))} "
                              f"(known: {', '.join(known)})")
            dup = sorted({s for s in rotate if rotate.count(s) > 1})
            if dup:
                errors.append(f"rotate names {', '.join(dup)} more than once")
        roles = v("rotate_secrets_db_login_roles")
        if isinstance(roles, (list, tuple)) and "rotate_secrets_db_login_roles" not in bad:
            if len(roles) != 2 or len(set(roles)) != 2:
                errors.append("rotate_secrets_db_login_roles must be two different login role names")
            for i, role in enumerate(roles):
                errors += check_name(f"rotate_secrets_db_login_roles[{i}]", role, PG_ROLE, "a PostgreSQL role name")
    elif workflow == "failover":
        mode = v("mode", "switchover")
        target = v("failover_target")
        candidates = v("failover_candidates")
        patroni = str(v("postgres_ha", v("odooops_postgres_ha", "none"))) == "patroni"
        if target not in (None, "") and "failover_target" not in bad:
            if target not in db_hosts:
                errors.append(f"failover_target {target!r} is not a db host ({', '.join(db_hosts)})")
            if mode == "rejoin" or (mode == "failover" and not patroni):
                also = " (or mode=failover under Patroni)" if not patroni else " or mode=failover"
                errors.append(f"failover_target is only used with mode=switchover{also}; with mode={mode} it would "
                              "be ignored: use failover_candidates to choose among the standbys in a failover")
        if candidates not in (None, []) and "failover_candidates" not in bad:
            unknown = [c for c in candidates if c not in db_hosts]
            if unknown:
                errors.append(f"failover_candidates has host(s) {', '.join(map(str, unknown))} not in the db group "
                              f"({', '.join(db_hosts)})")
            if mode != "failover":
                errors.append(f"failover_candidates is only used with mode=failover; with mode={mode} it would be "
                              "ignored")
    elif workflow == "restore":
        method = v("odooops_restore_method", "logical")
        host = v("odooops_pitr_host")
        if host not in (None, "") and "odooops_pitr_host" not in bad and host not in db_hosts:
            errors.append(f"odooops_pitr_host {host!r} is not a db host ({', '.join(db_hosts)})")
        if method == "pitr" and v("odooops_restore_target") not in (None, ""):
            errors.append("odooops_restore_target is for odooops_restore_method=logical; a PITR restores the "
                          "whole cluster of the primary")
        if method == "logical":
            errors += check_name("odooops_restore_target", v("odooops_restore_target"), DB_NAME, "a database name")
    return errors
