"""The postgres role on the simulated db hosts db1 + db2: converge, rerun, check mode, replication, TLS, roles.

Run with your own prefix: ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/postgres
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

PLAYBOOK = "tests/integration/postgres/playbooks/role_postgres.yml"
DB_PASSWORD = "odoo-" + uuid.uuid4().hex
REPL_PASSWORD = "repl-" + uuid.uuid4().hex


def sh(container: str, *cmd: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    args = ["docker", "exec"]
    for key in env or {}:
        args += ["-e", key]  # value passed through the environment, never in argv
    return subprocess.run([*args, container, *cmd], capture_output=True, text=True, check=check,
                          env={**os.environ, **(env or {})})


def psql(container: str, sql: str) -> str:
    return sh(container, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c", sql).stdout.strip()


def lan_subnet(network: str) -> str:
    out = subprocess.run(["docker", "network", "inspect", network], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]["IPAM"]["Config"][0]["Subnet"]


def secrets_file(directory, secrets: dict) -> str:
    """Secrets reach ansible-playbook as `-e @file` (0600), never in its process arguments."""
    path = os.path.join(str(directory), "secrets.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(secrets, fh)
    return path


@pytest.fixture(scope="module")
def secret_args(tmp_path_factory) -> tuple[str, str]:
    path = secrets_file(tmp_path_factory.mktemp("pgsecrets"), {"odooops_db_password": DB_PASSWORD,
                                                              "odooops_replication_password": REPL_PASSWORD})
    return ("-e", "@" + path)


@pytest.fixture(scope="module")
def pg_vars(sim_hosts):
    network = sim_hosts["db1"][: -len("db1")] + "lan"
    return {"postgres_memory_mb": 512, "postgres_cpus": 2, "postgres_app_cidrs": [lan_subnet(network)]}


SYNC_FIRST = {"postgres_synchronous": {"method": "FIRST", "num": 1}}


@pytest.fixture(scope="module")
def converged(fresh_db_hosts, sim_hosts, ansible_playbook, pg_vars, secret_args):
    """Converge db1 + db2 from scratch with synchronous replication (FIRST 1)."""
    run = ansible_playbook(PLAYBOOK, "--limit", "db", *secret_args, extra_vars={**pg_vars, **SYNC_FIRST})
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return run


@pytest.mark.slow
def test_converge_sync_streams_and_is_idempotent(sim_hosts, converged, ansible_playbook, pg_vars, secret_args):
    db1, db2 = sim_hosts["db1"], sim_hosts["db2"]
    assert psql(db1, "show synchronous_standby_names") == 'FIRST 1 ("db1", "db2")'
    assert psql(db1, "select application_name || ':' || state || ':' || sync_state from pg_stat_replication") \
        == "db2:streaming:sync"
    assert psql(db2, "select pg_is_in_recovery()") == "t"
    assert psql(db1, "select slot_name || ':' || active from pg_replication_slots") == "db2:true"
    # settings sized for 512 MiB, per-node name, TLS on
    assert psql(db1, "show shared_buffers") == "128MB"
    assert psql(db2, "show cluster_name") == "db2"
    assert psql(db1, "show ssl") == "on" and psql(db1, "show wal_log_hints") == "on"
    # a synchronous commit on the primary is on the standby when it returns
    psql(db1, "create table if not exists probe(v text); insert into probe values ('x')")
    assert psql(db2, "select count(*) >= 1 from probe") == "t"

    again = ansible_playbook(PLAYBOOK, "--limit", "db", *secret_args, extra_vars={**pg_vars, **SYNC_FIRST})
    assert again.rc == 0 and again.changed() == 0, again.stdout[-4000:]
    check = ansible_playbook(PLAYBOOK, "--limit", "db", *secret_args, extra_vars={**pg_vars, **SYNC_FIRST}, check=True)
    assert check.rc == 0 and check.changed() == 0, check.stdout[-4000:]
    for run in (converged, again, check):
        assert DB_PASSWORD not in run.stdout + run.stderr
        assert REPL_PASSWORD not in run.stdout + run.stderr


def test_odoo_role_over_tls_only_and_owner_owns(sim_hosts, converged):
    app = sim_hosts["app1"]
    env = {"PGPASSWORD": DB_PASSWORD}
    ok = sh(app, "psql", "host=db1 dbname=odoo user=odoo sslmode=require", "-XAtq",
            "-c", "create table t_owner(i int)",
            "-c", "select tableowner from pg_tables where tablename = 't_owner'",
            "-c", "drop table t_owner", env=env, check=False)
    # sslmode=require: libpq refuses to go on without TLS, so this session was encrypted
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["odoo_owner"]
    plain = sh(app, "psql", "host=db1 dbname=odoo user=odoo sslmode=disable", "-XAtqc", "select 1", env=env,
               check=False)
    assert plain.returncode != 0 and "no pg_hba.conf entry" in plain.stderr
    # not a superuser, cannot create roles; the password file of the replication role is private
    assert psql(sim_hosts["db1"], "select rolsuper or rolcreaterole from pg_roles where rolname = 'odoo'") == "f"
    mode = sh(sim_hosts["db2"], "stat", "-c", "%a %U", "/var/lib/postgresql/.pgpass").stdout.strip()
    assert mode == "600 postgres"
    conf = sh(sim_hosts["db2"], "cat", "/var/lib/postgresql/15/main/postgresql.auto.conf").stdout
    assert REPL_PASSWORD not in conf and "passfile" in conf


@pytest.mark.slow
def test_bad_input_changes_nothing_then_async(sim_hosts, converged, ansible_playbook, pg_vars, secret_args):
    db1 = sim_hosts["db1"]
    before = sh(db1, "stat", "-c", "%Y", "/etc/postgresql/15/main/conf.d/50-odooops.conf").stdout
    bad = ansible_playbook(PLAYBOOK, "--limit", "db", *secret_args,
                           extra_vars={**pg_vars, "postgres_synchronous": {"method": "ANY", "num": 2}})
    assert bad.rc != 0 and "postgres_synchronous must be" in bad.stdout and bad.changed() == 0
    assert sh(db1, "stat", "-c", "%Y", "/etc/postgresql/15/main/conf.d/50-odooops.conf").stdout == before
    run = ansible_playbook(PLAYBOOK, "--limit", "db", *secret_args, extra_vars=pg_vars)
    assert run.rc == 0, run.stdout[-4000:]
    assert psql(db1, "show synchronous_standby_names") == ""
    assert psql(db1, "select application_name || ':' || sync_state from pg_stat_replication") == "db2:async"
