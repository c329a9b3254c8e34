"""postgres_ha=patroni on three simulated db hosts (db1, db2 and an extra db3): real Patroni and etcd from
Debian. The cluster converges and a rerun changes nothing; failover.yml switches over through Patroni's API
under a writer without losing an acknowledged commit; a leader killed with SIGKILL is replaced by Patroni on
its own, failover.yml reports the new primary, and mode=rejoin brings the old node back as a replica.

Run with your own prefix: ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/postgres
"""
from __future__ import annotations

import subprocess
import uuid

import pytest

from testbed import patroni as tb_patroni
from testbed.procs import wait_for

from .conftest import Writer
from .test_postgres_role import PLAYBOOK, lan_subnet, secrets_file, sh

FAILOVER = "playbooks/failover.yml"
DB_PASSWORD = "odoo-" + uuid.uuid4().hex
REPL_PASSWORD = "repl-" + uuid.uuid4().hex
API_PASSWORD = "api-" + uuid.uuid4().hex
SECRETS = (DB_PASSWORD, REPL_PASSWORD, API_PASSWORD)
NODES = ("db1", "db2", "db3")

pytestmark = pytest.mark.slow


def psql(container: str, sql: str, db: str = "postgres", check: bool = True):
    return sh(container, "runuser", "-u", "postgres", "--", "psql", "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1",
              "-c", sql, check=check)


def members(hosts: dict) -> dict:
    for c in hosts.values():
        try:
            return {m["name"]: m for m in tb_patroni.cluster(c)["members"]}
        except OSError:
            continue
    raise AssertionError("no Patroni member answers")


def healthy(hosts: dict, leader: str | None = None) -> bool:
    ms = members(hosts)
    leaders = [n for n, m in ms.items() if m["role"] == "leader" and m["state"] == "running"]
    replicas = [n for n, m in ms.items() if m["role"] != "leader" and m["state"] in ("running", "streaming")
                and isinstance(m.get("lag"), int)]
    # synchronous_mode: a synchronous standby is assigned (else a killed leader could not be replaced)
    return (len(ms) == 3 and len(leaders) == 1 and len(replicas) == 2 and leader in (None, leaders[0])
            and any(m["role"] == "sync_standby" for m in ms.values()))


@pytest.fixture(scope="module")
def patroni_hosts(sim_hosts, tmp_path_factory):
    prefix = sim_hosts["db1"][: -len("db1")]
    hosts = {"db1": sim_hosts["db1"], "db2": sim_hosts["db2"], "db3": tb_patroni.db3_up(prefix, prefix + "lan")}
    for c in hosts.values():
        tb_patroni.reset(c)
    inventory = tmp_path_factory.mktemp("patroni") / "db3.yml"
    inventory.write_text('all:\n  children:\n    db:\n      hosts:\n        db3:\n'
                         '          ansible_host: "{{ odooops_local_prefix }}db3"\n')
    yield {"hosts": hosts, "inventory": str(inventory)}
    for c in hosts.values():
        tb_patroni.reset(c)
    subprocess.run(["docker", "rm", "-f", "-v", hosts["db3"]], capture_output=True, check=False)


@pytest.fixture(scope="module")
def patroni(patroni_hosts, sim_hosts, ansible_playbook, tmp_path_factory):
    secrets = secrets_file(tmp_path_factory.mktemp("patroni-secrets"), {
        "odooops_db_password": DB_PASSWORD, "odooops_replication_password": REPL_PASSWORD,
        "odooops_patroni_api_password": API_PASSWORD})
    args = ("-i", patroni_hosts["inventory"], "--limit", "db", "-e", "@" + secrets)
    extra = {"postgres_ha": "patroni", "postgres_memory_mb": 512, "postgres_cpus": 2,
             "postgres_app_cidrs": [lan_subnet(sim_hosts["db1"][: -len("db1")] + "lan")],
             # synchronous_mode: Patroni promotes only the synchronous replica, so a killed leader loses nothing
             "postgres_synchronous": {"method": "FIRST", "num": 1}}

    def play(playbook: str, **more):
        return ansible_playbook(playbook, *args, extra_vars={**extra, **more})

    first = play(PLAYBOOK)
    assert first.rc == 0, first.stdout[-8000:] + first.stderr[-3000:]
    hosts = patroni_hosts["hosts"]
    leader = tb_patroni.leader(hosts)
    psql(hosts[leader], "create table if not exists ledger(id bigint primary key, at timestamptz default now())",
         db="odoo")
    psql(hosts[leader], "alter table ledger owner to odoo_owner", db="odoo")
    return {"play": play, "hosts": hosts, "first": first}


def writer(hosts: dict, start: int) -> Writer:
    ips = ",".join(tb_patroni.ip(hosts[n]) for n in NODES)
    w = Writer(f"host={ips} port=5432,5432,5432 dbname=odoo user=odoo password={DB_PASSWORD} sslmode=require "
               f"target_session_attrs=read-write connect_timeout=2 tcp_user_timeout=3000 keepalives=1 "
               f"keepalives_idle=1 keepalives_interval=1 keepalives_count=3", start=start)
    w.start()
    return w


def missing(container: str, acked: list[int]) -> set[int]:
    rows = psql(container, "select id from ledger", db="odoo").stdout.split()
    return set(acked) - {int(r) for r in rows}


def test_patroni_cluster_converges_and_rerun_changes_nothing(patroni):
    hosts = patroni["hosts"]
    wait_for(lambda: healthy(hosts), 30, interval=0.5, what="one leader, a synchronous and an async replica")
    leader = tb_patroni.leader(hosts)
    streaming = psql(hosts[leader], "select application_name || ':' || state from pg_stat_replication "
                                    "order by 1").stdout.split()
    assert streaming == [f"{n}:streaming" for n in NODES if n != leader]
    assert psql(hosts[leader], "show synchronous_standby_names").stdout.strip() != ""
    # our settings survive Patroni: TLS, sizing from conf.d, max_connections through Patroni's DCS config
    assert psql(hosts[leader], "show ssl").stdout.strip() == "on"
    assert psql(hosts[leader], "show shared_buffers").stdout.strip() == "128MB"
    for name in NODES:
        if name != leader:
            assert psql(hosts[name], "select pg_is_in_recovery()").stdout.strip() == "t"
    # secrets: only in 0600 files, never in process arguments or in the output
    for c in hosts.values():
        assert sh(c, "stat", "-c", "%a %U", "/etc/patroni/15-main.yml").stdout.split() == ["600", "postgres"]
        ps = sh(c, "ps", "-eo", "args").stdout
        assert "patroni" in ps and "etcd" in ps and not any(s in ps for s in SECRETS)
    out = patroni["first"].stdout + patroni["first"].stderr
    assert not any(s in out for s in SECRETS)

    again = patroni["play"](PLAYBOOK)
    assert again.rc == 0, again.stdout[-6000:]
    assert again.changed() == 0, again.stdout[-6000:]
    assert tb_patroni.leader(hosts) == leader


def test_switchover_through_patroni_under_writer_loses_nothing(patroni):
    hosts = patroni["hosts"]
    old = tb_patroni.leader(hosts)
    w = writer(hosts, start=1)
    try:
        w.wait_acked(100)
        run = patroni["play"](FAILOVER, mode="switchover")
        assert run.rc == 0, run.stdout[-6000:]
        w.wait_acked(100, timeout=60)
    finally:
        w.finish()
    new = tb_patroni.leader(hosts)
    assert new != old and f"primary is {new}" in run.stdout
    assert missing(hosts[new], w.acked) == set()
    assert psql(hosts[old], "select pg_is_in_recovery()").stdout.strip() == "t"
    wait_for(lambda: healthy(hosts, new), 90, interval=0.5, what="the old leader running as a replica")
    assert not any(s in run.stdout + run.stderr for s in SECRETS)
    print(f"switchover (Patroni): longest gap between acknowledged writes {max(w.gaps):.2f} s")


def test_killed_leader_is_replaced_automatically_then_rejoins(patroni):
    hosts = patroni["hosts"]
    old = tb_patroni.leader(hosts)
    w = writer(hosts, start=10_000_000)
    try:
        w.wait_acked(100)
        tb_patroni.kill_leader(hosts[old])
        acked_before = list(w.acked)
        # failover.yml waits for Patroni's own promotion and reports it
        run = patroni["play"](FAILOVER, mode="failover")
        assert run.rc == 0, run.stdout[-6000:]
        w.wait_acked(50, timeout=90)
        print(f"automatic failover: longest gap between acknowledged writes {max(w.gaps):.1f} s (ttl 20)")
    finally:
        w.finish()
    new = tb_patroni.leader(hosts)
    assert new and new != old and f"primary is {new}" in run.stdout
    assert missing(hosts[new], acked_before) == set(), "acknowledged commits lost"
    assert missing(hosts[new], w.acked) == set()

    rejoin = patroni["play"](FAILOVER, mode="rejoin")
    assert rejoin.rc == 0, rejoin.stdout[-6000:]
    wait_for(lambda: healthy(hosts, new), 120, interval=0.5, what="the killed node back as a replica")
    assert psql(hosts[old], "select pg_is_in_recovery()").stdout.strip() == "t"
