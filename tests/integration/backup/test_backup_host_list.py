"""Backup, restore and a second upgrade connection given a db host list whose first server is a standby that
has not replayed the work of the first connection (issue 11: the DR drill after a switchover).

Two real PostgreSQL 15 clusters on the same port, each with its own socket directory: the standby (replay
paused, so it cannot have what is created on the primary) is listed first, as db1 was after the demo's
switchover. Every client tool and further connection must go to the server the first connection reached; given
the list again, libpq stops at the standby's startup FATAL ("database ... does not exist").
"""
from __future__ import annotations

import time

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.backup.backup import BackupRun
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import find_backup
from ansible_collections.odooops.hosting.plugins.module_utils.backup.restore import compare_statistics, restore_backup
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import PgConn
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as upgrade_pg
from tests.integration.backup.backup_seed import seed_odoo

pytestmark = pytest.mark.integration


@pytest.fixture
def standby_first(pg_factory, tmp_path):
    primary = pg_factory("prim")
    standby = primary.make_standby("sb", port=primary.port, settings={"listen_addresses": "''"})
    pg_factory.track(standby)
    deadline = time.monotonic() + 30
    while primary.psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") != "1":
        assert time.monotonic() < deadline, "the standby does not stream"
        time.sleep(0.2)
    standby.psql("SELECT pg_wal_replay_pause()")
    while standby.psql("SELECT pg_get_wal_replay_pause_state()") != "paused":
        assert time.monotonic() < deadline, "replay did not pause"
        time.sleep(0.2)
    # created after the pause: the primary has it, the standby never will until replay resumes
    info = seed_odoo(primary, "shop", str(tmp_path / "filestore"), partners=150, products=20, files=5)
    assert standby.psql("SELECT count(*) FROM pg_database WHERE datname = 'shop'") == "0"
    return {"primary": primary, "standby": standby, "filestore": info["filestore"],
            "pg": PgConn(host=f"{standby.sockdir},{primary.sockdir}", port=primary.port, user="postgres")}


def test_backup_and_restore_stay_on_the_server_reached(standby_first, s3, s3_bucket, key_ring):
    primary, pg = standby_first["primary"], standby_first["pg"]
    manifest = BackupRun(pg, s3, db_name="shop", bucket=s3_bucket, filestore_dir=standby_first["filestore"],
                         key_ring=key_ring, key_id="k1").run()
    # pg_dump imported the snapshot on the server that exported it, the primary
    assert manifest["odooops"]["source"]["db_host"] == primary.sockdir
    assert manifest["odooops"]["statistics"]["tables"]["res_partner"] == 150

    entry = find_backup(s3, s3_bucket, "backups/", "shop")
    result = restore_backup(pg, s3, s3_bucket, entry, "shop_copy", filestore_root=None, key_ring=key_ring)
    assert (result["db_host"], result["db_port"]) == (primary.sockdir, primary.port)
    assert primary.psql("SELECT count(*) FROM res_partner", dbname="shop_copy") == "150"
    stats = compare_statistics(pg.pinned(result["db_host"], result["db_port"]), "shop_copy", entry.manifest)
    assert stats["tables_ok"] and stats["modules_ok"]
    assert standby_first["standby"].psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'shop_%'") == "0"


def test_upgrade_connections_follow_the_first(standby_first):
    primary = standby_first["primary"]
    params = {"login_host": f"{standby_first['standby'].sockdir},{primary.sockdir}", "login_port": primary.port,
              "login_user": "postgres"}
    admin = upgrade_pg.connect(params)
    try:
        assert upgrade_pg.scalar(admin, "SELECT pg_is_in_recovery()") is False  # the list's writable server
        db = upgrade_pg.connect(upgrade_pg.pinned(params, admin), dbname="shop")
        try:
            assert upgrade_pg.scalar(db, "SELECT count(*) FROM res_partner") == 150
            assert (db.info.host, db.info.port) == (primary.sockdir, primary.port)
        finally:
            db.close()
    finally:
        admin.close()
    # a database named at once: found through `postgres` on every server, then opened on the writable one
    direct = upgrade_pg.connect({**params, "login_db": "shop"})
    try:
        assert (direct.info.host, upgrade_pg.scalar(direct, "SELECT count(*) FROM res_partner")) == (
            primary.sockdir, 150)
    finally:
        direct.close()


def test_restore_waits_until_the_standbys_replayed_it(standby_first, s3, s3_bucket, key_ring):
    """An Odoo given the host list stops at a standby listed first that lacks a just-restored database: the
    restore waits (bounded) until the streaming standbys replayed it, and says which are still behind."""
    standby, pg = standby_first["standby"], standby_first["pg"]
    BackupRun(pg, s3, db_name="shop", bucket=s3_bucket, filestore_dir=standby_first["filestore"],
              key_ring=key_ring, key_id="k1").run()
    entry = find_backup(s3, s3_bucket, "backups/", "shop")
    started = time.monotonic()
    paused = restore_backup(pg, s3, s3_bucket, entry, "shop_a", filestore_root=None, key_ring=key_ring,
                            wait_standbys_s=1.5)
    assert time.monotonic() - started >= 1.5
    seen = paused["standbys_replayed"]
    assert seen["lagging"] == seen["standbys"] and len(seen["standbys"]) == 1, seen

    standby.psql("SELECT pg_wal_replay_resume()")
    done = restore_backup(pg, s3, s3_bucket, entry, "shop_b", filestore_root=None, key_ring=key_ring,
                          wait_standbys_s=60)
    assert done["standbys_replayed"]["lagging"] == [] and done["standbys_replayed"]["standbys"] == seen["standbys"]
    # replayed: the standby has the database the restore just made, and its rows
    assert standby.psql("SELECT count(*) FROM res_partner", dbname="shop_b") == "150"
    # no wait asked, none made
    assert restore_backup(pg, s3, s3_bucket, entry, "shop_c", filestore_root=None, key_ring=key_ring)[
        "standbys_replayed"] is None
