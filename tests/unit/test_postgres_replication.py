from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils import postgres_replication as repl
from ansible_collections.odooops.hosting.plugins.module_utils.postgres_common import (
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
