"""plugins/module_utils/postgres/patroni.py: choosing a switchover candidate and the waiting logic, on cluster views
shaped like Patroni's GET /cluster (the REST calls themselves run against real Patroni in
tests/integration/postgres/test_postgres_patroni.py)."""
from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import patroni as pt


def member(name, role="replica", state="streaming", lag=0, **extra):
    m = {"name": name, "role": role, "state": state, "timeline": 2, **extra}
    if role != "leader":
        m["lag"] = lag
    return m


def view(*members):
    return {"members": list(members)}


LEADER = member("db1", role="leader", state="running")


@pytest.mark.parametrize("name,key", [("db1", "db1"), ("DB-2.lan", "db_2_lan")])
def test_node_key(name, key):
    assert pt.node_key(name) == key


def test_candidate_is_the_least_lagging_running_replica():
    v = view(LEADER, member("db2", lag=800), member("db3", lag=10), member("db4", state="starting", lag=0))
    assert pt.choose_candidate(v) == "db3"
    assert pt.choose_candidate(v, allowed=["db2"]) == "db2"
    assert pt.choose_candidate(v, wanted="db2") == "db2"


@pytest.mark.parametrize("kwargs,message", [
    ({"wanted": "db9"}, "db9 is not a replica of db1"),
    ({"max_lag": 100}, "db2 lags 800 bytes, more than failover_max_lag_bytes=100"),
    ({"wanted": "db3"}, "no running replica to switch over to among db3"),
])
def test_bad_candidates_are_refused_clearly(kwargs, message):
    v = view(LEADER, member("db2", lag=800), member("db3", state="stopped", lag="unknown"))
    with pytest.raises(pt.PatroniError, match=message):
        pt.choose_candidate(v, **kwargs)


def test_no_leader_no_switchover():
    with pytest.raises(pt.PatroniError, match="use mode=failover"):
        pt.choose_candidate(view(member("db2"), member("db3")))


def test_synchronous_mode_hands_over_to_the_synchronous_standby_only():
    v = view(LEADER, member("db2", lag=0), member("db3", role="sync_standby", lag=40))
    assert pt.choose_candidate(v) == "db3"
    with pytest.raises(pt.PatroniError, match="db2 is not a synchronous standby; .* only db3 can take over"):
        pt.choose_candidate(v, wanted="db2")


def test_nofailover_members_are_never_chosen():
    v = view(LEADER, member("db2", tags={"nofailover": True}), member("db3", lag=5))
    assert pt.choose_candidate(v) == "db3"


class Scripted:
    """Stand-in for one member's API answering from a script of (path -> successive answers)."""

    def __init__(self, answers: dict):
        self.answers = {k: list(v) for k, v in answers.items()}
        self.url = "http://stand-in"
        self.posted = []

    def request(self, path, method="GET", body=None):
        if method != "GET":
            self.posted.append((path, body))
            return 200, "ok"
        seq = self.answers.get(path, [(0, None)])
        return seq.pop(0) if len(seq) > 1 else seq[0]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_leader_skips_a_dead_leader_until_another_is_writable():
    dead_view = view(LEADER, member("db2"), member("db3"))
    new_view = view(member("db1", state="stopped", lag="unknown"), member("db2", role="leader", state="running"),
                    member("db3"))
    apis = {"db1": Scripted({}),  # killed: answers nothing
            "db2": Scripted({"/cluster": [(200, dead_view), (200, dead_view), (200, new_view)],
                             "/primary": [(503, None), (200, {})]}),
            "db3": Scripted({})}
    clock = FakeClock()
    assert pt.Cluster(apis).wait_leader(60, not_name="db1", clock=clock, sleep=clock.sleep) == "db2"
    assert clock.now > 0


def test_wait_leader_times_out_with_what_it_saw():
    apis = {"db1": Scripted({"/cluster": [(200, view(LEADER))], "/primary": [(0, None)]})}
    clock = FakeClock()
    with pytest.raises(pt.PatroniError, match="no writable leader after 5 s .last seen: leader db1"):
        pt.Cluster(apis).wait_leader(5, clock=clock, sleep=clock.sleep)


def test_failover_refuses_a_named_candidate_while_the_leader_writes():
    apis = {"db1": Scripted({"/cluster": [(200, view(LEADER, member("db2")))], "/primary": [(200, {})]}),
            "db2": Scripted({})}
    with pytest.raises(pt.PatroniError, match="db1 is Patroni's leader and accepts writes"):
        pt.run(pt.Cluster(apis), "failover", candidate="db2")
    assert apis["db2"].posted == [] and apis["db1"].posted == []


def test_check_mode_asks_patroni_for_nothing():
    v = view(LEADER, member("db2"), member("db3", lag=3))
    apis = {"db1": Scripted({"/cluster": [(200, v)], "/primary": [(200, {})]}), "db2": Scripted({}),
            "db3": Scripted({})}
    result = pt.run(pt.Cluster(apis), "switchover", check_mode=True)
    assert result["leader"] == "db2" and not result["changed"]
    assert all(not a.posted for a in apis.values())
