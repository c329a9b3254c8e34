"""Fixtures of the backup tests: an Odoo-like database with its filestore, S3 clients, key rings."""
from __future__ import annotations

import base64
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from backup_seed import BACKUP_PASSWORD, KEY_A, seed_odoo  # noqa: E402

from ansible_collections.odooops.hosting.plugins.module_utils.backup_pg import PgConn  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.s3_common import s3_client  # noqa: E402
from testbed.s3 import ACCESS_KEY, SECRET_KEY  # noqa: E402


@pytest.fixture
def key_ring():
    return {"k1": base64.b64decode(KEY_A)}


@pytest.fixture
def odoo_db(pg, tmp_path):
    """Database 'shop' on the pg fixture, a login role for backups (password only via pgpass), filestore."""
    info = seed_odoo(pg, "shop", str(tmp_path / "filestore"))
    pg.psql("CREATE ROLE odoo_owner NOLOGIN CREATEDB")
    escaped = BACKUP_PASSWORD.replace("'", "''")
    pg.psql(f"CREATE ROLE odooops_backup LOGIN PASSWORD '{escaped}' IN ROLE pg_read_all_data")
    info.update(pg=pg, root=str(tmp_path / "filestore"), db="shop",
                conn=PgConn(host="127.0.0.1", port=pg.port, user="odooops_backup", password=BACKUP_PASSWORD),
                admin=PgConn(host="127.0.0.1", port=pg.port, user="postgres"))
    return info


@pytest.fixture
def s3(moto):
    return s3_client(endpoint_url=moto.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
