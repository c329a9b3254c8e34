"""odoo_db_snapshot logic on a real PostgreSQL 15 cluster, and the filestore snapshot on a real file system."""
from __future__ import annotations

import os

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import snapshot as snap
from tests.integration.harness.checksums import table_checksums, tree_digest

PARAMS = {"login_user": "postgres"}


@pytest.fixture
def conn(pg):
    c = pgu.connect({**PARAMS, "login_host": pg.sockdir, "login_port": pg.port})
    yield c
    c.close()


def databases(pg) -> set[str]:
    return set(pg.psql("SELECT datname FROM pg_database").split())


def test_snapshot_check_mode_then_create_then_idempotent(pg, conn, odoo_db):
    before = databases(pg)
    res = snap.create_db_snapshot(conn, odoo_db, check_mode=True)
    assert res["changed"] and databases(pg) == before

    res = snap.create_db_snapshot(conn, odoo_db, label="17.0-a -> 17.0-b")
    assert res["changed"] and res["snapshot"] == "odoo__pre_upgrade"
    assert databases(pg) == before | {"odoo__pre_upgrade"}
    pg.psql("ALTER DATABASE odoo__pre_upgrade WITH ALLOW_CONNECTIONS true")
    assert table_checksums(pg, "odoo__pre_upgrade") == table_checksums(pg, odoo_db)
    pg.psql("ALTER DATABASE odoo__pre_upgrade WITH ALLOW_CONNECTIONS false")
    # owner kept, source open again, snapshot closed to connections
    assert pg.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'odoo__pre_upgrade'") == \
        "odoo_owner"
    assert pg.psql("SELECT datallowconn FROM pg_database WHERE datname = 'odoo'") == "t"
    assert pg.psql("SELECT datallowconn FROM pg_database WHERE datname = 'odoo__pre_upgrade'") == "f"

    again = snap.create_db_snapshot(conn, odoo_db)
    assert not again["changed"] and again["meta"]["label"] == "17.0-a -> 17.0-b"


def test_snapshot_terminates_open_sessions(pg, conn, odoo_db):
    other = pg.connect(odoo_db)
    with other.cursor() as cur:
        cur.execute("BEGIN; SELECT count(*) FROM res_partner")
    res = snap.create_db_snapshot(conn, odoo_db)
    assert res["changed"]
    assert other.closed or pg.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'odoo' "
                                   "AND application_name <> 'odooops-upgrade'") == "0"


def test_restore_swaps_back_exact_content(pg, conn, odoo_db):
    sums = table_checksums(pg, odoo_db)
    snap.create_db_snapshot(conn, odoo_db)
    # the "upgrade" damages the database
    pg.psql("UPDATE ir_module_module SET latest_version = '17.0.2.0'; DELETE FROM stock_quant WHERE id < 50; "
            "CREATE TABLE new_module_table (id int)", dbname=odoo_db)
    damaged = table_checksums(pg, odoo_db)
    assert damaged != sums

    res = snap.restore_db_snapshot(conn, odoo_db, check_mode=True)
    assert res["changed"] and "odoo__pre_upgrade" in databases(pg)

    res = snap.restore_db_snapshot(conn, odoo_db, stamp="20260101000000")
    assert res["changed"] and res["failed_database"] == "odoo__failed_20260101000000"
    assert table_checksums(pg, odoo_db) == sums
    assert "odoo__pre_upgrade" not in databases(pg)
    assert "odoo__failed_20260101000000" in databases(pg)
    assert pg.psql("SELECT datallowconn FROM pg_database WHERE datname = 'odoo'") == "t"
    # the swap set the damaged database aside, whole: it is what the live one would be without the swap
    pg.psql("ALTER DATABASE odoo__failed_20260101000000 WITH ALLOW_CONNECTIONS true")
    assert table_checksums(pg, "odoo__failed_20260101000000") == damaged

    again = snap.restore_db_snapshot(conn, odoo_db)
    assert not again["changed"]
    # the failed copy is droppable as ours, a foreign database is not
    assert snap.drop_db_snapshot(conn, "odoo__failed_20260101000000", db=odoo_db)["changed"]
    with pytest.raises(snap.SnapshotError, match="not a snapshot"):
        snap.drop_db_snapshot(conn, "postgres")


def test_refusals_change_nothing(pg, conn, odoo_db):
    before = databases(pg)
    with pytest.raises(snap.SnapshotError, match="does not exist"):
        snap.create_db_snapshot(conn, "nope")
    with pytest.raises(snap.SnapshotError, match="no snapshot"):
        snap.restore_db_snapshot(conn, odoo_db)
    with pytest.raises(pgu.PostgresError, match="invalid database name"):
        snap.create_db_snapshot(conn, "odoo; DROP DATABASE postgres")
    pg.psql("CREATE DATABASE foreign_db")
    with pytest.raises(snap.SnapshotError, match="not a snapshot of"):
        snap.create_db_snapshot(conn, odoo_db, snapshot="foreign_db")
    assert databases(pg) == before | {"foreign_db"}


def test_drop_snapshot(pg, conn, odoo_db):
    snap.create_db_snapshot(conn, odoo_db)
    assert snap.drop_db_snapshot(conn, "odoo__pre_upgrade", db=odoo_db, check_mode=True)["changed"]
    assert "odoo__pre_upgrade" in databases(pg)
    assert snap.drop_db_snapshot(conn, "odoo__pre_upgrade", db=odoo_db)["changed"]
    assert "odoo__pre_upgrade" not in databases(pg)
    assert not snap.drop_db_snapshot(conn, "odoo__pre_upgrade", db=odoo_db)["changed"]


def test_filestore_snapshot_and_restore(filestore):
    live = os.path.join(filestore, "odoo")
    digest = tree_digest(live)
    assert snap.create_fs_snapshot(filestore, "odoo", check_mode=True)["files"] == 30
    assert not os.path.exists(os.path.join(filestore, "odoo__pre_upgrade"))
    res = snap.create_fs_snapshot(filestore, "odoo")
    assert res["changed"] and res["files"] == 30
    snap_dir = os.path.join(filestore, "odoo__pre_upgrade")
    a_file = next(os.path.join(d, f) for d, _dirnames, fs in os.walk(live) for f in fs)
    rel = os.path.relpath(a_file, live)
    assert os.stat(a_file).st_ino == os.stat(os.path.join(snap_dir, rel)).st_ino  # hard link, no data copied
    assert not snap.create_fs_snapshot(filestore, "odoo")["changed"]
    # the update adds and removes files (Odoo never rewrites one in place)
    os.unlink(a_file)
    os.makedirs(os.path.join(live, "ff"), exist_ok=True)
    with open(os.path.join(live, "ff", "ffnew"), "w") as fh:
        fh.write("new")
    damaged = tree_digest(live)
    assert damaged != digest
    res = snap.restore_fs_snapshot(filestore, "odoo", stamp="1")
    assert res["changed"] and tree_digest(live) == digest
    assert tree_digest(os.path.join(filestore, "odoo__failed_1")) == damaged
    with pytest.raises(snap.SnapshotError, match="no filestore snapshot"):
        snap.restore_fs_snapshot(filestore, "odoo")
    assert snap.drop_fs_snapshot(filestore, "odoo", "odoo__failed_1")["changed"]
