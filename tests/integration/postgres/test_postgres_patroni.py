"""postgres_ha=patroni on three simulated db hosts (db1, db2 and an extra db3): real Patroni and etcd from
Debian. The cluster converges and a rerun changes nothing; failover.yml switches over through Patroni's API
under a writer without losing an acknowledged commit; a leader killed with SIGKILL is replaced by Patroni on
its own, failover.yml reports the new primary, and mode=rejoin brings the old node back as a replica.
The control plane is closed: etcd answers only TLS clients with a certificate of the platform CA, and with RBAC
on, a certificate without credentials reads and writes nothing; Patroni's REST API is TLS only, on the node's
address, and refuses a switchover without a client certificate (real HTTP requests from the control machine).

Run with your own prefix: ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/postgres
"""
from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

from testbed import patroni as tb_patroni
from testbed.procs import wait_for
from tests.integration.harness.postgres import PLAYBOOK, Writer, lan_subnet, secrets_file, sh

FAILOVER = "playbooks/failover.yml"
DB_PASSWORD = "odoo-" + uuid.uuid4().hex
REPL_PASSWORD = "repl-" + uuid.uuid4().hex
API_PASSWORD = "api-" + uuid.uuid4().hex
ETCD_ROOT_PASSWORD = "etcdroot-" + uuid.uuid4().hex
ETCD_PATRONI_PASSWORD = "etcdpatroni-" + uuid.uuid4().hex
SECRETS = (DB_PASSWORD, REPL_PASSWORD, API_PASSWORD, ETCD_ROOT_PASSWORD, ETCD_PATRONI_PASSWORD)
NODES = ("db1", "db2", "db3")
LEADER_KEY = "/odooops/15-main/leader"   # Patroni's leader lock (namespace /odooops/, scope 15-main)

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
        "odooops_patroni_api_password": API_PASSWORD, "odooops_etcd_root_password": ETCD_ROOT_PASSWORD,
        "odooops_etcd_patroni_password": ETCD_PATRONI_PASSWORD})
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
    ca = tb_patroni.node_files(hosts["db1"])["ca"]
    w = Writer(f"host={ips} port=5432,5432,5432 dbname=odoo user=odoo password={DB_PASSWORD} sslmode=verify-full "
               f"sslrootcert={ca} "
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
    # Patroni's own PostgreSQL connections verify the primary against the platform CA (verify-full), and the
    # replicas stream over TLS
    for name in NODES:
        if name != leader:
            conninfo = psql(hosts[name], "show primary_conninfo").stdout
            assert "sslmode=verify-full" in conninfo and "sslrootcert=/etc/odooops/pki/db-ca.crt" in conninfo, conninfo
    assert psql(hosts[leader], "select bool_and(s.ssl) from pg_stat_replication r join pg_stat_ssl s "
                               "using (pid)").stdout.strip() == "t"
    # secrets: only in 0600 files, never in process arguments or in the output; TLS keys 0600 too
    for c in hosts.values():
        assert sh(c, "stat", "-c", "%a %U", "/etc/patroni/15-main.yml").stdout.split() == ["600", "postgres"]
        assert sh(c, "stat", "-c", "%a %U", "/etc/patroni/tls/patroni.key").stdout.split() == ["600", "postgres"]
        assert sh(c, "stat", "-c", "%a %U", "/etc/etcd/odooops-tls/member.key").stdout.split() == ["600", "etcd"]
        ps = sh(c, "ps", "-eo", "args").stdout
        assert "patroni" in ps and "etcd" in ps and not any(s in ps for s in SECRETS)
    out = patroni["first"].stdout + patroni["first"].stderr
    assert not any(s in out for s in SECRETS)

    again = patroni["play"](PLAYBOOK)
    assert again.rc == 0, again.stdout[-6000:]
    assert again.changed() == 0, (again.changed_tasks(), again.stdout[-6000:])
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


# -- the control plane is closed (issue 12 section 2) -----------------------------------------------------------
def request(url: str, body: dict | None = None, context: ssl.SSLContext | None = None, headers: dict | None = None,
            method: str = "POST") -> tuple[int | None, str]:
    """(HTTP status, body) of a real request; (None, reason) when the server answers no HTTP at all (TLS refused)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:  # TLS handshake refused, connection reset or closed
        return None, repr(exc)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_etcd_refuses_clients_without_certificate_or_credentials(patroni):
    hosts = patroni["hosts"]
    wait_for(lambda: healthy(hosts), 60, interval=0.5, what="a healthy cluster")
    leader = tb_patroni.leader(hosts)
    read = {"key": b64(LEADER_KEY)}
    write = {"key": b64(LEADER_KEY), "value": b64("db-attacker")}
    for name, c in hosts.items():
        addr = tb_patroni.ip(c)
        # plain HTTP, as anyone on the db LAN would: no key is read or written (today's main answers both)
        for path, body in (("range", read), ("put", write)):
            status, text = request(f"http://{addr}:2379/v3/kv/{path}", body)
            assert status != 200 and "kvs" not in text, (name, path, status, text)
        # TLS that verifies etcd against the platform CA, without a client certificate: the handshake is refused,
        # on the client port and on the peer port
        no_cert = tb_patroni.tls_context(c)
        for port, path, body in ((2379, "/v3/kv/range", read), (2379, "/v3/kv/put", write), (2380, "/members", None)):
            status, text = request(f"https://{addr}:{port}{path}", body, context=no_cert,
                                   method="POST" if body is not None else "GET")
            assert status is None, (name, port, path, status, text)
        # a client certificate of the platform CA but no RBAC credentials: permission denied, read and write
        with_cert = tb_patroni.tls_context(c, client_cert=True)
        for path, body in (("range", read), ("put", write)):
            status, text = request(f"https://{addr}:2379/v3/kv/{path}", body, context=with_cert)
            assert status == 403 and "permission denied" in text, (name, path, status, text)
        # a wrong password gets no token
        status, text = request(f"https://{addr}:2379/v3/auth/authenticate",
                               {"name": "patroni", "password": "not-" + ETCD_PATRONI_PASSWORD}, context=with_cert)
        assert status != 200 and "token" not in text, (name, status, text)

    # Patroni's user reads its leader key - still the leader's - and is confined to its prefix
    c = hosts[leader]
    ctx = tb_patroni.tls_context(c, client_cert=True)
    addr = tb_patroni.ip(c)
    status, text = request(f"https://{addr}:2379/v3/auth/authenticate",
                           {"name": "patroni", "password": ETCD_PATRONI_PASSWORD}, context=ctx)
    assert status == 200, text
    token = {"Authorization": json.loads(text)["token"]}
    status, text = request(f"https://{addr}:2379/v3/kv/range", read, context=ctx, headers=token)
    assert status == 200, text
    assert base64.b64decode(json.loads(text)["kvs"][0]["value"]).decode() == leader
    status, text = request(f"https://{addr}:2379/v3/kv/put", {"key": b64("/elsewhere"), "value": b64("x")},
                           context=ctx, headers=token)
    assert status == 403 and "permission denied" in text, text
    assert tb_patroni.leader(hosts) == leader


def test_patroni_api_refuses_a_switchover_without_client_certificate(patroni):
    hosts = patroni["hosts"]
    wait_for(lambda: healthy(hosts), 60, interval=0.5, what="a healthy cluster")
    leader = tb_patroni.leader(hosts)
    c = hosts[leader]
    addr = tb_patroni.ip(c)
    url = f"https://{addr}:8008/switchover"
    # a candidate that does not exist: should a request get through, Patroni refuses it with 412 rather than
    # switching over, so a failing assertion below never moves the leader
    body = {"leader": leader, "candidate": "nobody"}
    basic = {"Authorization": "Basic " + base64.b64encode(f"patroni:{API_PASSWORD}".encode()).decode()}

    # plain HTTP: no API answers (today's main answers, and with the password reaches the candidate check)
    status, text = request(f"http://{addr}:8008/switchover", body, headers=basic)
    assert status is None, (status, text)
    # TLS verified against the platform CA (hostname = the node's address), no client certificate: refused,
    # without the password and with it
    no_cert = tb_patroni.tls_context(c)
    for headers in ({}, basic):
        status, text = request(url, body, context=no_cert, headers=headers)
        assert status == 403 and "client certificate required" in text, (status, text)
    # a client certificate of the platform CA but no password: refused
    with_cert = tb_patroni.tls_context(c, client_cert=True)
    status, text = request(url, body, context=with_cert)
    assert status == 401, (status, text)
    # certificate and password: Patroni reads the request (and refuses the unknown candidate)
    status, text = request(url, body, context=with_cert, headers=basic)
    assert status not in (200, 401, 403), (status, text)
    # reads need no client certificate, only a verified server
    status, text = request(f"https://{addr}:8008/cluster", context=no_cert, method="GET")
    assert status == 200 and leader in text
    # bound to the node's address only (not 0.0.0.0 nor the loopback)
    listening = sh(c, "ss", "-Hltn").stdout.split()
    assert f"{addr}:8008" in listening and f"{addr}:2379" in listening, listening
    elsewhere = [a for a in listening if a.endswith((":8008", ":2379")) and not a.startswith(addr + ":")]
    assert elsewhere == [], listening
    assert tb_patroni.leader(hosts) == leader
