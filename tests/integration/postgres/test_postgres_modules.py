"""The replication modules through Ansible, against real clusters of the test bed (localhost)."""
from __future__ import annotations

import sys

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import replication as repl
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import connect

HERE = "tests/integration/postgres/playbooks"


def role_of(cluster) -> str:
    conn = connect({"host": "127.0.0.1", "port": cluster.port, "user": "postgres", "dbname": "postgres"})
    try:
        return repl.node_info(conn)["role"]
    finally:
        conn.close()


@pytest.fixture
def pair(pg_factory):
    primary = pg_factory("p1")
    standby = primary.make_standby("s1")
    pg_factory.track(standby)
    return primary, standby


def local_vars(primary, standby) -> dict:
    return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "t_nodes": [{"name": "p1", "host": "127.0.0.1", "port": primary.port},
                        {"name": "s1", "host": "127.0.0.1", "port": standby.port}],
            "t_primary_port": primary.port, "t_standby_port": standby.port}


def test_refusals_change_nothing(pair, ansible_playbook):
    primary, standby = pair
    standby.psql("select pg_wal_replay_pause()")
    primary.psql("create table filler as select g from generate_series(1, 20000) g")
    run = ansible_playbook(f"{HERE}/modules_preflight.yml", inventory="localhost,",
                           extra_vars=local_vars(primary, standby))
    assert run.rc == 0, run.stdout + run.stderr
    assert role_of(standby) == "standby" and role_of(primary) == "primary"


def test_promote_then_rejoin_is_idempotent(pair, ansible_playbook):
    primary, standby = pair
    primary.psql("create table t as select 1 as x")
    primary.stop("fast")
    checkpoint = repl.LocalCluster(primary.datadir).controldata()["Latest checkpoint location"]
    run = ansible_playbook(f"{HERE}/modules_promote_rejoin.yml", inventory="localhost,",
                           extra_vars={**local_vars(primary, standby), "t_min_lsn": checkpoint,
                                       "t_old_port": primary.port, "t_old_datadir": primary.datadir,
                                       "t_old_log": primary.logfile, "t_new_port": standby.port})
    assert run.rc == 0, run.stdout + run.stderr
    assert role_of(standby) == "primary" and role_of(primary) == "standby"
    assert primary.psql("select x from t") == "1"
