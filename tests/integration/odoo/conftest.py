"""Fixtures of the odoo area: the Odoo test double run as a process against the `pg` fixture."""
from __future__ import annotations

import pytest

from tests.integration.harness.odoo_double import DB_PASSWORD, DoubleRun


@pytest.fixture
def odoo_pg(pg):
    """The `pg` cluster with the shared role layout: odoo_owner (NOLOGIN, CREATEDB) owns; odoo logs in."""
    pg.psql("CREATE ROLE odoo_owner NOLOGIN CREATEDB;"
            f"CREATE ROLE odoo LOGIN PASSWORD '{DB_PASSWORD}' IN ROLE odoo_owner;"
            "ALTER ROLE odoo SET role = 'odoo_owner';")
    return pg


@pytest.fixture
def double(odoo_pg):
    made: list[DoubleRun] = []

    def make(**kw) -> DoubleRun:
        run = DoubleRun(odoo_pg, **kw)
        made.append(run)
        return run

    yield make
    for run in made:
        run.cleanup()
