"""The backup modules through ansible-playbook: check mode, apply, idempotence, real effects, no secrets shown."""
from __future__ import annotations

import json
import os
import sys

from testbed.s3 import ACCESS_KEY, SECRET_KEY, MotoServer
from tests.integration.backup.backup_seed import BACKUP_PASSWORD, KEY_A

HERE = os.path.dirname(__file__)


def test_modules_round_trip_and_secrets_hidden(odoo_db, moto, s3, s3_bucket, docker_engine, ansible_playbook):
    pg = odoo_db["pg"]
    dr = MotoServer().start()
    try:
        dr.client().create_bucket(Bucket="dr-bucket")
        run = ansible_playbook(
            os.path.join(HERE, "playbooks", "backup_modules.yml"), "-v", inventory="localhost,",
            extra_vars={"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                        "s3_endpoint": moto.endpoint, "dr_endpoint": dr.endpoint, "s3_access_key": ACCESS_KEY,
                        "s3_secret_key": SECRET_KEY, "bucket": s3_bucket, "pg_port": pg.port,
                        "db_password": BACKUP_PASSWORD, "filestore_root": odoo_db["root"],
                        "keys": [{"id": "k1", "key": KEY_A}], "odoo_image": "odooops/odoo-double:17.0-a"})
        assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
        # real effects: one backup in S3 (none from check mode), its copy at the DR endpoint, the restored db
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
        assert len([k for k in keys if k.endswith("manifest.json")]) == 1
        dr_keys = sorted(o["Key"] for o in dr.client().list_objects_v2(Bucket="dr-bucket")["Contents"])
        assert dr_keys == sorted(keys)
        assert pg.psql("SELECT count(*) FROM res_partner", dbname="shop_staging") == "2000"
        assert pg.psql("SELECT count(*) FROM ir_cron WHERE active", dbname="shop_staging") == "0"
        assert len(os.listdir(os.path.join(odoo_db["root"], "shop_staging"))) > 0
        # secrets never shown, even with -v
        for secret in (BACKUP_PASSWORD, SECRET_KEY, KEY_A):
            assert secret not in run.stdout and secret not in run.stderr
        manifest = json.loads(s3.get_object(Bucket=s3_bucket, Key=[k for k in keys if k.endswith("manifest.json")][0])
                              ["Body"].read())
        assert BACKUP_PASSWORD not in json.dumps(manifest) and KEY_A not in json.dumps(manifest)
        # Odoo's release of the image (its odoo/release.py), as Odoo's own dump manifest has it
        assert (manifest["version"], manifest["version_info"], manifest["major_version"]) == \
            ("17.0", [17, 0, 0, "final", 0, ""], "17.0")
    finally:
        dr.stop()
