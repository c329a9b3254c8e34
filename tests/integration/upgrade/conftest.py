"""Fixtures of the upgrade tests: an Odoo-shaped database in a real PostgreSQL 15 cluster (its schema and the
double's containers: tests/integration/harness/upgrade.py). Everything runs on the real engine.
"""
from __future__ import annotations

import hashlib
import uuid

import pytest

from tests.integration.harness.upgrade import DoubleStack, make_odoo_db


@pytest.fixture
def odoo_db(pg):
    return make_odoo_db(pg)


@pytest.fixture
def filestore(tmp_path):
    """<data_dir>/filestore/odoo with content-addressed files, as Odoo lays them out."""
    root = tmp_path / "filestore"
    live = root / "odoo"
    for i in range(30):
        data = f"attachment {i}".encode()
        digest = hashlib.sha1(data).hexdigest()
        d = live / digest[:2]
        d.mkdir(parents=True, exist_ok=True)
        (d / digest).write_bytes(data)
    return str(root)


# -- the Odoo test double in containers, against the `pg` fixture -------------------------------------------
@pytest.fixture
def double_stack(pg, docker_engine):
    password = "dbpw-" + uuid.uuid4().hex[:12]
    pg.psql("CREATE ROLE odoo_owner NOLOGIN CREATEDB;"
            f"CREATE ROLE odoo LOGIN PASSWORD '{password}' IN ROLE odoo_owner;"
            "ALTER ROLE odoo SET role = 'odoo_owner';")
    stack = DoubleStack(pg, password)
    yield stack
    stack.destroy()
