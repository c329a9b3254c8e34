"""Bad input is refused before anything changes, through the real workflow playbooks (issue 12, section 6).

One platform is provisioned on the simulated hosts (PostgreSQL primary db1 + streaming standby db2, Redis, Odoo
and the edge on app1) from a copy of inventories/local with its own vault. Then each bad input of the matrix is
run through the playbook that would take it, and the run must fail with a message naming the variable, with
nothing changed: a snapshot (containers and their ids and start times, networks, pg_hba.conf /
postgresql.auto.conf / postgresql.conf checksums, each server's role and start time, PostgreSQL roles and their
password verifiers, Redis ACL list, files under /etc/odooops on the app host, the vault file) is the same before
and after.

Where a playbook converges what is already there (provision.yml on a provisioned platform), a case carries one
legitimate pending change too (an extra pg_hba line): without a preflight, the run applies it before it reaches
the bad input, and the snapshot shows it.

Run with a prefix of your own:
  ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/workflows/test_preflight_matrix.py
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil

import pytest
import yaml

from testbed.procs import free_port
from tests.integration.harness.docker import docker
from tests.integration.harness.env import ROOT
from tests.integration.harness.env import TEST_PREFIX as PREFIX
from tests.integration.harness.secrets_env import read_vault
from tests.integration.harness.stack import local_inventory_copy, remove_stack

STACK = PREFIX.rstrip("-") + "-pf"
PG_CONF = "/etc/postgresql/15/main"
PG_DATA = "/var/lib/postgresql/15/main"
# a legitimate change provision.yml would apply (pg_hba.conf + reload) before the roles that refuse bad input
PENDING_HBA = {"postgres_hba_extra": ["host all all 10.99.0.0/16 reject"]}
# the playbooks under test; another directory (e.g. an older checkout's playbooks/) shows the matrix fail there
PLAYBOOKS = os.environ.get("ODOOOPS_PREFLIGHT_PLAYBOOKS", os.path.join(ROOT, "playbooks"))

# provisioning the platform takes minutes on a busy machine; each case then takes seconds
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def psql(host: str, sql: str) -> str:
    return docker("exec", host, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c", sql,
                  check=False).stdout.strip()


def snapshot(sim_hosts: dict, vault_file: str, redis_admin: str) -> dict:
    """What a workflow could change, secrets only as digests."""
    snap: dict = {}
    ids = docker("ps", "-aq", "--filter", f"label=org.odooops.stack={STACK}").stdout.split()
    ids += [docker("inspect", "-f", "{{.Id}}", name).stdout.strip() for name in sim_hosts.values()]
    snap["containers"] = sorted(
        docker("inspect", "-f", "{{.Id}} {{.Name}} {{.State.Status}} {{.State.StartedAt}} {{.Image}}", *ids)
        .stdout.splitlines())
    snap["networks"] = sorted(docker("network", "ls", "--filter", f"name={STACK}", "--format",
                                     "{{.ID}} {{.Name}}").stdout.splitlines())
    snap["volumes"] = sorted(docker("volume", "ls", "-q", "--filter", f"name={STACK}").stdout.split())
    for name in ("db1", "db2"):
        host = sim_hosts[name]
        snap[f"{name} files"] = docker("exec", host, "sha256sum", f"{PG_CONF}/pg_hba.conf",
                                       f"{PG_CONF}/postgresql.conf", f"{PG_DATA}/postgresql.auto.conf",
                                       check=False).stdout.splitlines()
        snap[f"{name} server"] = psql(host, "select pg_is_in_recovery(), pg_postmaster_start_time()")
    snap["pg roles"] = {line.split("|", 1)[0]: digest(line) for line in
                        psql(sim_hosts["db1"], "select rolname, rolcanlogin, rolsuper, rolpassword, rolvaliduntil, "
                             "array(select b.rolname from pg_auth_members m join pg_roles b on b.oid = m.roleid "
                             "where m.member = a.oid order by 1) from pg_authid a order by 1").splitlines()}
    acl = docker("exec", "-i", f"{STACK}-redis", "sh", "-c",
                 'read -r p; REDISCLI_AUTH="$p" redis-cli --no-auth-warning --user admin ACL LIST',
                 input=redis_admin + "\n", check=False).stdout
    snap["redis acl"] = [digest(line) for line in acl.splitlines()]
    snap["app files"] = docker("exec", sim_hosts["app1"], "sh", "-c",
                               "find /etc/odooops -type f | sort | xargs -r sha256sum", check=False).stdout.splitlines()
    with open(vault_file, "rb") as fh:
        snap["vault"] = hashlib.sha256(fh.read()).hexdigest()
    return snap


@pytest.fixture(scope="module")
def platform(sim_hosts, ansible_playbook, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("preflight"))
    inv = local_inventory_copy(root, PREFIX, STACK, os.path.join(root, "audit.jsonl"), free_port(), free_port())
    # the same inventory with db2 listed first: db[0] is then the standby, as after a failover
    swapped = os.path.join(root, "inventory-swapped")
    shutil.copytree(inv, swapped)
    hosts_file = os.path.join(swapped, "hosts.yml")
    with open(hosts_file, encoding="utf-8") as fh:
        hosts = yaml.safe_load(fh)
    db = hosts["all"]["children"]["db"]["hosts"]
    hosts["all"]["children"]["db"]["hosts"] = {"db2": db["db2"], "db1": db["db1"]}
    with open(hosts_file, "w", encoding="utf-8") as fh:
        yaml.safe_dump(hosts, fh, sort_keys=False)

    password_file = os.path.join(root, "vault-pass")
    try:
        init = ansible_playbook("playbooks/secrets_init.yml", inventory=inv,
                                extra_vars={"secrets_init_password_file": password_file,
                                            "secrets_init_audit_log": os.path.join(root, "init.jsonl")})
        assert init.rc == 0, init.stdout[-3000:]
        shutil.copy(os.path.join(inv, "group_vars", "all", "vault.yml"), os.path.join(swapped, "group_vars", "all"))
        provision = ansible_playbook("playbooks/provision.yml", "--vault-password-file", password_file, inventory=inv,
                                     timeout=2400)
        assert provision.rc == 0, provision.stdout[-5000:]
        vault_file = os.path.join(inv, "group_vars", "all", "vault.yml")
        secrets = read_vault(vault_file, password_file)
        assert psql(sim_hosts["db2"], "select pg_is_in_recovery()") == "t"
        yield {"inventory": inv, "swapped": swapped, "password_file": password_file, "vault": vault_file,
               "redis_admin": secrets["odooops_redis_admin_password"]}
    finally:
        remove_stack(STACK)  # also when provisioning failed half-way


# id -> (playbook, extra vars, variable the failure must name, inventory: "inventory" | "swapped")
CASES = {
    # rotate_secrets.yml
    "rotate-string-db": ("rotate_secrets", {"rotate": "db"}, "rotate", "inventory"),
    "rotate-string-redis_admin": ("rotate_secrets", {"rotate": "redis_admin"}, "rotate", "inventory"),
    "rotate-unknown-secret": ("rotate_secrets", {"rotate": ["db", "vault"]}, "rotate", "inventory"),
    "rotate-login-roles-string": ("rotate_secrets", {"rotate": ["db"], "rotate_secrets_db_login_roles": "odoo,odoo_b"},
                                  "rotate_secrets_db_login_roles", "inventory"),
    # provision.yml
    "app-cidrs-string": ("provision", {"postgres_app_cidrs": "10.0.0.0/8"}, "postgres_app_cidrs", "inventory"),
    "app-cidrs-bad-mask": ("provision", {"postgres_app_cidrs": ["10.0.0.0/33"]}, "postgres_app_cidrs", "inventory"),
    "site-bad-host": ("provision", {**PENDING_HBA, "traefik_sites": [{"host": "localhost"}, {"host": "shop example"}]},
                      "traefik_sites", "inventory"),
    "site-not-a-dict": ("provision", {**PENDING_HBA, "traefik_sites": ["localhost"]}, "traefik_sites", "inventory"),
    "site-duplicate": ("provision", {**PENDING_HBA, "traefik_sites": [{"host": "localhost"}, {"host": "localhost"}]},
                       "traefik_sites", "inventory"),
    "redis-password-short": ("provision", {**PENDING_HBA, "odooops_redis_admin_password": "short-pw"},
                             "redis_admin_password", "inventory"),
    "redis-key-patterns-string": ("provision", {**PENDING_HBA, "redis_odoo_key_patterns": "session:*"},
                                  "redis_odoo_key_patterns", "inventory"),
    "odoo-replicas-not-int": ("provision", {**PENDING_HBA, "odoo_web_replicas": "two"}, "odoo_web_replicas",
                              "inventory"),
    # the embedded default's cron pool before the fix (2 cron threads, 4 connections): Odoo 18 runs out
    "cron-pool-too-small": ("provision", {**PENDING_HBA, "odoo_cron_db_maxconn": 4}, "odoo_cron_db_maxconn",
                            "inventory"),
    # Odoo picks the database from the Host: a health check without a site's host would never pass
    "dbfilter-by-host-without-check-host": ("provision", {**PENDING_HBA, "odoo_dbfilter": "^%d$"},
                                            "odoo_healthcheck_host", "inventory"),
    "db-user-bad-name": ("provision", {**PENDING_HBA, "odooops_db_user": "Odoo-User"}, "odooops_db_user", "inventory"),
    "hba-extra-string": ("provision", {"postgres_hba_extra": "host all all 0.0.0.0/0 trust"}, "postgres_hba_extra",
                         "inventory"),
    # failover.yml
    "failover-target-in-failover-mode": ("failover", {"mode": "failover", "failover_target": "db2"},
                                         "failover_target", "inventory"),
    "failover-target-unknown": ("failover", {"mode": "switchover", "failover_target": "db9"}, "failover_target",
                                "inventory"),
    "failover-candidates-in-rejoin": ("failover", {"mode": "rejoin", "failover_candidates": ["db2"]},
                                      "failover_candidates", "inventory"),
    # restore.yml
    "pitr-db0-is-the-standby": ("restore", {"odooops_restore_method": "pitr"}, "odooops_restore_method", "swapped"),
    "pitr-host-is-a-standby": ("restore", {"odooops_restore_method": "pitr", "odooops_pitr_host": "db2"},
                               "odooops_pitr_host", "inventory"),
    "restore-method-unknown": ("restore", {"odooops_restore_method": "snapshot"}, "odooops_restore_method",
                               "inventory"),
    # backup.yml, dr_drill.yml, upgrade.yml, rehearse.yml
    "backup-keys-string": ("backup", {"odooops_backup_keys": "k1"}, "odooops_backup_keys", "inventory"),
    "drill-stack-bad-name": ("dr_drill", {"odooops_stack": "Prod Stack"}, "odooops_stack", "inventory"),
    "upgrade-checks-dict": ("upgrade", {"upgrade_image": "odooops/odoo-double:17.0-b",
                                        "upgrade_business_checks": {"name": "x", "sql": "select 1"}},
                            "upgrade_business_checks", "inventory"),
    "rehearse-gates-string": ("rehearse", {"upgrade_image": "odooops/odoo-double:17.0-b", "upgrade_gates": "strict"},
                              "upgrade_gates", "inventory"),
}


def failure_text(stdout: str) -> str:
    """The failures' messages (from the first fatal/failed line on), without the task banners."""
    m = re.search(r"^(fatal|failed): ", stdout, re.M)
    text = stdout[m.start():] if m else ""
    return "\n".join(line for line in text.splitlines() if not line.startswith(("TASK [", "PLAY ")))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_before_any_change(case, platform, sim_hosts, ansible_playbook):
    playbook, extra_vars, variable, inventory = CASES[case]
    before = snapshot(sim_hosts, platform["vault"], platform["redis_admin"])
    run = ansible_playbook(os.path.join(PLAYBOOKS, f"{playbook}.yml"), "--vault-password-file",
                           platform["password_file"], inventory=platform[inventory], extra_vars=extra_vars,
                           timeout=600)
    after = snapshot(sim_hosts, platform["vault"], platform["redis_admin"])
    assert run.rc != 0, f"{case}: the run succeeded\n{run.stdout[-3000:]}"
    failures = failure_text(run.stdout)
    assert re.search(rf"\b{re.escape(variable)}\b", failures), \
        f"{case}: no message names {variable}:\n{failures[-3000:]}"
    assert all(counts.get("changed", 0) == 0 for counts in run.recap().values()), run.recap()
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert changed == {}, f"{case}: the run changed the platform"
    if case == "pitr-db0-is-the-standby":
        # it went for the live primary (db1), not db[0] of this inventory (the standby db2)
        assert "on db1, the live primary" in " ".join(failures.split()), failures[-3000:]
