"""Replication, switchover, failover, fencing and rejoin on real PostgreSQL 15 clusters (module_utils level).

The clusters come from the test bed (testbed/pg.py): separate data directories and ports on loopback,
with postgresql.conf inside the data directory, so pg_rewind really overwrites the per-node port and
cluster_name there and rejoin must restore them.
"""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import replication as repl
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import PostgresError, connect


def kw(cluster) -> dict:
    return {"host": "127.0.0.1", "port": cluster.port, "user": "postgres", "dbname": "postgres",
            "connect_timeout": 2}


def info(cluster) -> dict:
    conn = connect(kw(cluster))
    try:
        return repl.node_info(conn)
    finally:
        conn.close()


def nodes(*clusters) -> list[dict]:
    return [{"name": c.name, "host": "127.0.0.1", "port": c.port} for c in clusters]


def gather(*clusters) -> dict:
    return repl.gather(nodes(*clusters), lambda n: {"host": n["host"], "port": n["port"], "user": "postgres",
                                                    "dbname": "postgres", "connect_timeout": 2})


def local(cluster) -> repl.LocalCluster:
    return repl.LocalCluster(cluster.datadir, control="pg_ctl", log_file=cluster.logfile)


def primary_spec(cluster) -> dict:
    return {"host": "127.0.0.1", "port": cluster.port, "user": "postgres", "dbname": "postgres"}


def wait_sync(primary, names: set, states: set, timeout: float = 20, also: dict | None = None) -> list[dict]:
    """Until exactly `names` are in one of `states` (and each standby of `also` in its given state)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [s for s in info(primary)["standbys"] if s["state"] == "streaming"]
        current = {r["application_name"]: r["sync_state"] for r in rows}
        if ({r["application_name"] for r in rows if r["sync_state"] in states} == names
                and all(current.get(name) == state for name, state in (also or {}).items())):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"standbys not {states}: {rows}")
        time.sleep(0.1)


def ids(cluster) -> set[int]:
    out = cluster.psql("select id from ledger")
    return {int(x) for x in out.split()} if out else set()


@pytest.fixture
def trio(pg_factory):
    primary = pg_factory("p1")
    primary.psql("create table ledger(id bigint primary key, at timestamptz default now())")
    s1 = primary.make_standby("s1")
    pg_factory.track(s1)
    s2 = primary.make_standby("s2")
    pg_factory.track(s2)
    return primary, s1, s2


def test_info_async_then_first_and_any_quorum(trio):
    primary, s1, s2 = trio
    rows = wait_sync(primary, set(), {"sync", "quorum"})
    assert {r["application_name"] for r in rows} == {"s1", "s2"}
    assert all(r["sync_state"] == "async" for r in rows)
    p = info(primary)
    assert p["role"] == "primary" and p["timeline"] == 1
    assert {s["slot_name"] for s in p["slots"]} == {"s1", "s2"} and all(s["active"] for s in p["slots"])
    sb = info(s1)
    assert sb["role"] == "standby" and sb["wal_receiver"]["status"] == "streaming"
    assert sb["wal_receiver"]["slot_name"] == "s1"

    primary.psql("alter system set synchronous_standby_names = 'FIRST 1 (s1, s2)'; select pg_reload_conf();")
    # each walsender takes the reload on its own: wait for the whole picture, not only s1's part of it
    rows = wait_sync(primary, {"s1"}, {"sync"}, also={"s2": "potential"})
    assert {r["application_name"]: r["sync_state"] for r in rows} == {"s1": "sync", "s2": "potential"}

    primary.psql("alter system set synchronous_standby_names = 'ANY 1 (s1, s2)'; select pg_reload_conf();")
    wait_sync(primary, {"s1", "s2"}, {"quorum"})
    # a synchronous commit is on a standby's disk when it returns
    primary.psql("insert into ledger(id) values (1)")
    lsn = primary.psql("select pg_current_wal_lsn()")
    flushed = [r for r in info(primary)["standbys"]
               if repl.lsn_to_int(r["flush_lsn"]) >= repl.lsn_to_int(lsn)]
    assert flushed, "ANY 1: at least one standby must have flushed the commit"


def test_switchover_under_writer_loses_no_acknowledged_commit(trio, writer_factory):
    primary, s1, s2 = trio
    writer = writer_factory(primary, s1, s2)
    writer.wait_acked(100)

    # planned: stop the primary cleanly; its shutdown checkpoint is the last WAL the standbys must replay
    local(primary).stop("fast")
    checkpoint = local(primary).controldata()["Latest checkpoint location"]
    infos = gather(primary, s1, s2)
    assert infos["p1"]["reachable"] is False
    plan = repl.plan_promotion(infos, ["s1"], min_lsn=checkpoint, max_lag_bytes=16 * 1024 * 1024)
    conn = connect(kw(s1))
    assert repl.wait_replayed(conn, checkpoint, 30)
    res = repl.promote(conn, 30)
    conn.close()
    assert plan["chosen"] == "s1" and res["promote_seconds"] < 30

    writer.wait_acked(100)
    # old primary and the other standby follow the new primary
    r1 = repl.rejoin(local(primary), primary_spec(s1), kw(s1), kw(primary), "p1", "p1")
    r2 = repl.rejoin(local(s2), primary_spec(s1), kw(s1), kw(s2), "s2", "s2")
    assert r1["state"] == r2["state"] == "streaming"
    assert r1["method"] in ("none", "rewind")
    writer.wait_acked(50)
    writer.finish()

    acked = set(writer.acked)
    assert acked <= ids(s1), f"lost acknowledged commits: {sorted(acked - ids(s1))[:10]}"
    # per-node settings survived pg_rewind (the data directory's postgresql.conf came from s1)
    assert primary.psql("show port") == str(primary.port)
    assert primary.psql("show cluster_name") == "p1"
    assert info(primary)["role"] == "standby"
    deadline = time.monotonic() + 20
    while ids(primary) != ids(s1) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ids(primary) == ids(s1)
    # idempotent: a second rejoin sees a streaming standby and does nothing
    again = repl.rejoin(local(primary), primary_spec(s1), kw(s1), kw(primary), "p1", "p1")
    assert again["changed"] is False


def test_failover_sync_sigkill_fence_and_rejoin(pg_factory, writer_factory):
    primary = pg_factory("p1")
    primary.psql("create table ledger(id bigint primary key, at timestamptz default now())")
    # the same synchronous_standby_names on every node, as the role renders it
    s1 = primary.make_standby("s1", settings={"synchronous_standby_names": "'FIRST 1 (p1, s1)'"})
    pg_factory.track(s1)
    primary.psql("alter system set synchronous_standby_names = 'FIRST 1 (p1, s1)'; select pg_reload_conf();")
    wait_sync(primary, {"s1"}, {"sync"})
    writer = writer_factory(primary, s1)
    writer.wait_acked(200)

    primary.kill()  # SIGKILL: the host died under load
    acked_before = set(writer.acked)
    infos = gather(primary, s1)
    plan = repl.plan_promotion(infos, ["s1"], max_lag_bytes=16 * 1024 * 1024)
    conn = connect(kw(s1))
    res = repl.promote(conn, 30)
    conn.close()
    assert plan["chosen"] == "s1"
    # alone, the new primary would make every commit wait for p1: relaxed until p1 streams again
    assert res["synchronous_relaxed"] is True and s1.psql("show synchronous_standby_names") == ""
    writer.wait_acked(50)

    # fence the old primary: it comes back read-only, whatever restarts it
    fenced = repl.fence(local(primary))
    assert fenced["changed"] is True and local(primary).fenced()
    # restarted (its dead postmaster's lock files are cleared by LocalCluster.start): read-only
    local(primary).start()
    with pytest.raises(subprocess.CalledProcessError) as err:
        primary.psql("insert into ledger(id) values (-1)")
    assert "read-only" in err.value.stderr
    assert repl.fence(local(primary))["changed"] is False

    try:
        r = repl.rejoin(local(primary), primary_spec(s1), kw(s1), kw(primary), "p1", "p1", wait_seconds=30)
    except Exception:
        with open(primary.logfile, encoding="utf-8") as fh:
            print(fh.read()[-5000:])
        raise
    assert r["state"] == "streaming" and r["fence_cleared"] is True
    assert r.get("synchronous_restored") is True
    assert s1.psql("show synchronous_standby_names") == "FIRST 1 (p1, s1)"
    assert not os.path.exists(os.path.join(primary.datadir, repl.FENCE_MARKER))
    writer.wait_acked(50)
    writer.finish()
    survived = ids(s1)
    assert acked_before <= survived and set(writer.acked) <= survived
    assert primary.psql("show port") == str(primary.port)


def test_bad_input_and_lag_refused_without_change(trio):
    primary, s1, s2 = trio
    with pytest.raises(PostgresError, match="unknown candidate.*db9.*nothing was changed"):
        repl.check_candidates(nodes(primary, s1, s2), ["s1", "db9"])
    s1.psql("select pg_wal_replay_pause()")
    primary.psql("insert into ledger(id) select g from generate_series(1, 20000) g")
    infos = gather(primary, s1, s2)
    with pytest.raises(repl.LagTooHigh, match=r"s1 lags \d+ bytes.*max_lag_bytes=1000"):
        repl.plan_promotion(infos, ["s1"], target="s1", max_lag_bytes=1000)
    # a still-writable primary is refused even when the lag is fine
    with pytest.raises(PostgresError, match="p1 still accept"):
        repl.plan_promotion(infos, ["s2"], max_lag_bytes=None)
    assert info(s1)["role"] == "standby" and info(primary)["role"] == "primary"
    s1.psql("select pg_wal_replay_resume()")
