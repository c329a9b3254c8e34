"""Failure paths against real PostgreSQL and moto: dead S3 mid-upload, killed pg_dump, corrupted or truncated
parts, wrong keys, Object Lock against deletion."""
from __future__ import annotations

import base64
import datetime as dt
import os
import threading
import time

import botocore.exceptions
import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.backup.backup import BackupError, BackupRun
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import (
    CatalogError,
    apply_retention,
    delete_backup,
    find_backup,
    list_backups,
    verify_backup,
)
from ansible_collections.odooops.hosting.plugins.module_utils.backup.restore import RestoreError, restore_backup
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import s3_client
from testbed.s3 import ACCESS_KEY, SECRET_KEY, MotoServer
from tests.integration.backup.backup_seed import KEY_B

MIB = 1024 * 1024


def _run(odoo_db, s3, bucket, **kw):
    kw.setdefault("part_size", 5 * MIB)
    return BackupRun(odoo_db["conn"], s3, db_name="shop", bucket=bucket, filestore_dir=odoo_db["filestore"],
                     **kw)


def _no_restoring_db(pg):
    return pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%restoring%'") == "0"


@pytest.fixture
def big_db(odoo_db):
    """Incompressible attachment data so that the dump spans several 5 MiB parts."""
    odoo_db["pg"].psql("INSERT INTO ir_attachment (name, db_datas) SELECT 'rnd ' || g, "
                       "(SELECT string_agg(decode(md5(random()::text || i), 'hex'), ''::bytea) "
                       " FROM generate_series(1, 4096) i WHERE g > 0) FROM generate_series(1, 400) g",
                       dbname="shop")  # 400 x 64 KiB = 25 MiB
    return odoo_db


def test_s3_killed_mid_upload_fails_clearly_then_retry_succeeds(big_db):
    server = MotoServer().start()
    try:
        s3 = s3_client(endpoint_url=server.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        s3.create_bucket(Bucket="bkt")
        run = _run(big_db, s3, "bkt", compress=0, concurrency=1)
        probe = s3_client(endpoint_url=server.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY)

        def kill_after_first_part():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    for up in probe.list_multipart_uploads(Bucket="bkt").get("Uploads", []):
                        if probe.list_parts(Bucket="bkt", Key=up["Key"], UploadId=up["UploadId"]).get("Parts"):
                            server.stop()
                            return
                except Exception:  # noqa: BLE001 - listing races the upload
                    pass
                time.sleep(0.02)

        killer = threading.Thread(target=kill_after_first_part)
        killer.start()
        with pytest.raises(BackupError, match="no manifest written") as err:
            run.run()
        killer.join()
        assert "s3://bkt/" in str(err.value)
        assert not server.proc.alive()
        assert not any(p.poll() is None for p in run.procs), "pg_dump left running"
    finally:
        server.stop()

    retry = MotoServer().start()
    try:
        s3 = s3_client(endpoint_url=retry.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        s3.create_bucket(Bucket="bkt")
        _run(big_db, s3, "bkt", compress=0).run()
        entries = list_backups(s3, "bkt", "backups/", "shop")
        assert [e.status for e in entries] == ["complete"]
        verify_backup(s3, "bkt", entries[0])
    finally:
        retry.stop()


def test_killed_pg_dump_leaves_incomplete_backup_never_good(big_db, s3, s3_bucket):
    run = _run(big_db, s3, s3_bucket, compress=0, concurrency=1)

    def kill_dump():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if run.procs and run.writers and run.writers[0].size > 3 * MIB:
                run.procs[0].kill()
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_dump)
    killer.start()
    with pytest.raises(BackupError, match="pg_dump of shop failed"):
        run.run()
    killer.join()
    entries = list_backups(s3, s3_bucket, "backups/", "shop")
    # the filestore part may have completed; without a manifest the backup is incomplete, never good
    assert all(e.status == "incomplete" and not e.good for e in entries)
    with pytest.raises(CatalogError, match="no complete backup"):
        find_backup(s3, s3_bucket, "backups/", "shop")
    assert not s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads"), "multipart upload left open"


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_part_refused_naming_it_before_anything_changes(odoo_db, s3, s3_bucket, key_ring, damage):
    pg = odoo_db["pg"]
    _run(odoo_db, s3, s3_bucket, key_ring=key_ring, key_id="k1").run()
    entry = find_backup(s3, s3_bucket, "backups/", "shop")
    key = entry.dir + "filestore.tar.enc"
    body = bytearray(s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    if damage == "flip":
        body[len(body) // 2] ^= 0x01
    else:
        body = body[: len(body) - 1000]
    s3.put_object(Bucket=s3_bucket, Key=key, Body=bytes(body))

    entry = find_backup(s3, s3_bucket, "backups/", "shop", entry.backup_id)
    if damage == "truncate":
        assert entry.status == "damaged" and "truncated" in entry.problems[0]
    with pytest.raises(RestoreError, match=r"part filestore\.tar\.enc .*(corrupted|truncated)"):
        restore_backup(odoo_db["admin"], s3, s3_bucket, entry, "shop_restored", filestore_root=odoo_db["root"],
                       key_ring=key_ring)
    with pytest.raises(CatalogError, match=r"filestore\.tar\.enc"):
        verify_backup(s3, s3_bucket, entry, key_ring)
    assert pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'shop_restored'") == "0"
    assert _no_restoring_db(pg)
    assert not os.path.exists(os.path.join(odoo_db["root"], "shop_restored"))
    assert sorted(os.listdir(odoo_db["root"])) == ["shop"]


def test_wrong_or_missing_key_fails_clearly(odoo_db, s3, s3_bucket, key_ring):
    _run(odoo_db, s3, s3_bucket, key_ring=key_ring, key_id="k1").run()
    entry = find_backup(s3, s3_bucket, "backups/", "shop")
    with pytest.raises(RestoreError, match="wrong encryption key.*'k1'"):
        restore_backup(odoo_db["admin"], s3, s3_bucket, entry, "x1", filestore_root=odoo_db["root"],
                       key_ring={"k1": base64.b64decode(KEY_B)})
    with pytest.raises(RestoreError, match="key id 'k1', which is not in the key ring"):
        restore_backup(odoo_db["admin"], s3, s3_bucket, entry, "x1", filestore_root=odoo_db["root"],
                       key_ring={"k2": base64.b64decode(KEY_B)})
    # without the key check value the chunk authentication still catches a wrong key
    entry.manifest["odooops"]["encryption"].pop("key_check")
    with pytest.raises(RestoreError, match="decryption failed.*authentication failed"):
        restore_backup(odoo_db["admin"], s3, s3_bucket, entry, "x1", filestore_root=odoo_db["root"],
                       key_ring={"k1": base64.b64decode(KEY_B)})
    assert odoo_db["pg"].psql("SELECT count(*) FROM pg_database WHERE datname = 'x1'") == "0"


def test_object_lock_protects_backup_from_retention_and_by_hand(odoo_db, s3, s3_bucket):
    now = dt.datetime.now(dt.UTC)
    # an old locked backup, an old unlocked one, and today's
    locked = _run(odoo_db, s3, s3_bucket, lock_mode="COMPLIANCE", lock_days=30,
                  now=now - dt.timedelta(days=3)).run()
    old = _run(odoo_db, s3, s3_bucket, now=now - dt.timedelta(days=2)).run()
    newest = _run(odoo_db, s3, s3_bucket).run()
    lid, oid, nid = (m["odooops"]["backup_id"] for m in (locked, old, newest))
    entries = {e.backup_id: e for e in list_backups(s3, s3_bucket, "backups/", "shop")}
    assert entries[lid].locked_until > now + dt.timedelta(days=26)
    assert entries[oid].locked_until is None

    policy = dict(daily=1, weekly=0, monthly=0)
    plan = apply_retention(s3, s3_bucket, "backups/", "shop", check_mode=True, **policy)
    assert plan["delete"] == [oid] and [x["backup_id"] for x in plan["locked"]] == [lid]
    assert len(list_backups(s3, s3_bucket, "backups/", "shop")) == 3  # check mode removed nothing

    done = apply_retention(s3, s3_bucket, "backups/", "shop", **policy)
    assert done["deleted"] == [oid]
    left = {e.backup_id for e in list_backups(s3, s3_bucket, "backups/", "shop")}
    assert left == {lid, nid}
    assert not s3.list_object_versions(Bucket=s3_bucket, Prefix=entries[oid].dir).get("Versions")

    # by hand: our delete refuses before sending anything; S3 itself refuses a version delete
    with pytest.raises(CatalogError, match="under Object Lock"):
        delete_backup(s3, s3_bucket, entries[lid])
    versions = s3.list_object_versions(Bucket=s3_bucket, Prefix=entries[lid].dir + "manifest.json")["Versions"]
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied|locked|protected|retention"):
        s3.delete_object(Bucket=s3_bucket, Key=versions[0]["Key"], VersionId=versions[0]["VersionId"])
    assert find_backup(s3, s3_bucket, "backups/", "shop", lid).good


def test_retention_counts_apply_per_database(odoo_db, s3, s3_bucket):
    odoo_db["pg"].psql('CREATE DATABASE "shop2" TEMPLATE "shop"')
    now = dt.datetime.now(dt.UTC)
    made = {}
    for db in ("shop", "shop2"):
        for age in (3, 0):
            m = BackupRun(odoo_db["conn"], s3, db_name=db, bucket=s3_bucket, now=now - dt.timedelta(days=age)).run()
            made[(db, age)] = m["odooops"]["backup_id"]
    done = apply_retention(s3, s3_bucket, "backups/", None, daily=1, weekly=0, monthly=0)
    assert sorted(done["deleted"]) == sorted([made[("shop", 3)], made[("shop2", 3)]])
    left = {(e.db_name, e.backup_id) for e in list_backups(s3, s3_bucket, "backups/")}
    assert left == {("shop", made[("shop", 0)]), ("shop2", made[("shop2", 0)])}


def test_retention_does_not_count_a_same_size_corrupted_backup_as_good(odoo_db, s3, s3_bucket, key_ring):
    """A bit flipped in the newest backup's database part, size unchanged: listing sizes says "complete"; the
    retention must check the sha256 before counting it as the newest good and deleting the older good one."""
    now = dt.datetime.now(dt.UTC)
    older = _run(odoo_db, s3, s3_bucket, key_ring=key_ring, key_id="k1", now=now - dt.timedelta(days=2)).run()
    newest = _run(odoo_db, s3, s3_bucket, key_ring=key_ring, key_id="k1").run()
    oid, nid = older["odooops"]["backup_id"], newest["odooops"]["backup_id"]
    entry = find_backup(s3, s3_bucket, "backups/", "shop", nid)
    key = entry.dir + "db.dump.enc"
    body = bytearray(s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    body[len(body) // 3] ^= 0x10
    s3.put_object(Bucket=s3_bucket, Key=key, Body=bytes(body))
    assert find_backup(s3, s3_bucket, "backups/", "shop", nid).good  # sizes alone: "good"

    policy = dict(daily=1, weekly=0, monthly=0)
    done = apply_retention(s3, s3_bucket, "backups/", "shop", **policy)
    assert done["deleted"] == [] and done["verified"] == [oid]
    assert list(done["corrupted"]) == [nid] and "db.dump.enc" in done["corrupted"][nid]
    assert "newest good" in done["keep"][oid] and done["keep"][nid] == ["damaged, within grace period"]
    assert {e.backup_id for e in list_backups(s3, s3_bucket, "backups/", "shop")} == {oid, nid}
    verify_backup(s3, s3_bucket, find_backup(s3, s3_bucket, "backups/", "shop", oid), key_ring)

    # past the grace period the corrupted one goes, the older good one stays
    later = apply_retention(s3, s3_bucket, "backups/", "shop", now=now + dt.timedelta(hours=25), **policy)
    assert later["deleted"] == [nid] and "newest good" in later["keep"][oid]
    assert {e.backup_id for e in list_backups(s3, s3_bucket, "backups/", "shop")} == {oid}
