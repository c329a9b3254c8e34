"""platform_baseline logic on a real PostgreSQL 15 primary with a real streaming standby."""
from __future__ import annotations

import os
import time

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import baseline as ub
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import gates as g
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu
from tests.integration.harness.env import TEST_PREFIX

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
    _unused, db = conns(pg, odoo_db)
    with pytest.raises(ub.BaselineError, match="query failed: .*read-only transaction"):
        ub.run_business_checks(db, [{"name": "evil", "sql": "DELETE FROM res_partner RETURNING 1", "min": 0}])
    assert pg.psql("SELECT count(*) FROM res_partner", dbname=odoo_db) == "52"
    with pytest.raises(ub.BaselineError, match="give expect, unchanged, min or max"):
        ub.validate_checks([{"name": "x", "sql": "SELECT 1"}])


# -- least privilege: one statement per check, a pg_read_all_data role, a statement timeout --------------------
def _role(pg, role=ub.DEFAULT_CHECK_ROLE) -> str:
    return pg.psql(f"SELECT rolsuper::text || ',' || rolcanlogin::text || ',' || (rolpassword IS NULL)::text || ','"
                   f" || array(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid "
                   f"WHERE m.member = a.oid)::text FROM pg_authid a WHERE rolname = '{role}'")


def test_multi_statement_check_refused_before_anything_runs(pg, odoo_db):
    admin = pgu.connect({"login_host": "127.0.0.1", "login_port": pg.port, "login_user": "postgres"})
    checks = [{"name": "first", "sql": "SELECT count(*) FROM res_partner", "min": 0},
              {"name": "escape", "sql": "SELECT 1; COMMIT; CREATE TABLE leastpriv_x()", "min": 0}]
    for conn in (admin, None):  # with or without a connection: refused before it is used
        with pytest.raises(ub.BaselineError, match="business check 'escape' refused: ';' outside a string literal"):
            ub.run_business_checks(conn, checks)
    assert pg.psql("SELECT to_regclass('public.leastpriv_x') IS NULL", dbname=odoo_db) == "t"


def test_checks_run_as_a_read_only_role_without_server_programs(pg, odoo_db):
    params = {"login_host": "127.0.0.1", "login_port": pg.port, "login_user": "postgres"}
    admin = pgu.connect(params)
    marker = f"/tmp/{TEST_PREFIX}copy-{os.urandom(4).hex()}"
    try:
        with ub.checks_connection(admin, params, odoo_db) as db:
            assert pgu.scalar(db, "SELECT current_user") == ub.DEFAULT_CHECK_ROLE
            assert ub.run_business_checks(db, CHECKS)["priced products"] == 200  # reads every table
            assert _role(pg) == "false,true,false,{pg_read_all_data}"
            with pytest.raises(ub.BaselineError, match="check 'copy'.*pg_execute_server_program"):
                ub.run_business_checks(db, [{"name": "copy", "sql": f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
                                             "min": 0}])
            with pytest.raises(ub.BaselineError, match="check 'write'.*read-only transaction"):
                ub.run_business_checks(db, [{"name": "write", "sql": "UPDATE res_partner SET name = 'x'",
                                             "min": 0}])
            # outside the READ ONLY transaction too (the role's own privileges), the write is denied
            db.autocommit = True
            with pytest.raises(pgu.psycopg2.Error, match="permission denied"):
                pgu.query(db, "SET default_transaction_read_only = off")
                pgu.query(db, "UPDATE res_partner SET name = 'x'")
        assert not os.path.exists(marker)
        assert _role(pg) == "false,false,true,{pg_read_all_data}"  # the login is gone after the checks
        # a role of that name that is not the checks role's (or was given more) is refused, and left alone
        pg.psql(f"GRANT pg_execute_server_program TO {ub.DEFAULT_CHECK_ROLE}")
        with pytest.raises(ub.BaselineError, match="must be a member of pg_read_all_data only"), \
                ub.checks_connection(admin, params, odoo_db):
            pass
        pg.psql("CREATE ROLE app_login LOGIN PASSWORD 'keep-me'")
        with pytest.raises(ub.BaselineError, match="'app_login' exists and was not made for the business checks"), \
                ub.checks_connection(admin, params, odoo_db, role="app_login"):
            pass
        assert pg.psql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app_login'") == "t"
    finally:
        if os.path.exists(marker):
            os.unlink(marker)
        admin.close()


def test_long_check_is_cut_by_the_statement_timeout(pg, odoo_db):
    params = {"login_host": "127.0.0.1", "login_port": pg.port, "login_user": "postgres"}
    admin = pgu.connect(params)
    with ub.checks_connection(admin, params, odoo_db) as db:
        t0 = time.monotonic()
        with pytest.raises(ub.BaselineError, match="check 'slow'.*statement timeout"):
            ub.run_business_checks(db, [{"name": "slow", "sql": "SELECT pg_sleep(20)", "min": 0}],
                                   statement_timeout=1)
        assert time.monotonic() - t0 < 10
        # the next check of the same connection runs normally
        assert ub.run_business_checks(db, [{"name": "fast", "sql": "SELECT 1", "expect": 1}]) == {"fast": 1}
    admin.close()
