#!/usr/bin/env python3
"""PostgreSQL switchover / failover benchmark (not a test): medians of N runs, printed with ratios.

Part 1 (always; real PostgreSQL 15 clusters of the test bed on loopback, one primary + one synchronous standby,
a writer committing continuously through a libpq multi-host DSN with target_session_attrs=read-write):
  - switchover write downtime: longest gap between two acknowledged commits while the primary is stopped
    cleanly, the standby replays its shutdown checkpoint and is promoted (what failover.yml mode=switchover does),
    against the issue's goal of 2 s;
  - emergency failover, time to first write: SIGKILL of the primary, then choose + promote (postgres_promote's
    logic) until the writer's next acknowledged commit; baseline = the promotion alone (pg_promote to writable).

Part 2 (with BENCH_SIM_PREFIX=<prefix of simulated hosts converged by the postgres role, e.g. odooops-pg->
and BENCH_DB_PASSWORD=<odoo's password>): a *silently* dead primary (its packets dropped by iptables inside the
db host, as a frozen VM), the standby promoted at once; time from the drop to the first acknowledged write of a
client that was mid-transaction, with the service file's bounds (connect_timeout=2, tcp_user_timeout=3000,
keepalives) vs without them (baseline, capped at BENCH_CAP seconds).

Part 3 (with BENCH_PATRONI=1; postgres_ha=patroni): three simulated db hosts of its own (prefix
BENCH_PATRONI_PREFIX, default odooops-bench-pa-) converged once by the postgres role in Patroni mode (Patroni +
3-member etcd from Debian, synchronous_mode); then, alternating, Patroni's defaults (ttl 30, loop_wait 10,
retry_timeout 10 - the baseline) and the role's tuned floor (20/1/3), set through Patroni's REST API
(PATCH /config, as the role does on a rerun): SIGKILL of Patroni and the postmaster on the leader, time to the
writer's first acknowledged commit through the multi-host DSN (the automatic RTO), the killed node restarted
and back as a replica before the next run. Prints both medians and the ratio. The hosts are removed at the end.

    .venv/bin/python bench/failover.py            # N=5 (BENCH_RUNS to change)
    BENCH_PATRONI=1 BENCH_SKIP_LOCAL=1 .venv/bin/python bench/failover.py     # part 3 only
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".collections"))

import psycopg2  # noqa: E402

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import replication as repl  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import connect  # noqa: E402
from testbed.pg import PgCluster  # noqa: E402
from testbed.procs import wait_for  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
CAP = float(os.environ.get("BENCH_CAP", "60"))
BOUNDS = "connect_timeout=2 tcp_user_timeout=3000 keepalives=1 keepalives_idle=1 keepalives_interval=1 " \
         "keepalives_count=3"


class Writer(threading.Thread):
    def __init__(self, dsn: str):
        super().__init__(daemon=True)
        self.dsn, self.stop, self.acks, self.n = dsn, threading.Event(), [], 0

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg2.connect(self.dsn)
                    conn.autocommit = True
                self.n += 1
                with conn.cursor() as cur:
                    cur.execute("insert into ledger(id) values (%s)", (self.n,))
                self.acks.append((time.monotonic(), self.n))
            except psycopg2.Error:
                conn = None
                time.sleep(0.01)
            time.sleep(0.002)

    def wait(self, count: int, timeout: float = 60) -> None:
        start, deadline = len(self.acks), time.monotonic() + timeout
        while len(self.acks) < start + count and time.monotonic() < deadline:
            time.sleep(0.01)

    def first_after(self, t: float) -> float | None:
        """First acknowledged commit that ends the outage which began at t (acks in flight at t excluded)."""
        times = [a for a, _unused in self.acks]
        gaps = [(b - a, b) for a, b in zip(times, times[1:], strict=False) if b > t]
        return max(gaps)[1] if gaps else None


def kw(c: PgCluster) -> dict:
    return {"host": "127.0.0.1", "port": c.port, "user": "postgres", "dbname": "postgres", "connect_timeout": 2}


def pair() -> tuple[PgCluster, PgCluster]:
    p = PgCluster("bp").init().start()
    p.psql("create table ledger(id bigint primary key)")
    s = p.make_standby("bs")
    p.psql("alter system set synchronous_standby_names = 'FIRST 1 (bs)'; select pg_reload_conf();")
    deadline = time.monotonic() + 20
    while p.psql("select count(*) from pg_stat_replication where sync_state = 'sync'") != "1":
        if time.monotonic() > deadline:
            raise RuntimeError("standby not synchronous")
        time.sleep(0.1)
    return p, s


def dsn(p: PgCluster, s: PgCluster) -> str:
    return (f"host=127.0.0.1,127.0.0.1 port={p.port},{s.port} dbname=postgres user=postgres "
            f"target_session_attrs=read-write {BOUNDS}")


def switchover_once() -> float:
    p, s = pair()
    w = Writer(dsn(p, s))
    try:
        w.start()
        w.wait(200)
        local = repl.LocalCluster(p.datadir, control="pg_ctl", log_file=p.logfile)
        local.stop("fast")
        lsn = local.controldata()["Latest checkpoint location"]
        conn = connect(kw(s))
        repl.wait_replayed(conn, lsn, 30)
        repl.promote(conn, 30)
        conn.close()
        w.wait(100)
        times = [a for a, _unused in w.acks]
        return max(b - a for a, b in zip(times, times[1:], strict=False))
    finally:
        w.stop.set()
        w.join(10)
        p.destroy()
        s.destroy()


def failover_once() -> tuple[float, float]:
    p, s = pair()
    w = Writer(dsn(p, s))
    try:
        w.start()
        w.wait(200)
        t0 = time.monotonic()
        p.kill()
        infos = repl.gather([{"name": "bp", "port": p.port}, {"name": "bs", "port": s.port}],
                            lambda n: {**kw(s), "port": n["port"]})
        repl.plan_promotion(infos, ["bs"], max_lag_bytes=16 * 1024 * 1024)
        conn = connect(kw(s))
        promote = repl.promote(conn, 30)["promote_seconds"]
        conn.close()
        w.wait(20)
        first = w.first_after(t0)
        return (first - t0) if first else float("inf"), promote
    finally:
        w.stop.set()
        w.join(10)
        p.destroy()
        s.destroy()


# -- part 2: silently dead primary on the simulated hosts ----------------------------------------------
def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def ip(name: str) -> str:
    nets = json.loads(docker("inspect", name))[0]["NetworkSettings"]["Networks"]
    return next(iter(nets.values()))["IPAddress"]


def dbpsql(name: str, sql: str) -> str:
    return docker("exec", name, "runuser", "-u", "postgres", "--", "psql", "-XAtqc", sql)


def silent_once(prefix: str, password: str, bounded: bool) -> float:
    """Primary's packets dropped; standby promoted at once; seconds to the client's next acknowledged write."""
    db = {h: prefix + h for h in ("db1", "db2")}
    primary = "db1" if dbpsql(db["db1"], "select pg_is_in_recovery()") == "f" else "db2"
    standby = "db2" if primary == "db1" else "db1"
    hosts = f"{ip(db[primary])},{ip(db[standby])}"
    client = (f"host={hosts} port=5432,5432 dbname=odoo user=odoo password={password} sslmode=require "
              f"target_session_attrs=read-write" + (f" {BOUNDS}" if bounded else ""))
    conn = psycopg2.connect(client)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create table if not exists bench_silent(id serial primary key, at timestamptz default now())")
    rule = ["INPUT", "-p", "tcp", "--dport", "5432", "-j", "DROP"]
    docker("exec", db[primary], "iptables", "-I", *rule)
    t0 = time.monotonic()
    done = threading.Event()
    result = {"t": None}

    def client_loop():
        c = conn
        while not done.is_set() and time.monotonic() - t0 < CAP:
            try:
                if c is None:
                    c = psycopg2.connect(client)
                    c.autocommit = True
                with c.cursor() as cur:
                    cur.execute("insert into bench_silent default values")
                result["t"] = time.monotonic() - t0
                return
            except psycopg2.Error:
                c = None
                time.sleep(0.05)

    th = threading.Thread(target=client_loop, daemon=True)
    th.start()
    try:
        dbpsql(db[standby], "select pg_promote(true, 60)")
        th.join(CAP + 5)
        done.set()
    finally:
        docker("exec", db[primary], "iptables", "-D", *rule, check=False)
    # put things back: the silenced old primary is still writable (what fencing is for): stop it hard, then
    # failover.yml's rejoin rewinds it into a standby of the new one (the password reaches ansible-playbook through
    # a 0600 file, never its arguments)
    import tempfile

    docker("exec", db[primary], "pg_ctlcluster", "15", "main", "stop", "-m", "immediate", check=False)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as sec:  # created 0600
        json.dump({"odooops_local_prefix": prefix, "mode": "rejoin",
                   "odooops_replication_password": os.environ["BENCH_REPLICATION_PASSWORD"]}, sec)
        sec.flush()
        rejoin = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "inventories/local",
                                 "-l", "db", "-e", "@" + sec.name, *vault_args(), "playbooks/failover.yml"],
                                cwd=ROOT, capture_output=True, text=True, check=False)
    if rejoin.returncode != 0 or dbpsql(db[primary], "select pg_is_in_recovery()") != "t":
        raise SystemExit(f"could not rejoin {primary} after the run:\n{rejoin.stdout[-3000:]}")
    return result["t"] if result["t"] is not None else CAP


# -- part 3: Patroni's automatic failover on simulated hosts -----------------------------------------------
PATRONI_DEFAULTS = {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}
PATRONI_TUNED = {"ttl": 20, "loop_wait": 1, "retry_timeout": 3}  # roles/postgres/defaults/main.yml


def patroni_cluster(prefix: str):
    """db1..db3 with this prefix, converged by the role in Patroni mode. Returns (hosts, passwords)."""
    import uuid

    from testbed import hosts as tb_hosts
    from testbed import patroni as tb_patroni

    network = prefix + "lan"
    names = tb_hosts.up([tb_hosts.SimHost(n, ["db"]) for n in ("db1", "db2")], prefix=prefix, network=network)
    hosts = {"db1": names[0], "db2": names[1], "db3": tb_patroni.db3_up(prefix, network)}
    for c in hosts.values():  # a fresh cluster (and fresh secrets) every time
        tb_patroni.reset(c)
    secrets = {"odooops_db_password": "odoo-" + uuid.uuid4().hex,
               "odooops_replication_password": "repl-" + uuid.uuid4().hex,
               "odooops_patroni_api_password": "api-" + uuid.uuid4().hex,
               "odooops_etcd_root_password": "etcdroot-" + uuid.uuid4().hex,
               "odooops_etcd_patroni_password": "etcdpatroni-" + uuid.uuid4().hex}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        inv, sec = os.path.join(tmp, "db3.yml"), os.path.join(tmp, "secrets.json")
        with open(inv, "w") as fh:
            fh.write('all:\n  children:\n    db:\n      hosts:\n        db3:\n'
                     '          ansible_host: "{{ odooops_local_prefix }}db3"\n')
        fd = os.open(sec, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(secrets, fh)
        subnet = json.loads(docker("network", "inspect", network))[0]["IPAM"]["Config"][0]["Subnet"]
        extra = {"odooops_local_prefix": prefix, "postgres_ha": "patroni", "postgres_memory_mb": 512,
                 "postgres_cpus": 2, "postgres_app_cidrs": [subnet],
                 "postgres_synchronous": {"method": "FIRST", "num": 1}}
        run = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "inventories/local",
                              "-i", inv, "-l", "db", "-e", json.dumps(extra), "-e", "@" + sec,
                              *vault_args(),
                              "tests/integration/postgres/playbooks/role_postgres.yml"],
                             cwd=ROOT, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError("converging the Patroni cluster failed:\n" + run.stdout[-4000:] + run.stderr[-2000:])
    return hosts, secrets


def patroni_healthy(hosts: dict) -> bool:
    from testbed import patroni as tb_patroni

    try:
        ms = tb_patroni.cluster(next(iter(hosts.values())))["members"]
    except OSError:
        return False
    # synchronous_mode: Patroni promotes only the synchronous standby, so one must be assigned before a kill
    return (len(ms) == 3 and sum(m["role"] == "leader" and m["state"] == "running" for m in ms) == 1
            and any(m["role"] == "sync_standby" for m in ms)
            and all(isinstance(m.get("lag"), int) and m["state"] == "running" for m in ms if m["role"] != "leader"))


def patroni_kill_once(hosts: dict, secrets: dict, settings: dict) -> float:
    """Set the timings, kill the leader under a writer, seconds from the kill to the first acknowledged write."""
    from testbed import patroni as tb_patroni

    leader = tb_patroni.leader(hosts)
    tb_patroni.patch_config(hosts[leader], settings, "patroni", secrets["odooops_patroni_api_password"])
    # every member applies the new timings within a cycle of the old loop_wait; the leader renews its lock
    time.sleep(max(PATRONI_DEFAULTS["loop_wait"], settings["loop_wait"]) + 2)
    ips = ",".join(tb_patroni.ip(hosts[n]) for n in ("db1", "db2", "db3"))
    dsn_ = (f"host={ips} port=5432,5432,5432 dbname=odoo user=odoo password={secrets['odooops_db_password']} "
            f"sslmode=require target_session_attrs=read-write {BOUNDS}")
    conn = psycopg2.connect(dsn_)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create table if not exists ledger(id bigint primary key)")
        cur.execute("truncate ledger")
    conn.close()
    w = Writer(dsn_)
    try:
        w.start()
        w.wait(100)
        t0 = time.monotonic()
        tb_patroni.kill_leader(hosts[leader])
        # the outage ends with the first commit acknowledged by the new leader: wait for it and a few more
        wait_for(lambda: tb_patroni.leader({k: v for k, v in hosts.items() if k != leader}) not in (None, leader),
                 120, interval=0.2, what="a new leader")
        w.wait(20, timeout=60)
        first = w.first_after(t0)
    finally:
        w.stop.set()
        w.join(10)
    tb_patroni.start_patroni(hosts[leader])
    wait_for(lambda: patroni_healthy(hosts), 180, interval=0.5, what="the killed node back as a replica")
    return (first - t0) if first else float("inf")


def part3() -> None:
    from testbed import hosts as tb_hosts

    prefix = os.environ.get("BENCH_PATRONI_PREFIX", "odooops-bench-pa-")
    try:
        hosts, secrets = patroni_cluster(prefix)
        defaults, tuned = [], []
        for _unused in range(RUNS):  # alternating, so both see the same machine load
            defaults.append(patroni_kill_once(hosts, secrets, PATRONI_DEFAULTS))
            tuned.append(patroni_kill_once(hosts, secrets, PATRONI_TUNED))
            print(f"  run {len(tuned)}: defaults {defaults[-1]:.1f} s, tuned {tuned[-1]:.1f} s", flush=True)
        print(f"patroni automatic RTO (kill -> first acknowledged write): Patroni defaults 30/10/10 (baseline) "
              f"median {med(defaults):.1f} s (min {min(defaults):.1f}, max {max(defaults):.1f}); tuned "
              f"20/1/3 median {med(tuned):.1f} s (min {min(tuned):.1f}, max {max(tuned):.1f}); "
              f"ratio {med(defaults) / med(tuned):.2f}x")
    except Exception:
        for c in tb_hosts.status(prefix):  # what Patroni said, before the hosts go
            print(c["Names"], docker("exec", c["Names"], "bash", "-c", "grep -v 'no action' "
                                     "/var/log/postgresql/patroni.log | tail -15", check=False))
        raise
    finally:
        tb_hosts.down(prefix=prefix, network=prefix + "lan")


def vault_args() -> list[str]:
    """After `make demo` inventories/local holds an encrypted vault.yml."""
    vault = os.path.join(ROOT, ".odooops", "vault-pass")
    return ["--vault-password-file", vault] if os.path.exists(vault) else []


def med(values: list[float]) -> float:
    return statistics.median(values)


def part1() -> None:
    sw = [switchover_once() for _unused in range(RUNS)]
    print(f"switchover write downtime: median {med(sw):.2f} s (min {min(sw):.2f}, max {max(sw):.2f}); "
          f"goal 2 s -> ratio goal/measured {2 / med(sw):.1f}x")
    fo = [failover_once() for _unused in range(RUNS)]
    first = [f for f, _promote in fo]
    promote = [p for _first, p in fo]
    print(f"failover (SIGKILL) -> first acknowledged write: median {med(first):.2f} s; promotion alone "
          f"(baseline) median {med(promote):.2f} s; ratio {med(first) / med(promote):.1f}x; goal 10 s -> "
          f"{10 / med(first):.1f}x under it")


def main() -> None:
    print(f"bench/failover: {RUNS} runs each (BENCH_RUNS), medians")
    if os.environ.get("BENCH_SKIP_LOCAL"):
        print("part 1 (local clusters): skipped (BENCH_SKIP_LOCAL)")
    else:
        part1()
    prefix = os.environ.get("BENCH_SIM_PREFIX")
    if prefix and os.environ.get("BENCH_DB_PASSWORD") and os.environ.get("BENCH_REPLICATION_PASSWORD"):
        password = os.environ["BENCH_DB_PASSWORD"]
        runs = int(os.environ.get("BENCH_SIM_RUNS", "1"))
        bounded = [silent_once(prefix, password, True) for _unused in range(runs)]
        unbounded = [silent_once(prefix, password, False) for _unused in range(runs)]
        mark = ">=" if med(unbounded) >= CAP else ""
        print(f"silently dead primary -> next write: with service-file bounds median {med(bounded):.2f} s; "
              f"without (baseline) {mark}{med(unbounded):.2f} s; ratio {mark}{med(unbounded) / med(bounded):.1f}x")
    else:
        print("silently dead primary: skipped (set BENCH_SIM_PREFIX, BENCH_DB_PASSWORD, BENCH_REPLICATION_PASSWORD "
              "for simulated hosts converged by the postgres role)")
    if os.environ.get("BENCH_PATRONI"):
        part3()
    else:
        print("patroni automatic RTO: skipped (set BENCH_PATRONI=1)")


if __name__ == "__main__":
    main()
