"""The postgres role on the simulated db hosts db1 + db2: converge, rerun, check mode, replication, TLS, roles.

Run with your own prefix: ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/postgres
"""
from __future__ import annotations

import time
import uuid

import pytest

from tests.integration.harness.postgres import (
    PLAYBOOK,
    SERVER_CERT,
    ImpostorCertificate,
    lan_subnet,
    secrets_file,
    sh,
)

DB_PASSWORD = "odoo-" + uuid.uuid4().hex
REPL_PASSWORD = "repl-" + uuid.uuid4().hex


def psql(container: str, sql: str) -> str:
    return sh(container, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c", sql).stdout.strip()


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
    assert again.rc == 0 and again.changed() == 0, (again.changed_tasks(), again.stdout[-4000:])
    check = ansible_playbook(PLAYBOOK, "--limit", "db", *secret_args, extra_vars={**pg_vars, **SYNC_FIRST}, check=True)
    assert check.rc == 0 and check.changed() == 0, check.stdout[-4000:]
    for run in (converged, again, check):
        assert DB_PASSWORD not in run.stdout + run.stderr
        assert REPL_PASSWORD not in run.stdout + run.stderr


@pytest.mark.slow  # with the other tests of the module: one converge of db1 + db2 in the suite, not one per stage
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


CA_FILE = "/etc/odooops/pki/db-ca.crt"


def wal_receiver_status(container: str) -> str:
    return psql(container, "select coalesce((select status from pg_stat_wal_receiver), 'none')")


@pytest.mark.slow
def test_certificates_from_the_platform_ca_and_standby_refuses_an_impostor(sim_hosts, converged):
    db1, db2 = sim_hosts["db1"], sim_hosts["db2"]
    # each node's certificate is issued by the platform CA and names the node (inventory name, ansible_host)
    for name in ("db1", "db2"):
        host = sim_hosts[name]
        assert sh(host, "openssl", "verify", "-CAfile", CA_FILE, SERVER_CERT).returncode == 0
        san = sh(host, "openssl", "x509", "-in", SERVER_CERT, "-noout", "-ext", "subjectAltName").stdout
        assert f"DNS:{name}" in san and f"DNS:{host}" in san, san
    # the CA's key stays on the CA host (the first db host); every node has the CA's certificate
    assert sh(db1, "stat", "-c", "%a %U", "/etc/odooops/pki/db-ca.key").stdout.strip() == "600 root"
    assert sh(db2, "test", "-e", "/etc/odooops/pki/db-ca.key", check=False).returncode != 0
    assert sh(db1, "cat", CA_FILE).stdout == sh(db2, "cat", CA_FILE).stdout
    # the standby verifies the primary: verify-full against the platform CA
    conninfo = psql(db2, "show primary_conninfo")
    assert "sslmode='verify-full'" in conninfo and f"sslrootcert='{CA_FILE}'" in conninfo, conninfo
    assert psql(db1, "select count(*) from pg_stat_ssl s join pg_stat_replication r using (pid) where s.ssl") == "1"

    # an impostor on db1's name: the standby's next connection is refused, it does not stream
    log = "/var/log/postgresql/postgresql-15-main.log"
    with ImpostorCertificate(db1, "db1"):
        mark = int(sh(db2, "stat", "-c", "%s", log).stdout)
        psql(db1, "select pg_terminate_backend(pid) from pg_stat_replication")
        deadline = time.monotonic() + 20
        seen = ""
        while time.monotonic() < deadline:
            seen = sh(db2, "tail", "-c", f"+{mark + 1}", log).stdout
            if "certificate verify failed" in seen:
                break
            time.sleep(0.5)
        assert "certificate verify failed" in seen, seen[-2000:]
        time.sleep(6)  # wal_retrieve_retry_interval (5 s): it has tried again meanwhile
        assert wal_receiver_status(db2) != "streaming"
        assert psql(db1, "select count(*) from pg_stat_replication") == "0"
    # the real certificate back: it streams again
    deadline = time.monotonic() + 60
    while wal_receiver_status(db2) != "streaming" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert wal_receiver_status(db2) == "streaming"


@pytest.mark.slow
def test_require_is_an_explicit_downgrade_applied_to_a_streaming_standby(sim_hosts, converged, ansible_playbook,
                                                                         pg_vars, secret_args):
    db2 = sim_hosts["db2"]
    down = ansible_playbook(PLAYBOOK, "--limit", "db", *secret_args,
                            extra_vars={**pg_vars, **SYNC_FIRST, "odooops_db_sslmode": "require"})
    assert down.rc == 0, down.stdout[-4000:]
    conninfo = psql(db2, "show primary_conninfo")
    assert "sslmode='require'" in conninfo and "sslrootcert" not in conninfo, conninfo
    bad = ansible_playbook(PLAYBOOK, "--limit", "db", *secret_args,
                           extra_vars={**pg_vars, **SYNC_FIRST, "odooops_db_sslmode": "prefer"})
    assert bad.rc != 0 and "sslmode" in bad.stdout and "prefer" in bad.stdout and bad.changed() == 0
    back = ansible_playbook(PLAYBOOK, "--limit", "db", *secret_args, extra_vars={**pg_vars, **SYNC_FIRST})
    assert back.rc == 0 and back.changed() == 1, back.stdout[-4000:]  # the standby's primary_conninfo only
    conninfo = psql(db2, "show primary_conninfo")
    assert "sslmode='verify-full'" in conninfo and f"sslrootcert='{CA_FILE}'" in conninfo, conninfo
    deadline = time.monotonic() + 30
    while wal_receiver_status(db2) != "streaming" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert wal_receiver_status(db2) == "streaming"


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
