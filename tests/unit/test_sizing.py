from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import sizing


@pytest.mark.parametrize("cpus,mem,workers,limited_by", [
    (2, 24 * 1024, 5, "cpu"),      # 2*2+1
    (8, 4096, 9, "memory"),        # (4096-1024)//325 = 9 < 17
    (1, 2048, 3, "cpu"),           # 3 by cpu, 3 by memory (1024//325)
    (16, 64 * 1024, 33, "cpu"),
])
def test_workers_follow_odoo_rules(cpus, mem, workers, limited_by):
    res = sizing.odoo_workers(cpus, mem)
    assert res["workers"] == workers
    assert res["limited_by"] == limited_by
    assert res["limit_memory_soft"] < res["limit_memory_hard"] <= 2560 * sizing.MIB


def test_too_little_memory_is_refused_with_numbers():
    with pytest.raises(sizing.SizingError, match="1200 MiB.*1024 MiB reserved leaves 176 MiB"):
        sizing.odoo_workers(2, 1200)


def test_connection_demand_counts_processes_and_blue_green():
    hosts = [{"name": "app1", "web_replicas": 2, "workers": 3, "cron_threads": 2, "db_maxconn": 4},
             {"name": "app2", "web_replicas": 1, "workers": 3, "cron_threads": 0, "db_maxconn": 4}]
    d = sizing.connection_demand(hosts)
    # app1: web 2*(3+0+1)*4 = 32, cron (0+2+1)*4 = 12; app2: web 16
    assert d["steady"] == 32 + 12 + 16
    assert d["peak"] == d["steady"] + 32 + 16
    assert sizing.connection_demand(hosts, blue_green=False)["peak"] == d["steady"]


def test_over_budget_names_the_numbers():
    hosts = [{"name": "app1", "web_replicas": 2, "workers": 5, "cron_threads": 2, "db_maxconn": 32}]
    with pytest.raises(sizing.SizingError, match=r"open 864 connections .*allows 200 - 10 reserved = 190"):
        sizing.check_budget(sizing.connection_demand(hosts), 200, 10)


def test_within_budget_reports_headroom():
    hosts = [{"name": "app1", "web_replicas": 1, "workers": 2, "cron_threads": 1, "db_maxconn": 8}]
    res = sizing.check_budget(sizing.connection_demand(hosts), 100, 10)
    assert res == {"budget": 90, "peak": 24 + 16 + 24, "steady": 40, "headroom": 90 - 64}


def test_max_web_replicas_respects_budget():
    assert sizing.max_web_replicas(200, workers=4, db_maxconn=4, cron_threads=2) == (200 - 12) // 40
    assert sizing.max_web_replicas(10, workers=4, db_maxconn=4) == 0


def test_postgres_max_connections_adds_headroom_and_reserved():
    assert sizing.postgres_max_connections({"peak": 100}, reserved=10) == 120


def test_min_db_maxconn_follows_odoo_18():
    # a cron thread: LISTEN cron_trigger (held) + job lock + job = 3; an HTTP thread of the same process: 2
    assert sizing.min_db_maxconn(0) == 2
    assert sizing.min_db_maxconn(1) == 5
    assert sizing.min_db_maxconn(2) == 8
    with pytest.raises(sizing.SizingError, match="cron_threads must not be negative"):
        sizing.min_db_maxconn(-1)


def test_check_db_maxconn_refuses_the_setting_that_failed_with_odoo_18():
    # the embedded default ran the cron container with 2 threads and db_maxconn 4: "The Connection Pool Is Full"
    (problem,) = sizing.check_db_maxconn(4, 2, "odoo_cron_db_maxconn", "odoo_cron_threads")
    assert problem.startswith("odoo_cron_db_maxconn is 4 but odoo_cron_threads = 2 needs at least 8")
    assert "set odoo_cron_db_maxconn to 8 or more, or lower odoo_cron_threads" in problem
    assert sizing.check_db_maxconn(7, 2) != [] and sizing.check_db_maxconn(8, 2) == []
    (web,) = sizing.check_db_maxconn(1, 0, "odoo_db_maxconn")
    assert web.startswith("odoo_db_maxconn is 1 but an Odoo process needs at least 2")
    assert sizing.check_db_maxconn(2, 0) == []


def test_cron_pool_counts_in_the_demand():
    host = {"name": "app1", "web_replicas": 2, "workers": 2, "cron_threads": 2, "db_maxconn": 4}
    assert sizing.connection_demand([host])["hosts"][0]["cron"] == 3 * 4
    assert sizing.connection_demand([{**host, "cron_db_maxconn": 8}])["hosts"][0]["cron"] == 3 * 8
    assert sizing.max_web_replicas(200, workers=4, db_maxconn=4, cron_threads=2, cron_db_maxconn=8) == \
        (200 - 24) // 40
