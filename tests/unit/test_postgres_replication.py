from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import replication as repl
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import (
    PostgresError,
    connect_params,
    int_to_lsn,
    lsn_to_int,
)


def standby(position, replay=None, timeline=1):
    replay = position if replay is None else replay
    return {"reachable": True, "role": "standby", "timeline": timeline, "position": position,
            "replay_lsn": int_to_lsn(replay)}


def primary(position, timeline=1):
    return {"reachable": True, "role": "primary", "timeline": timeline, "position": position, "replay_lsn": None}


DOWN = {"reachable": False, "error": "cannot connect to PostgreSQL at db1:5432"}


@pytest.mark.parametrize("text,value", [
    ("0/0", 0), ("0/3000060", 0x3000060), ("16/B374D848", (0x16 << 32) + 0xB374D848)])
def test_lsn_round_trip(text, value):
    assert lsn_to_int(text) == value
    assert int_to_lsn(value) == text.upper().replace("0X", "")
    assert lsn_to_int(None) is None


def test_bad_lsn_is_a_clear_error():
    with pytest.raises(PostgresError, match="not an LSN"):
        lsn_to_int("garbage")


def test_unknown_candidate_names_the_nodes():
    nodes = [{"name": "db1"}, {"name": "db2"}]
    assert repl.check_candidates(nodes, None) == ["db1", "db2"]
    with pytest.raises(PostgresError, match="unknown candidate.*db9.*db1, db2.*nothing was changed"):
        repl.check_candidates(nodes, ["db2", "db9"])


def test_most_advanced_standby_wins_timeline_first():
    infos = {"db1": DOWN, "db2": standby(1000), "db3": standby(5000), "db4": standby(10, timeline=2)}
    plan = repl.plan_promotion(infos, ["db1", "db2", "db3", "db4"])
    assert plan["chosen"] == "db4"
    plan = repl.plan_promotion(infos, ["db2", "db3"])
    assert plan["chosen"] == "db3" and plan["lag_bytes"] == 0


def test_lag_against_min_lsn_and_threshold():
    infos = {"db1": DOWN, "db2": standby(2000, replay=1500)}
    # received 2000, replayed 1500: the received WAL is the reference even when min_lsn is behind it
    plan = repl.plan_promotion(infos, ["db2"], min_lsn=int_to_lsn(1800), max_lag_bytes=600)
    assert plan["lag_bytes"] == 500
    # an old primary's checkpoint beyond what the standby received counts too
    assert repl.plan_promotion(infos, ["db2"], min_lsn=int_to_lsn(2600), force=True)["lag_bytes"] == 1100
    with pytest.raises(repl.LagTooHigh, match="db2 lags 500 bytes.*max_lag_bytes=100"):
        repl.plan_promotion(infos, ["db2"], max_lag_bytes=100)
    assert repl.plan_promotion(infos, ["db2"], max_lag_bytes=100, force=True)["chosen"] == "db2"


def test_running_primary_blocks_promotion_unless_forced():
    infos = {"db1": primary(3000), "db2": standby(3000)}
    with pytest.raises(PostgresError, match="db1 still accept"):
        repl.plan_promotion(infos, ["db2"])
    assert repl.plan_promotion(infos, ["db2"], force=True)["running_primaries"] == ["db1"]


def test_already_primary_is_no_change():
    infos = {"db1": DOWN, "db2": primary(100, timeline=2)}
    assert repl.plan_promotion(infos, ["db2"])["action"] == "none"
    assert repl.plan_promotion(infos, ["db1", "db2"], target="db2")["action"] == "none"


def test_no_reachable_standby():
    with pytest.raises(PostgresError, match="no reachable standby.*db2: cannot connect"):
        repl.plan_promotion({"db1": DOWN, "db2": DOWN}, ["db2"])


def test_target_must_be_candidate_and_standby():
    infos = {"db1": DOWN, "db2": standby(1), "db3": DOWN}
    with pytest.raises(PostgresError, match="target db3 is not a reachable standby"):
        repl.plan_promotion(infos, ["db2", "db3"], target="db3")
    with pytest.raises(PostgresError, match="target db1 is not among the candidates"):
        repl.plan_promotion(infos, ["db2"], target="db1")


def test_conninfo_quotes_and_refuses_passwords():
    assert repl.conninfo({"host": "db1", "port": 5432, "application_name": "it's"}) == \
        "host='db1' port='5432' application_name='it\\'s'"
    with pytest.raises(PostgresError, match="passfile"):
        repl.conninfo({"host": "db1", "password": "x"})


def test_connect_params_keep_password_out_of_strings():
    kw = connect_params({"login_user": "replicator", "login_password": "s3cret", "login_host": "db1",
                         "login_port": 5433, "ssl_mode": "require"}, host="db2", port=5432)
    assert kw["host"] == "db2" and kw["port"] == 5432 and kw["password"] == "s3cret"
    assert kw["sslmode"] == "require"


def test_a_candidate_already_primary_is_no_change():
    infos = {"db1": DOWN, "db2": primary(100, timeline=2), "db3": standby(90, timeline=2)}
    plan = repl.plan_promotion(infos, ["db1", "db2", "db3"])
    assert plan["action"] == "none" and plan["chosen"] == "db2"


# pg_rewind --dry-run and pg_waldump as PostgreSQL 15 print them (abridged: no record lengths, no prev, no flags):
# the old primary committed ids 41, 42 (xid 801, 802) after the divergence point; 800 wrote its row before it but
# committed after; 803 is ANALYZE's catalog update; 799 committed before the divergence
REWIND_OUT = """pg_rewind: servers diverged at WAL location 0/5000138 on timeline 1
pg_rewind: rewinding from last common checkpoint at 0/5000060 on timeline 1
pg_rewind: Done!
"""
WALDUMP_OUT = """\
rmgr: Heap tx: 799, lsn: 0/05000028, desc: INSERT off 39, blkref #0: rel 1663/16389/16390 blk 0
rmgr: Btree tx: 799, lsn: 0/05000068, desc: INSERT_LEAF off 39, blkref #0: rel 1663/16389/16393 blk 1
rmgr: Transaction tx: 799, lsn: 0/050000A8, desc: COMMIT 2026-12-06 21:10:02.900000 UTC
rmgr: Heap tx: 800, lsn: 0/05000100, desc: INSERT off 40, blkref #0: rel 1663/16389/16390 blk 0
rmgr: Transaction tx: 800, lsn: 0/05000140, desc: COMMIT 2026-12-06 21:10:03.000000 UTC
rmgr: Heap tx: 801, lsn: 0/05000180, desc: INSERT off 41, blkref #0: rel 1663/16389/16390 blk 0
rmgr: Transaction tx: 801, lsn: 0/050001C0, desc: COMMIT 2026-12-06 21:10:03.100000 UTC
rmgr: Heap tx: 803, lsn: 0/05000200, desc: HOT_UPDATE off 3 ; new off 9, blkref #0: rel 1663/16389/2619 blk 2
rmgr: Transaction tx: 803, lsn: 0/05000240, desc: COMMIT 2026-12-06 21:10:03.150000 UTC
rmgr: Heap tx: 802, lsn: 0/05000280, desc: INSERT off 42, blkref #0: rel 1663/16389/16390 blk 0
rmgr: Transaction tx: 802, lsn: 0/050002C0, desc: COMMIT 2026-12-06 21:10:03.200000 UTC; inval msgs: catcache 7
rmgr: Standby tx: 0, lsn: 0/05000300, desc: RUNNING_XACTS nextXid 804
"""


def test_divergence_point_from_pg_rewind():
    assert repl.parse_divergence(REWIND_OUT) == ("0/5000138", 1)
    assert repl.parse_divergence("pg_rewind: no rewind required") is None


def test_lost_window_counts_commits_after_the_divergence():
    lost = repl.count_lost(WALDUMP_OUT, "0/5000138")
    # 800 (row before, commit after), 801, 802 wrote application rows; 803 only the catalog (ANALYZE); 799 is safe
    assert lost == {"diverged_at": "0/5000138", "commits": 4, "user_commits": 3,
                    "first_commit_at": "2026-12-06 21:10:03.000000 UTC",
                    "last_commit_at": "2026-12-06 21:10:03.200000 UTC"}
    assert repl.count_lost(WALDUMP_OUT, "0/5000300")["commits"] == 0


def test_lost_window_runs_a_dry_rewind_then_reads_the_wal_from_the_segment_start(tmp_path):
    calls = []

    def runner(cmd, env=None, timeout=None):
        calls.append(cmd)
        if "--dry-run" in cmd:
            return 0, "", REWIND_OUT
        return 1, WALDUMP_OUT, "pg_waldump: error: error in WAL record at 0/5000300: invalid record length"

    cluster = repl.LocalCluster(str(tmp_path), bin_dir="/pg/bin", runner=runner)
    lost = repl.lost_window(cluster, "host=db2 user=replicator", {})
    assert lost["user_commits"] == 3 and lost["timeline"] == 1
    waldump = [c for c in calls if any(a.endswith("pg_waldump") for a in c)][0]
    assert waldump[waldump.index("--start") + 1] == "0/5000000"
    assert waldump[waldump.index("--timeline") + 1] == "1"
    assert all("--dry-run" in c for c in calls if any(a.endswith("pg_rewind") for a in c))
