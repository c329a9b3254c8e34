"""Neutralisation and anonymisation of a staging copy, on a real PostgreSQL 15 database."""
from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import anonymise as an
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu
from tests.integration.harness.checksums import table_checksums

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def conn(pg, odoo_db):
    c = pgu.connect({"login_host": pg.sockdir, "login_port": pg.port}, dbname=odoo_db)
    yield c
    c.close()


def originals(pg, db):
    partners = pg.psql("SELECT name, email, phone, mobile, street FROM res_partner", dbname=db).splitlines()
    values = {v for line in partners for v in line.split("|") if v}
    values |= set(pg.psql("SELECT login FROM res_users", dbname=db).splitlines())
    return values


def test_check_mode_changes_nothing(pg, odoo_db, conn):
    before = table_checksums(pg, odoo_db)
    res = an.run(conn, True, True, KEY, ["odooops-check"], check_mode=True)
    assert res["changed"] and res["anonymised"]["res_partner"] == 52 and res["neutralised"]["ir_cron"] == 2
    assert table_checksums(pg, odoo_db) == before


def test_no_personal_data_left_and_deterministic(pg, odoo_db, conn):
    personal = originals(pg, odoo_db) - {"admin", "__system__", "odooops-check"}
    dump = pg.psql("SELECT t::text FROM res_partner t UNION ALL SELECT t::text FROM res_users t", dbname=odoo_db)
    assert "customer7@retail.example.com" in dump  # the data is there before

    res = an.run(conn, True, True, KEY, ["odooops-check"], check_mode=False)
    assert res["changed"]
    dump = pg.psql("SELECT t::text FROM res_partner t UNION ALL SELECT t::text FROM res_users t", dbname=odoo_db)
    left = [v for v in personal if v in dump]
    assert left == []
    assert "retail.example.com" not in dump and "+33" not in dump and "Rue de la Paix" not in dump
    # technical logins kept; customers' logins replaced; NULLs stay NULL
    logins = set(pg.psql("SELECT login FROM res_users", dbname=odoo_db).splitlines())
    assert {"admin", "__system__", "odooops-check"} <= logins and len(logins) == 5
    assert pg.psql("SELECT count(*) FROM res_partner WHERE phone IS NULL", dbname=odoo_db) == "2"
    # neutralised
    assert pg.psql("SELECT count(*) FROM ir_cron WHERE active", dbname=odoo_db) == "0"
    assert pg.psql("SELECT count(*) FROM ir_mail_server WHERE active", dbname=odoo_db) == "0"
    assert pg.psql("SELECT string_agg(DISTINCT state, ',') FROM payment_provider", dbname=odoo_db) == "disabled"
    assert pg.psql("SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'",
                   dbname=odoo_db) == "true"
    # business data untouched
    assert pg.psql("SELECT count(*) FROM product_template WHERE list_price > 0", dbname=odoo_db) == "200"

    # deterministic: a second run with the same key changes nothing
    snapshot = table_checksums(pg, odoo_db)
    again = an.run(conn, True, True, KEY, ["odooops-check"], check_mode=False)
    assert not again["changed"] and table_checksums(pg, odoo_db) == snapshot
    # and another key gives other values
    other = an.run(conn, False, True, b"another-key-of-32-bytes-xxxxxxxx", ["odooops-check"], check_mode=False)
    assert other["anonymised"]["res_partner"] == 52


def test_short_key_refused_before_any_change(pg, odoo_db, conn):
    before = table_checksums(pg, odoo_db)
    with pytest.raises(an.AnonymiseError, match="at least 16 bytes"):
        an.run(conn, True, True, b"short", [], check_mode=False)
    assert table_checksums(pg, odoo_db) == before
