"""module_utils/preflight/checks.py: strict types (a string is not a list), CIDRs, names, secrets and each workflow's
own inputs; every message names its variable and never shows a secret."""
from __future__ import annotations

import os

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.preflight import checks as pf
from ansible_collections.odooops.hosting.plugins.module_utils.secrets import store as secrets_store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = os.path.join(ROOT, "roles")
KNOWN = list(secrets_store.CATALOGUE)
DB = ["db1", "db2"]


@pytest.mark.parametrize("value, spec, fragment", [
    ("10.0.0.0/8", {"type": "list"}, "must be a list, got a string ('10.0.0.0/8')"),
    ("a,b", {"type": "list"}, "must be a list"),
    ({"a": 1}, {"type": "list"}, "must be a list, got a dict"),
    ([1], {"type": "dict"}, "must be a dict, got a list"),
    ("k=v", {"type": "dict"}, "must be a dict"),
    ("maybe", {"type": "bool"}, "must be a boolean"),
    (2, {"type": "bool"}, "must be a boolean"),
    ("two", {"type": "int"}, "must be an integer"),
    (True, {"type": "int"}, "must be an integer"),
    (1.5, {"type": "int"}, "must be an integer"),
    ([1], {"type": "int"}, "must be an integer"),
    ("x", {"type": "float"}, "must be a number"),
    (["a"], {"type": "str"}, "must be a string, got a list"),
    ({"a": 1}, {"type": "path"}, "must be a string, got a dict"),
])
def test_type_error_names_the_variable(value, spec, fragment):
    msg = pf.type_error("some_var", value, spec)
    assert msg is not None and msg.startswith("some_var ") and fragment in msg


@pytest.mark.parametrize("value, spec", [
    (["10.0.0.0/8"], {"type": "list"}), ((), {"type": "list"}), ({}, {"type": "dict"}), (True, {"type": "bool"}),
    ("yes", {"type": "bool"}), ("false", {"type": "bool"}), (5, {"type": "int"}), ("5432", {"type": "int"}),
    (2.0, {"type": "int"}), ("1.5", {"type": "float"}), ("x", {"type": "str"}), (5, {"type": "str"}),
    (None, {"type": "list"}), ([1], {"type": "raw"}),
])
def test_type_error_accepts_the_right_types(value, spec):
    assert pf.type_error("v", value, spec) is None


def test_secret_values_never_shown():
    msg = pf.type_error("redis_admin_password", "s3cr3t-value", {"type": "int"})
    assert "s3cr3t" not in msg and "redis_admin_password" in msg
    errors = pf.check_options({"x_password": "hunter22"}, {"x_password": {"type": "str", "choices": ["a"]}})
    assert errors and "hunter22" not in errors[0]
    assert all("short" not in e for e in pf.check_secret("odooops_redis_admin_password", "short", 12))


def test_check_options_elements_choices_and_suboptions():
    options = {
        "sites": {"type": "list", "elements": "dict", "options": {"host": {"type": "str", "required": True},
                                                                  "tls": {"type": "bool"}}},
        "names": {"type": "list", "elements": "str"},
        "mode": {"type": "str", "choices": ["a", "b"]},
        "absent": {"type": "list"},
    }
    errors = pf.check_options({"sites": ["localhost", {"tls": "maybe"}, {"host": "h", "hots": 1}],
                               "names": ["a", ["b"], None], "mode": "c"}, options)
    assert "sites[0] must be a dict, got a string ('localhost')" in errors
    assert "sites[1] needs 'host'" in errors
    assert any(e.startswith("sites[1].tls must be a boolean") for e in errors)
    assert any(e.startswith("sites[2] has unknown key(s) hots") for e in errors)
    assert "names[1] must be a string, got a list" in errors
    assert "names[2] must be a string, got null" in errors
    assert "mode must be one of a, b, got 'c'" in errors
    assert pf.check_options({"sites": [{"host": "h"}], "names": ["a"], "mode": "a"}, options) == []


@pytest.mark.parametrize("cidrs, ok", [
    (["10.0.0.0/8", "192.168.1.0/24", "fd00::/8", "samenet", "samehost"], True),
    (["10.0.0.0/33"], False), (["10.0.0.1"], False), (["not-a-cidr/8"], False), ([8], False),
])
def test_cidrs(cidrs, ok):
    errors = pf.check_cidrs("postgres_app_cidrs", cidrs)
    assert (errors == []) is ok
    assert all(e.startswith("postgres_app_cidrs[") for e in errors)


def test_postgres_role_values():
    errors = pf.check_role_values("postgres", {"postgres_app_cidrs": ["10.0.0.0/8", "10.1.0.0/99"],
                                               "postgres_db_user": "Odoo-User", "postgres_db_name": "shop; drop",
                                               "postgres_hba_extra": ["host all"]})
    assert [e.split(" ", 1)[0] for e in errors] == ["postgres_app_cidrs[1]", "postgres_db_user",
                                                    "postgres_db_name", "postgres_hba_extra[0]"]


def test_redis_odoo_traefik_secrets_and_sites():
    errors = pf.check_role_values("redis", {"redis_admin_password": "short", "redis_odoo_password": "x" * 12})
    assert errors == ["redis_admin_password (odooops_redis_admin_password) must be set (Ansible Vault) and at least "
                      "12 characters long"]
    assert pf.check_role_values("redis", {"redis_admin_password": "y" * 12, "redis_odoo_password": "y" * 12}) == [
        "redis_admin_password and redis_odoo_password must differ"]
    assert pf.check_role_values("redis", {"redis_admin_password": "short"}, secrets=False) == []
    assert pf.check_role_values("odoo", {"odoo_db_password": "s" * 8, "odoo_admin_password": "s" * 8}) == [
        "odoo_db_password and odoo_admin_password must differ"]
    assert pf.check_role_values("odoo", {"odoo_db_password": "a" * 8, "odoo_admin_password": ""})[0].startswith(
        "odoo_admin_password")
    errors = pf.check_role_values("traefik", {"traefik_sites": [{"host": "a.example.com"}, {"host": "bad host"},
                                                                {"host": "a.example.com"}, {"host": "*.example.com"}]})
    assert errors == ["traefik_sites[1].host must be a host name (pattern " + pf.SITE_HOST.pattern
                      + "), got 'bad host'", "traefik_sites has the host(s) a.example.com more than once"]


def test_odoo_session_redis_settings():
    # off (the default): no Redis password needed
    off = {"odoo_session_redis": False, "odoo_session_redis_password": ""}
    assert not [e for e in pf.check_role_values("odoo", off) if e.startswith("odoo_session_redis")]
    errors = pf.check_role_values("odoo", {"odoo_session_redis": True, "odoo_session_redis_password": "short",
                                           "odoo_session_redis_env": {"ODOO_SESSION_REDIS_SSL": "0", "A B": 1}},
                                  secrets=False)
    assert errors == ["odoo_session_redis_env has name(s) A B that are not environment variable names (letters, "
                      "digits, _)"]
    errors = pf.check_role_values("odoo", {"odoo_session_redis": True, "odoo_session_redis_password": "short"})
    assert any(e.startswith("odoo_session_redis_password (odooops_redis_odoo_password) must be set") for e in errors)
    assert all("short" not in e for e in errors)


def test_odoo_extra_options_cannot_repeat_a_key_the_role_writes():
    (problem,) = pf.check_role_values("odoo", {"odoo_extra_options": {"addons_path": "/x", "log_level": "info"}},
                                      secrets=False)
    assert problem.startswith("odoo_extra_options sets addons_path, which the role writes itself")
    assert pf.check_role_values("odoo", {"odoo_extra_options": {"log_level": "warn"}}, secrets=False) == []


def test_odoo_pools_below_odoo_18s_need_are_refused():
    bad = {"odoo_db_maxconn": 4, "odoo_cron_db_maxconn": "4", "odoo_cron_threads": 2}
    (problem,) = pf.check_role_values("odoo", bad, secrets=False)
    assert problem.startswith("odoo_cron_db_maxconn is 4 but odoo_cron_threads = 2 needs at least 8")
    assert pf.check_role_values("odoo", {**bad, "odoo_cron_db_maxconn": 8}, secrets=False) == []
    assert pf.check_role_values("odoo", {**bad, "odoo_cron_db_maxconn": 8, "odoo_db_maxconn": 1}, secrets=False)[0] \
        .startswith("odoo_db_maxconn is 1 but an Odoo process needs at least 2")
    # a value the type check refused (not an integer) is left to it
    assert pf.check_role_values("odoo", {"odoo_cron_db_maxconn": "many", "odoo_cron_threads": 2}, secrets=False) == []


@pytest.mark.parametrize("values, fragment", [
    ({"rotate": "db"}, "rotate must be a list, got a string ('db')"),
    ({"rotate": "redis_admin"}, "rotate must be a list"),
    ({"rotate": ["db", "dbx"]}, "rotate has unknown secret(s) dbx"),
    ({"rotate": ["db", "db"]}, "rotate names db more than once"),
    ({"rotate": [["db"]]}, "rotate[0] must be a string"),
    ({"rotate_secrets_db_login_roles": "odoo,odoo_b"}, "rotate_secrets_db_login_roles must be a list"),
    ({"rotate_secrets_db_login_roles": ["odoo", "odoo"]}, "rotate_secrets_db_login_roles must be two different"),
])
def test_rotate_secrets_inputs(values, fragment):
    assert any(fragment in e for e in pf.check_workflow("rotate_secrets", values, DB, KNOWN))


def test_rotate_secrets_good():
    assert pf.check_workflow("rotate_secrets", {"rotate": ["db", "redis_admin"]}, DB, KNOWN) == []
    assert pf.check_workflow("rotate_secrets", {"rotate": []}, DB, KNOWN) == []
    assert pf.check_workflow("rotate_secrets", {}, DB, KNOWN) == []


@pytest.mark.parametrize("values, fragment", [
    ({"mode": "failover", "failover_target": "db2"}, "failover_target is only used with mode=switchover"),
    ({"mode": "rejoin", "failover_target": "db2"}, "failover_target is only used"),
    ({"mode": "switchover", "failover_target": "db9"}, "failover_target 'db9' is not a db host"),
    ({"mode": "switchover", "failover_candidates": ["db2"]}, "failover_candidates is only used with mode=failover"),
    ({"mode": "failover", "failover_candidates": "db2"}, "failover_candidates must be a list"),
    ({"mode": "failover", "failover_candidates": ["db7"]}, "failover_candidates has host(s) db7"),
    ({"mode": "takeover"}, "mode must be one of switchover, failover, rejoin"),
])
def test_failover_inputs(values, fragment):
    assert any(fragment in e for e in pf.check_workflow("failover", values, DB))


def test_failover_good():
    assert pf.check_workflow("failover", {"mode": "switchover", "failover_target": "db2"}, DB) == []
    assert pf.check_workflow("failover", {"mode": "failover", "failover_candidates": ["db2"]}, DB) == []
    # Patroni asks its leader election for the target (docs/postgres.md)
    assert pf.check_workflow("failover", {"mode": "failover", "failover_target": "db2", "postgres_ha": "patroni"},
                             DB) == []
    assert pf.check_workflow("failover", {}, DB) == []


@pytest.mark.parametrize("values, fragment", [
    ({"odooops_restore_method": "snapshot"}, "odooops_restore_method must be one of logical, pitr"),
    ({"odooops_restore_method": "pitr", "odooops_pitr_host": "db9"}, "odooops_pitr_host 'db9' is not a db host"),
    ({"odooops_restore_method": "pitr", "odooops_restore_target": "x"}, "odooops_restore_target is for"),
    ({"odooops_restore_target": "shop copy"}, "odooops_restore_target must be a database name"),
    ({"odooops_restore_force": "perhaps"}, "odooops_restore_force must be a boolean"),
])
def test_restore_inputs(values, fragment):
    assert any(fragment in e for e in pf.check_workflow("restore", values, DB))


def test_common_and_unknown_workflow():
    errors = pf.check_common({"odooops_stack": "Bad Stack", "odooops_db_user": "x-y", "odooops_backup_keys": "k"})
    assert [e.split(" ", 1)[0] for e in errors] == ["odooops_backup_keys", "odooops_stack", "odooops_db_user"]
    assert pf.check_common({"odooops_stack": "odooops-t-sec", "odooops_db_name": "odoo"}) == []
    assert pf.check_workflow("nope", {}, DB)[0].startswith("preflight: unknown workflow")


@pytest.mark.parametrize("role", sorted(r for r in os.listdir(ROLES) if os.path.isdir(os.path.join(ROLES, r))))
def test_role_specs_load_and_role_defaults_pass_their_own_spec(role):
    import yaml
    with open(os.path.join(ROLES, role, "meta", "argument_specs.yml"), encoding="utf-8") as fh:
        entry_points = list(yaml.safe_load(fh)["argument_specs"])
    for entry_point in entry_points:  # every entry point's spec loads
        pf.load_role_options(ROLES, role, entry_point)
    # a role's options: those of its main entry point (roles/upgrade has none: its first, inputs)
    options = pf.load_role_options(ROLES, role, "main" if "main" in entry_points else entry_points[0])
    assert options
    defaults_file = os.path.join(ROLES, role, "defaults", "main.yml")
    if not os.path.exists(defaults_file):
        return
    with open(defaults_file, encoding="utf-8") as fh:
        defaults = yaml.safe_load(fh) or {}
    plain = {k: v for k, v in defaults.items() if k in options and not (isinstance(v, str) and "{{" in v)}
    assert pf.check_options(plain, options) == []


def test_load_role_options_refuses_bad_names():
    with pytest.raises(ValueError):
        pf.load_role_options(ROLES, "../etc")
    with pytest.raises(ValueError, match="entry point"):
        pf.load_role_options(ROLES, "redis", "nope")


@pytest.mark.parametrize("network, fragment", [
    ("bridge", "not Docker's 'bridge'"), ("host", "not Docker's 'host'"), ("none", "not Docker's 'none'"),
    ("st-app", "not odoo_app_network ('st-app')"), ("st-data", "not odoo_data_network ('st-data')"),
    ("st-ingress", "not the ingress network ('st-ingress')"),
])
def test_odoo_db_network_shared_with_others_is_refused(network, fragment):
    values = {"odoo_stack": "st", "odoo_app_network": "st-app", "odoo_data_network": "st-data",
              "odoo_db_network": network}
    errors = pf.check_role_values("odoo", values, secrets=False)
    assert len(errors) == 1 and errors[0].startswith("odoo_db_network must be a network of Odoo's own") \
        and fragment in errors[0], errors


@pytest.mark.parametrize("network", ["st-db", "odooops-lan", "corp-db-path"])
def test_odoo_db_network_of_its_own_passes(network):
    values = {"odoo_stack": "st", "odoo_app_network": "st-app", "odoo_data_network": "st-data",
              "odoo_db_network": network}
    assert pf.check_role_values("odoo", values, secrets=False) == []
