"""platform_baseline logic on a real PostgreSQL 15 primary with a real streaming standby."""
from __future__ import annotations

import time

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils import upgrade_baseline as ub
from ansible_collections.odooops.hosting.plugins.module_utils import upgrade_gates as g
from ansible_collections.odooops.hosting.plugins.module_utils import upgrade_pg as pgu

CHECKS = [
    {"name": "priced products", "sql": "SELECT count(*) FROM product_template WHERE list_price > 0",
     "unchanged": True},
    {"name": "open POS sessions", "sql": "SELECT count(*) FROM pos_session WHERE state = 'opened'", "expect": 1},
    {"name": "stock quants", "sql": "SELECT count(*) FROM stock_quant", "unchanged": True, "tolerance_pct": 1},
    {"name": "catalogue value", "sql": "SELECT sum(list_price) FROM product_template", "min": 1},
]


def conns(pg, db):
    params = {"login_host": pg.sockdir, "login_port": pg.port, "login_user": "postgres"}
    return pgu.connect(params), pgu.connect(params, dbname=db)


def test_capture_signals_and_business_values(pg, odoo_db):
    standby = pg.make_standby("standby1")
    try:
        admin, db = conns(pg, odoo_db)
        idle = pg.connect(odoo_db)
        idle.cursor().execute("SELECT 1")  # opens a transaction and leaves it idle
        time.sleep(1.2)
        base = ub.capture(admin, db, odoo_db, CHECKS, long_tx_seconds=1)
        pgs = base["postgres"]
        assert pgs["replication"] and pgs["replication"][0]["application_name"] == "standby1"
        assert pgs["replication"][0]["state"] == "streaming"
        assert pgs["db_size_bytes"] > 1_000_000 and pgs["data_dir_free_bytes"] > 0
        assert [t["state"] for t in pgs["long_transactions"]] == ["idle in transaction"]
        assert pgs["connections"]["total"] >= 3 and pgs["locks"]["total"] >= 1
        assert pgs["slow_statements"] is None  # pg_stat_statements not enabled here
        assert base["business"] == {"priced products": 200, "open POS sessions": 1, "stock quants": 200,
                                    "catalogue value": 30150}
        # the gates read the same facts
        gates = g.evaluate({"enabled": ["replication", "long_transactions", "disk_headroom"],
                            "max_transaction_seconds": 1, "disk_reserve_bytes": 0}, {"postgres": pgs})
        assert {r["gate"]: r["ok"] for r in gates} == {"replication": True, "long_transactions": False,
                                                       "disk_headroom": True}
        idle.close()
    finally:
        standby.destroy()


def test_compare_finds_business_regressions(pg, odoo_db):
    admin, db = conns(pg, odoo_db)
    base = ub.capture(admin, db, odoo_db, CHECKS)
    same = ub.compare_business(CHECKS, base["business"], ub.run_business_checks(db, CHECKS))
    assert all(r["ok"] for r in same)
    # an "upgrade" that zeroes prices and closes a POS session; one quant fewer is inside the 1 % tolerance
    pg.psql("UPDATE product_template SET list_price = 0 WHERE id <= 10; UPDATE pos_session SET state = 'closed';"
            "DELETE FROM stock_quant WHERE id = 1", dbname=odoo_db)
    res = {r["name"]: r for r in ub.compare_business(CHECKS, base["business"], ub.run_business_checks(db, CHECKS))}
    priced = res["priced products"]
    assert not priced["ok"] and "was 200 before the upgrade, now 190" in priced["reason"]
    assert not res["open POS sessions"]["ok"] and "expected 1, got 0" in res["open POS sessions"]["reason"]
    assert res["stock quants"]["ok"] and res["catalogue value"]["ok"]


def test_business_checks_are_read_only_and_validated(pg, odoo_db):
    _, db = conns(pg, odoo_db)
    with pytest.raises(ub.BaselineError, match="query failed: .*read-only transaction"):
        ub.run_business_checks(db, [{"name": "evil", "sql": "DELETE FROM res_partner RETURNING 1", "min": 0}])
    assert pg.psql("SELECT count(*) FROM res_partner", dbname=odoo_db) == "52"
    with pytest.raises(ub.BaselineError, match="give expect, unchanged, min or max"):
        ub.validate_checks([{"name": "x", "sql": "SELECT 1"}])
