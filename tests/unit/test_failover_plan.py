"""Who is what and what failover.yml may do (module_utils/postgres/failover_plan.py), on the answers of
postgres_replication_info as the db hosts give them."""
from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.failover_plan import PlanRefused, plan


def node(name, role=None, standbys=None):
    info = {} if role is None else {"role": role, "standbys": standbys or []}
    return {"name": name, "host": f"10.0.0.{name[-1]}", "port": 5432, "info": info}


def seen(app, lag, state="streaming"):
    return {"application_name": app, "lag_bytes": lag, "state": state}


CLUSTER = [node("db1", "primary", [seen("db2", 900), seen("db3", 100)]), node("db2", "standby"),
           node("db3", "standby"), node("db4")]


def test_nodes_are_classified_and_listed_with_their_addresses():
    p = plan("rejoin", CLUSTER)
    assert (p["primaries"], p["standbys"], p["down"], p["primary"]) == (["db1"], ["db2", "db3"], ["db4"], "db1")
    assert p["nodes"][0] == {"name": "db1", "host": "10.0.0.1", "port": 5432}


def test_switchover_picks_the_least_lagging_streaming_standby_or_the_target():
    assert (plan("switchover", CLUSTER)["target"], plan("switchover", CLUSTER)["old_primary"]) == ("db3", "db1")
    assert plan("switchover", CLUSTER, candidates=["db2"])["target"] == "db2"
    assert plan("switchover", CLUSTER, target="db2")["target_lag_bytes"] == 900


def test_switchover_refuses_a_lagging_or_not_streaming_target():
    with pytest.raises(PlanRefused, match="lags 900 bytes, more than failover_max_lag_bytes=500"):
        plan("switchover", CLUSTER, target="db2", max_lag_bytes=500)
    catching_up = [node("db1", "primary", [seen("db2", 0, "catchup")]), node("db2", "standby")]
    with pytest.raises(PlanRefused, match="target db2 is not a standby streaming from db1 .streaming: none"):
        plan("switchover", catching_up)


def test_switchover_needs_one_primary():
    with pytest.raises(PlanRefused, match="found none .down: db1.; use mode=failover"):
        plan("switchover", [node("db1"), node("db2", "standby")])


def test_failover_refuses_while_a_primary_answers_unless_forced():
    with pytest.raises(PlanRefused, match=r"db1 still accept\(s\) writes"):
        plan("failover", CLUSTER)
    forced = plan("failover", CLUSTER, candidates=["db3", "db2"], force=True)
    assert (forced["candidates"], forced["promote_on"]) == (["db2", "db3"], "db2")


def test_failover_needs_a_reachable_standby_among_the_candidates():
    dead = [node("db1"), node("db2", "standby"), node("db3")]
    assert plan("failover", dead)["promote_on"] == "db2"
    with pytest.raises(PlanRefused, match="no reachable standby among db3 .down: db1, db3."):
        plan("failover", dead, candidates=["db3"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mode": "promote"}, "mode must be switchover, failover or rejoin .got promote."),
    ({"mode": "switchover", "target": "db9"}, "unknown host.s. db9: not in the db group .db1, db2, db3, db4."),
    ({"mode": "failover", "candidates": ["dbx"]}, "unknown host.s. dbx"),
])
def test_bad_requests_are_refused_before_anything(kwargs, message):
    with pytest.raises(PlanRefused, match=message + ".*nothing was changed"):
        plan(nodes=CLUSTER, **kwargs)


def test_rejoin_needs_one_primary():
    with pytest.raises(PlanRefused, match="rejoin needs one running primary, found db1, db2"):
        plan("rejoin", [node("db1", "primary"), node("db2", "primary")])
