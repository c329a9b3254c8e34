"""playbooks/failover.yml on the simulated db hosts: switchover and failover under a writer, fencing, rejoin,
and bad input refused before any change. Runs after test_postgres_role.py (same session's hosts).

Run with your own prefix: ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/postgres
"""
from __future__ import annotations

import json
import re
import subprocess
import time
import uuid

import psycopg2
import pytest

from tests.integration.harness.postgres import PLAYBOOK, Writer, secrets_file, sh

FAILOVER = "playbooks/failover.yml"
DB_PASSWORD = "odoo-" + uuid.uuid4().hex
REPL_PASSWORD = "repl-" + uuid.uuid4().hex

pytestmark = pytest.mark.slow


def psql(container: str, sql: str, db: str = "postgres", check: bool = True) -> subprocess.CompletedProcess:
    return sh(container, "runuser", "-u", "postgres", "--", "psql", "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1",
              "-c", sql, check=check)


def ip(container: str) -> str:
    out = json.loads(subprocess.run(["docker", "inspect", container], capture_output=True, text=True,
                                    check=True).stdout)[0]
    return next(iter(out["NetworkSettings"]["Networks"].values()))["IPAddress"]


def in_recovery(container: str) -> bool:
    return psql(container, "select pg_is_in_recovery()").stdout.strip() == "t"


def wait(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def cluster(fresh_db_hosts, sim_hosts, ansible_playbook, tmp_path_factory):
    network = sim_hosts["db1"][: -len("db1")] + "lan"
    subnet = json.loads(subprocess.run(["docker", "network", "inspect", network], capture_output=True, text=True,
                                       check=True).stdout)[0]["IPAM"]["Config"][0]["Subnet"]
    base_vars = {"postgres_memory_mb": 512, "postgres_cpus": 2, "postgres_app_cidrs": [subnet]}
    pg_vars = {**base_vars, "postgres_synchronous": {"method": "FIRST", "num": 1}}
    secrets = ("-e", "@" + secrets_file(tmp_path_factory.mktemp("pgfo"), {
        "odooops_db_password": DB_PASSWORD, "odooops_replication_password": REPL_PASSWORD}))
    run = ansible_playbook(PLAYBOOK, "--limit", "db", *secrets, extra_vars=pg_vars)
    assert run.rc == 0, run.stdout[-6000:]
    primary = "db1" if not in_recovery(sim_hosts["db1"]) else "db2"
    psql(sim_hosts[primary], "create table if not exists ledger(id bigint primary key, at timestamptz default now())",
         db="odoo")
    psql(sim_hosts[primary], "alter table ledger owner to odoo_owner", db="odoo")
    return {"secrets": secrets, "primary": primary, "async_vars": base_vars}


def writer_for(sim_hosts, start: int = 1) -> Writer:
    dsn = (f"host={ip(sim_hosts['db1'])},{ip(sim_hosts['db2'])} port=5432,5432 dbname=odoo user=odoo "
           f"password={DB_PASSWORD} sslmode=require target_session_attrs=read-write connect_timeout=2 "
           f"tcp_user_timeout=3000 keepalives=1 keepalives_idle=1 keepalives_interval=1 keepalives_count=3")
    w = Writer(dsn, start=start)
    w.start()
    return w


def acked_present(container: str, acked: list[int]) -> set[int]:
    rows = psql(container, "select id from ledger", db="odoo").stdout.split()
    return set(acked) - {int(r) for r in rows}


def test_bad_input_is_refused_before_any_change(sim_hosts, cluster, ansible_playbook):
    primary = sim_hosts[cluster["primary"]]
    standby = sim_hosts["db2" if cluster["primary"] == "db1" else "db1"]
    unknown = ansible_playbook(FAILOVER, "--limit", "db", *cluster["secrets"],
                               extra_vars={"mode": "failover", "failover_candidates": ["db9"]})
    # refused by the workflow's preflight, naming the variable and the host
    assert unknown.rc != 0 and "failover_candidates has host(s) db9 not in the db group" in " ".join(
        unknown.stdout.split())  # the callback folds long messages
    assert unknown.changed() == 0
    alive = ansible_playbook(FAILOVER, "--limit", "db", *cluster["secrets"], extra_vars={"mode": "failover"})
    assert alive.rc != 0 and "still accept(s) writes" in alive.stdout and alive.changed() == 0
    psql(standby, "select pg_wal_replay_pause()")
    try:
        psql(primary, "insert into ledger(id) select -g from generate_series(1, 5000) g", db="odoo")
        lag = ansible_playbook(FAILOVER, "--limit", "db", *cluster["secrets"],
                               extra_vars={"mode": "switchover", "failover_max_lag_bytes": 1000})
        assert lag.rc != 0 and "failover_max_lag_bytes=1000" in lag.stdout and lag.changed() == 0
    finally:
        psql(standby, "select pg_wal_replay_resume()")
        psql(primary, "delete from ledger where id < 0", db="odoo")
    assert not in_recovery(primary) and in_recovery(standby)


def test_switchover_under_writer_loses_nothing(sim_hosts, cluster, ansible_playbook):
    old, new = cluster["primary"], "db2" if cluster["primary"] == "db1" else "db1"
    writer = writer_for(sim_hosts)
    try:
        writer.wait_acked(100)
        run = ansible_playbook(FAILOVER, "--limit", "db", *cluster["secrets"], extra_vars={"mode": "switchover"})
        assert run.rc == 0, run.stdout[-6000:]
        writer.wait_acked(100, timeout=60)
    finally:
        writer.finish()
    assert not in_recovery(sim_hosts[new]) and in_recovery(sim_hosts[old])
    assert acked_present(sim_hosts[new], writer.acked) == set()
    state = psql(sim_hosts[new], "select application_name || ':' || state || ':' || sync_state "
                                 "from pg_stat_replication").stdout.strip()
    assert state == f"{old}:streaming:sync"
    print(f"switchover: longest gap between acknowledged writes {max(writer.gaps):.2f} s")
    assert REPL_PASSWORD not in run.stdout + run.stderr
    cluster["primary"] = new


def test_failover_after_sigkill_fences_then_rejoins(sim_hosts, cluster, ansible_playbook):
    old, new = cluster["primary"], "db2" if cluster["primary"] == "db1" else "db1"
    writer = writer_for(sim_hosts, start=10_000_000)  # ids of its own: the switchover's rows are in the table
    try:
        writer.wait_acked(100)
        pid = sh(sim_hosts[old], "head", "-1", "/var/lib/postgresql/15/main/postmaster.pid").stdout.strip()
        sh(sim_hosts[old], "kill", "-9", pid)  # the primary dies under load
        acked_before = list(writer.acked)
        run = ansible_playbook(FAILOVER, "--limit", "db", *cluster["secrets"], extra_vars={"mode": "failover"})
        assert run.rc == 0, run.stdout[-6000:]
        writer.wait_acked(50, timeout=60)
    finally:
        writer.finish()
    # the primary was already dead when failover.yml started: this gap is the playbook's run to the first write
    print(f"failover: SIGKILL -> failover.yml -> first acknowledged write {max(writer.gaps):.2f} s")
    assert not in_recovery(sim_hosts[new])
    assert acked_present(sim_hosts[new], acked_before) == set(), "acknowledged commits lost"
    assert acked_present(sim_hosts[new], writer.acked) == set()
    assert sh(sim_hosts[old], "test", "-f", "/var/lib/postgresql/15/main/odooops.fenced", check=False).returncode == 0

    # the old primary comes back (its host restarted PostgreSQL): read-only, and its port rejects clients
    sh(sim_hosts[old], "pg_ctlcluster", "15", "main", "start")
    refused = psql(sim_hosts[old], "insert into ledger(id) values (-1)", db="odoo", check=False)
    assert refused.returncode != 0 and "read-only" in refused.stderr
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host=ip(sim_hosts[old]), port=5432, dbname="odoo", user="odoo", password=DB_PASSWORD,
                         sslmode="require", connect_timeout=3)

    rejoin = ansible_playbook(FAILOVER, "--limit", "db", *cluster["secrets"], extra_vars={"mode": "rejoin"})
    assert rejoin.rc == 0, rejoin.stdout[-6000:]
    wait(lambda: psql(sim_hosts[new], "select state from pg_stat_replication").stdout.strip() == "streaming",
         what="the old primary streaming again")
    assert in_recovery(sim_hosts[old])
    assert sh(sim_hosts[old], "test", "-f", "/var/lib/postgresql/15/main/odooops.fenced", check=False).returncode != 0
    assert "odooops-fence" not in sh(sim_hosts[old], "iptables", "-S", "INPUT").stdout
    # synchronous replication was relaxed to keep writing alone, and restored once the standby streamed
    assert psql(sim_hosts[new], "show synchronous_standby_names").stdout.strip() == 'FIRST 1 ("db1", "db2")'
    cluster["primary"] = new


def test_async_failover_counts_the_lost_window(sim_hosts, cluster, ansible_playbook):
    """The role's default, asynchronous replication: a failover may lose what the old primary acknowledged and
    could not send. The rejoin counts it from the old primary's WAL, and the count is exactly the acknowledged
    writes the new primary lacks; nothing acknowledged after the promotion is lost."""
    old, new = cluster["primary"], "db2" if cluster["primary"] == "db1" else "db1"
    converge = ansible_playbook(PLAYBOOK, "--limit", "db", *cluster["secrets"], extra_vars=cluster["async_vars"])
    assert converge.rc == 0, converge.stdout[-6000:]
    assert psql(sim_hosts[old], "show synchronous_standby_names").stdout.strip() == ""
    cut = ["INPUT", "-s", ip(sim_hosts[old]), "-p", "tcp", "--sport", "5432", "-j", "DROP",
           "-m", "comment", "--comment", "odooops-test-cut"]
    writer = writer_for(sim_hosts, start=20_000_000)
    try:
        writer.wait_acked(50)
        # the standby stops receiving (the old primary's replication packets are dropped on it) while the
        # primary goes on acknowledging commits alone
        sh(sim_hosts[new], "iptables", "-I", *cut)
        writer.wait_acked(100)
        writer.finish()  # no commit in flight when the primary dies: every commit it wrote was acknowledged
        pid = sh(sim_hosts[old], "head", "-1", "/var/lib/postgresql/15/main/postmaster.pid").stdout.strip()
        sh(sim_hosts[old], "kill", "-9", pid)
        run = ansible_playbook(FAILOVER, "--limit", "db", *cluster["secrets"], extra_vars={"mode": "failover"})
        assert run.rc == 0, run.stdout[-6000:]
    finally:
        writer.finish()
        sh(sim_hosts[new], "iptables", "-D", *cut, check=False)
    assert not in_recovery(sim_hosts[new])
    lost = acked_present(sim_hosts[new], writer.acked)
    assert lost, "the standby was cut off: some acknowledged commits cannot be on the new primary"
    after = writer_for(sim_hosts, start=30_000_000)
    try:
        after.wait_acked(50, timeout=60)
    finally:
        after.finish()

    sh(sim_hosts[old], "pg_ctlcluster", "15", "main", "start")
    rejoin = ansible_playbook(FAILOVER, "--limit", "db", *cluster["secrets"], extra_vars={"mode": "rejoin"})
    assert rejoin.rc == 0, rejoin.stdout[-6000:]
    found = re.search(rf"lost window: {old}: (\d+) transaction\(s\) writing application data",
                      " ".join(rejoin.stdout.split()))
    assert found, rejoin.stdout[-4000:]
    print(f"async failover: {len(lost)} acknowledged commits lost, reported {found.group(1)}")
    assert int(found.group(1)) == len(lost)
    wait(lambda: psql(sim_hosts[new], "select state from pg_stat_replication").stdout.strip() == "streaming",
         what="the old primary streaming again")
    assert acked_present(sim_hosts[new], after.acked) == set()
    cluster["primary"] = new
