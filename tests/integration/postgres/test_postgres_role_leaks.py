"""No secret reaches PostgreSQL while the postgres role creates and changes its roles (docs/secrets.md).

db1 runs with log_statement = all and pg_stat_statements (track_utility on) from its first start; the role
creates the replication and Odoo login roles, then a second run changes both passwords (that a rerun with the
same passwords changes nothing is test_postgres_role.py's idempotence test). Neither password, old or new, may be
in the server log, pg_stat_statements or pg_stat_activity (sampled while the role runs): the role sends
SCRAM-SHA-256 verifiers computed on the client.

Run with your own prefix:
  ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/postgres/test_postgres_role_leaks.py
"""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import scram
from tests.integration.harness.postgres import lan_subnet, secrets_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

PLAYBOOK = "tests/integration/postgres/playbooks/role_postgres.yml"
FIRST = {"odooops_db_password": "odoo-1-" + uuid.uuid4().hex,
         "odooops_replication_password": "repl-1-" + uuid.uuid4().hex}
SECOND = {"odooops_db_password": "odoo-2-" + uuid.uuid4().hex,
          "odooops_replication_password": "repl-2-" + uuid.uuid4().hex}
SECRETS = [*FIRST.values(), *SECOND.values()]
# every statement logged and counted from the cluster's first start (the role writes conf.d before starting it)
SETTINGS = {"log_statement": "'all'", "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track_utility": "on"}
# samples pg_stat_activity (every session's current or last statement) until the stop file exists
SAMPLER = ("rm -f /tmp/odooops-sampler.stop; until [ -e /tmp/odooops-sampler.stop ]; do "
           "runuser -u postgres -- psql -XAtq -c \"select query from pg_stat_activity where pid <> pg_backend_pid()\" "
           "2>/dev/null; sleep 0.05; done")


def sh(container: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", container, *cmd], capture_output=True, text=True, check=check)


def psql(container: str, sql: str) -> str:
    return sh(container, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c", sql).stdout.strip()


def converge_sampled(ansible_playbook, db1: str, secrets_path: str, extra: dict):
    """Run the role on db1 while pg_stat_activity is sampled; (run, sampled statements)."""
    sampler = subprocess.Popen(["docker", "exec", db1, "bash", "-c", SAMPLER], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        run = ansible_playbook(PLAYBOOK, "--limit", "db1", "-e", "@" + secrets_path, extra_vars=extra)
    finally:
        sh(db1, "touch", "/tmp/odooops-sampler.stop", check=False)
        sampled, _unused = sampler.communicate(timeout=60)
    return run, sampled


def server_side_text(db1: str) -> tuple[str, str]:
    """(server log, pg_stat_statements' statements) of db1."""
    log = sh(db1, "bash", "-c", "cat /var/log/postgresql/*.log").stdout
    psql(db1, "create extension if not exists pg_stat_statements")
    return log, psql(db1, "select string_agg(query, E'\\n') from pg_stat_statements")


WHERE = ("the server log", "pg_stat_statements", "pg_stat_activity", "the output")


def assert_no_secret(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for where, text in zip(WHERE, texts, strict=True):
            assert secret not in text, f"a password is in {where}"


def test_role_passwords_never_reach_the_server(fresh_db_hosts, sim_hosts, ansible_playbook, tmp_path):
    db1, app1 = sim_hosts["db1"], sim_hosts["app1"]
    extra = {"postgres_memory_mb": 512, "postgres_cpus": 2, "postgres_settings": SETTINGS,
             "postgres_app_cidrs": [lan_subnet(db1[: -len("db1")] + "lan")]}
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()

    # creation: the roles are new
    created, sampled = converge_sampled(ansible_playbook, db1, secrets_file(first, FIRST), extra)
    assert created.rc == 0, created.stdout[-6000:] + created.stderr[-3000:]
    assert psql(db1, "show log_statement") == "all"
    log, statements = server_side_text(db1)
    # every statement was logged and counted, the role's own among them
    assert "statement: CREATE ROLE" in log or "statement: CREATE USER" in log, log[-3000:]
    assert "CREATE" in statements
    assert_no_secret(list(FIRST.values()), log, statements, sampled, created.stdout + created.stderr)
    assert "PASSWORD 'SCRAM-SHA-256$" in log, "the roles' passwords were not set through a verifier"

    # change: both passwords are new (ALTER ROLE)
    changed, sampled = converge_sampled(ansible_playbook, db1, secrets_file(second, SECOND), extra)
    assert changed.rc == 0, changed.stdout[-6000:] + changed.stderr[-3000:]
    log, statements = server_side_text(db1)
    assert "ALTER ROLE" in statements
    assert_no_secret(SECRETS, log, statements, sampled, changed.stdout + changed.stderr)

    # the real effect: the new passwords are the roles' (SCRAM verifiers), the old ones are not
    for role, key in (("odoo", "odooops_db_password"), ("replicator", "odooops_replication_password")):
        stored = psql(db1, f"select rolpassword from pg_authid where rolname = '{role}'")
        assert scram.matches(SECOND[key], stored) and not scram.matches(FIRST[key], stored), role
    login = subprocess.run(["docker", "exec", "-e", "PGPASSWORD", app1, "psql",
                            "host=db1 dbname=odoo user=odoo sslmode=require", "-XAtqc", "select session_user"],
                           check=False, capture_output=True, text=True,
                           env={**os.environ, "PGPASSWORD": SECOND["odooops_db_password"]})
    assert login.returncode == 0 and login.stdout.strip() == "odoo", login.stderr
