"""Backup -> S3 (moto) -> restore round trip against real PostgreSQL 15: every table and file identical."""
from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.backup.backup import BackupRun
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import (
    find_backup,
    list_backups,
    verify_backup,
)
from ansible_collections.odooops.hosting.plugins.module_utils.backup.restore import RestoreError, restore_backup
from ansible_collections.odooops.hosting.plugins.module_utils.odoo import modules as um
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import Engine
from tests.integration.backup.backup_seed import BACKUP_PASSWORD
from tests.integration.harness.checksums import table_checksums
from tests.integration.harness.checksums import tree_digest as tree_checksums
from tests.integration.harness.env import TEST_PREFIX


def _backup(odoo_db, s3, bucket, key_ring=None, **kw):
    return BackupRun(odoo_db["conn"], s3, db_name="shop", bucket=bucket, filestore_dir=odoo_db["filestore"],
                     key_ring=key_ring, key_id="k1" if key_ring else None, part_size=5 * 1024 * 1024, **kw).run()


# an image whose odoo/release.py says what a nightly build's does: release.version 17.0+e-20241005, series 17.0
RELEASE_IMAGE = TEST_PREFIX + "release-edition:test"
RELEASE_DOCKERFILE = """FROM odooops/odoo-double:17.0-a
USER root
RUN sed -i "s/0, FINAL, 0, '')/0, FINAL, 0, '+e-20241005')/" /usr/lib/python3/dist-packages/odoo/release.py
USER odoo
"""


def test_manifest_version_is_odoos_release_version(odoo_db, s3, s3_bucket, docker_engine):
    """Odoo's own dump manifest carries release.version (e.g. 18.0+e-20241005), not the series: the backup takes it
    from the serving image's odoo/release.py, read as text by the upgrade's one-shot image reader."""
    build = subprocess.run(["docker", "build", "-q", "-t", RELEASE_IMAGE, "-"], input=RELEASE_DOCKERFILE,
                           check=False, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    try:
        release = um.read_image_release(Engine(), RELEASE_IMAGE)
        assert release["release_file"].endswith("/odoo/release.py")
        manifest = _backup(odoo_db, s3, s3_bucket, odoo_release=release)
        assert manifest["version"] == "17.0+e-20241005"
        assert manifest["version_info"] == [17, 0, 0, "final", 0, "+e-20241005"]
        assert manifest["major_version"] == "17.0"
        assert find_backup(s3, s3_bucket, "backups/", "shop").manifest["version"] == "17.0+e-20241005"
    finally:
        subprocess.run(["docker", "rmi", "-f", RELEASE_IMAGE], check=False, capture_output=True, timeout=120)


def test_round_trip_encrypted_identical(odoo_db, s3, s3_bucket, key_ring):
    pg = odoo_db["pg"]
    before = table_checksums(pg, "shop", sequences=True)
    manifest = _backup(odoo_db, s3, s3_bucket, key_ring, odoo_zip=True, tags={"env": "test"})

    # Odoo database-manager manifest fields, plus ours
    assert manifest["odoo_dump"] == "1" and manifest["db_name"] == "shop"
    assert manifest["version"] == "17.0" and manifest["major_version"] == "17.0"
    assert manifest["pg_version"].startswith("15.")
    assert manifest["modules"]["stock"] == "17.0.1.1" and "account_accountant" not in manifest["modules"]
    od = manifest["odooops"]
    assert od["encryption"]["key_id"] == "k1" and od["encryption"]["algorithm"].startswith("AES-256-GCM")
    assert od["statistics"]["tables"]["res_partner"] == 2000
    assert od["filestore"] == {"selection": "ir_attachment", "files": 40, "missing_count": 0, "missing": []}
    names = {p["name"] for p in od["parts"]}
    assert names == {"db.dump.enc", "filestore.tar.enc", "odoo.zip.enc"}

    # what is in S3: the manifest read back equals the returned one; parts are not plaintext
    entry = find_backup(s3, s3_bucket, "backups/", "shop")
    assert entry.manifest == json.loads(json.dumps(manifest)) and entry.good
    raw = s3.get_object(Bucket=s3_bucket, Key=entry.dir + "db.dump.enc")["Body"].read()
    assert b"Partner 1" not in raw and not raw.startswith(b"PGDMP")
    assert BACKUP_PASSWORD not in json.dumps(manifest)
    assert set(verify_backup(s3, s3_bucket, entry, key_ring)) == names

    result = restore_backup(odoo_db["admin"], s3, s3_bucket, entry, "shop_copy", filestore_root=odoo_db["root"],
                            key_ring=key_ring, owner="odoo_owner", jobs=2)
    assert result["files"] == 40
    assert table_checksums(pg, "shop_copy", sequences=True) == before
    assert pg.psql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
                   dbname="shop_copy") == "odoo_owner"
    # only the files the snapshot references; the orphan files are left out
    src = tree_checksums(odoo_db["filestore"])
    got = tree_checksums(os.path.join(odoo_db["root"], "shop_copy"))
    assert got == {k: v for k, v in src.items() if k in set(odoo_db["referenced"])}
    assert not set(got) & set(odoo_db["orphans"])
    # no temporary database left behind
    assert pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%restoring%'") == "0"


def test_odoo_zip_export_is_database_manager_format(odoo_db, s3, s3_bucket):
    _backup(odoo_db, s3, s3_bucket, odoo_zip=True)
    entry = find_backup(s3, s3_bucket, "backups/", "shop")
    body = s3.get_object(Bucket=s3_bucket, Key=entry.dir + "odoo.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        names = zf.namelist()
        assert "dump.sql" in names and "manifest.json" in names
        assert {n[len("filestore/"):] for n in names if n.startswith("filestore/")} == set(odoo_db["referenced"])
        odoo_manifest = json.loads(zf.read("manifest.json"))
        assert odoo_manifest["modules"]["base"] == "17.0.1.3" and odoo_manifest["db_name"] == "shop"
        sql = zf.read("dump.sql").decode()
    # the plain dump replays through psql, as Odoo's database manager restores it
    pg = odoo_db["pg"]
    pg.psql('CREATE DATABASE "fromzip"')
    pg.psql(sql, dbname="fromzip")
    assert table_checksums(pg, "fromzip", sequences=True) == table_checksums(pg, "shop", sequences=True)


def test_existing_name_refused_without_force_then_replaced_with_force(odoo_db, s3, s3_bucket):
    pg = odoo_db["pg"]
    _backup(odoo_db, s3, s3_bucket)
    entry = find_backup(s3, s3_bucket, "backups/", "shop")
    pg.psql('CREATE DATABASE "taken"')
    pg.psql("CREATE TABLE marker (x int); INSERT INTO marker VALUES (1)", dbname="taken")
    with pytest.raises(RestoreError, match="'taken' already exists"):
        restore_backup(odoo_db["admin"], s3, s3_bucket, entry, "taken", filestore_root=odoo_db["root"])
    assert pg.psql("SELECT x FROM marker", dbname="taken") == "1"
    assert not os.path.exists(os.path.join(odoo_db["root"], "taken"))

    restore_backup(odoo_db["admin"], s3, s3_bucket, entry, "taken", filestore_root=odoo_db["root"], force=True,
                   do_neutralize=True)
    assert pg.psql("SELECT to_regclass('public.marker') IS NULL", dbname="taken") == "t"
    assert pg.psql("SELECT count(*) FROM res_partner", dbname="taken") == "2000"
    # neutralised as Odoo does it
    assert pg.psql("SELECT count(*) FROM ir_cron WHERE active", dbname="taken") == "0"
    assert pg.psql("SELECT count(*) FROM ir_mail_server WHERE active", dbname="taken") == "0"
    assert pg.psql("SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'",
                   dbname="taken") == "true"
    assert pg.psql("SELECT count(*) FROM ir_cron WHERE active", dbname="shop") == "12"
    assert len(tree_checksums(os.path.join(odoo_db["root"], "taken"))) == 40
    assert pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%replaced%'") == "0"


def test_listing_shows_complete_backups(odoo_db, s3, s3_bucket):
    _backup(odoo_db, s3, s3_bucket)
    _backup(odoo_db, s3, s3_bucket)
    entries = list_backups(s3, s3_bucket, "backups/", "shop")
    assert [e.status for e in entries] == ["complete", "complete"]
    assert find_backup(s3, s3_bucket, "backups/", "shop").backup_id == entries[-1].backup_id
