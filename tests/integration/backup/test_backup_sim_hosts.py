"""playbooks/backup.yml and restore.yml on the simulated hosts, through inventories/local: the modules run on app1
and read/write the filestore through the Odoo data volume's mountpoint (app1 sees /var/lib/docker/volumes as a VM
does), connect to PostgreSQL on db1 over the LAN, and use the LAN's object storage (`s3`). The backup is verified
from the control node (every part's sha256, the filestore files referenced by ir_attachment, the row counts),
then restored on app1 into a new database and filestore directory.

Run with a prefix of your own:
  ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/backup/test_backup_sim_hosts.py
"""
from __future__ import annotations

import base64
import os
import secrets
import subprocess

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import find_backup, verify_backup
from testbed.s3 import ACCESS_KEY, SECRET_KEY
from tests.integration.backup.backup_seed import KEY_A, attachments_sql, make_filestore, seed_sql
from tests.integration.harness.checksums import tree_digest as tree_checksums
from tests.integration.harness.env import TEST_PREFIX as PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK = PREFIX.rstrip("-") + "-bk"
DB_PASSWORD = "bk-sim-" + secrets.token_hex(6)


def dexec(container, *cmd, check=True, input=None):
    res = subprocess.run(["docker", "exec", "-i", container, *cmd], check=False, capture_output=True, text=True,
                         timeout=180, input=input)
    if check:
        assert res.returncode == 0, f"{cmd}: {res.stdout[-1500:]} {res.stderr[-1500:]}"
    return res


@pytest.fixture
def clean_db_hosts(sim_hosts):
    """db1 and db2 without a PostgreSQL cluster before and after: the session's earlier modules (a provisioned
    stack, a failover) may have left theirs, and this test creates its own."""
    from testbed.hosts import reset_postgres

    for name in ("db1", "db2"):
        reset_postgres(sim_hosts[name])
    yield sim_hosts
    for name in ("db1", "db2"):
        reset_postgres(sim_hosts[name])


def test_backup_playbook_on_sim_hosts(clean_db_hosts, sim_hosts, lan_s3, ansible_playbook):
    import boto3

    db1 = sim_hosts["db1"]
    volume = f"{STACK}-odoo-data"
    s3 = boto3.client("s3", endpoint_url=lan_s3["endpoint"], region_name="us-east-1",
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    bucket = "bk-sim-" + secrets.token_hex(4)
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    dexec(db1, "pg_createcluster", "15", "main", "--start", "--", "--auth-host=scram-sha-256")
    try:
        conf = "/etc/postgresql/15/main"
        dexec(db1, "bash", "-c", f"echo \"listen_addresses = '*'\" >> {conf}/postgresql.conf && "
                                 f"echo 'host all all 0.0.0.0/0 scram-sha-256' >> {conf}/pg_hba.conf && "
                                 "pg_ctlcluster 15 main restart")
        psql = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1"]
        dexec(db1, *psql, "-c", "CREATE ROLE odoo_owner NOLOGIN CREATEDB")
        dexec(db1, *psql, "-c", f"CREATE ROLE odoo LOGIN CREATEDB PASSWORD '{DB_PASSWORD}' IN ROLE odoo_owner")
        dexec(db1, *psql, "-c", "CREATE DATABASE shop OWNER odoo")
        # the filestore in the Odoo data volume, on the engine app1 uses (its mountpoint is the same path on app1)
        subprocess.run(["docker", "volume", "create", volume], check=True, capture_output=True)
        mountpoint = subprocess.run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", volume], check=True,
                                    capture_output=True, text=True).stdout.strip()
        files = make_filestore(os.path.join(mountpoint, "filestore", "shop"), 30)
        make_filestore(os.path.join(mountpoint, "filestore", "shop"), 3, seed=99)  # orphans: left out
        dexec(db1, *psql, "-U", "postgres", "-d", "shop", "-f", "-",
              input="SET ROLE odoo;\n" + seed_sql(partners=300, products=40) + attachments_sql(files))
        assert dexec(db1, "test", "-d", mountpoint, check=False).returncode != 0  # db1 has no such volume

        common = {
            "odooops_stack": STACK, "odooops_db_name": "shop", "odooops_db_user": "odoo",
            "odooops_db_password": DB_PASSWORD, "odooops_backup_bucket": bucket,
            "odooops_backup_endpoint_url": lan_s3["lan_endpoint"],
            "odooops_s3_access_key": ACCESS_KEY, "odooops_s3_secret_key": SECRET_KEY,
            "odooops_backup_keys": [{"id": "k1", "key": KEY_A}], "odooops_backup_key_id": "k1"}
        run = ansible_playbook("playbooks/backup.yml", "-v", extra_vars={**common,
                                                                         "odooops_backup_db_sslmode": "prefer"})
        assert run.rc == 0, run.stdout[-4000:]
        for secret in (DB_PASSWORD, SECRET_KEY, KEY_A):
            assert secret not in run.stdout

        entry = find_backup(s3, bucket, "backups/", "shop")
        assert entry.good
        od = entry.manifest["odooops"]
        assert od["source"]["host"].startswith("app1"), od["source"]  # taken on app1, from db1 over the LAN
        assert od["source"]["db_host"].endswith("db1"), od["source"]
        assert od["filestore"]["selection"] == "ir_attachment" and od["filestore"]["files"] == len(files)
        assert od["statistics"]["tables"]["res_partner"] == 300
        assert od["retention"]["mode"] == "GOVERNANCE"  # the local inventory's Object Lock
        verified = verify_backup(s3, bucket, entry, {"k1": base64.b64decode(KEY_A)})
        assert all(v["ok"] for v in verified.values()) and set(verified) == {"db.dump.enc", "filestore.tar.enc"}

        # restore.yml (logical) on app1: a new database on db1, the filestore into the same volume
        restore = ansible_playbook("playbooks/restore.yml", extra_vars={**common, "odooops_restore_target": "shop_copy",
                                                                        "odooops_restore_db_sslmode": "prefer"})
        assert restore.rc == 0, restore.stdout[-4000:]
        assert DB_PASSWORD not in restore.stdout and SECRET_KEY not in restore.stdout and KEY_A not in restore.stdout
        count = dexec(db1, *psql, "-d", "shop_copy", "-c", "SELECT count(*) FROM res_partner").stdout.strip()
        assert count == "300"
        assert tree_checksums(os.path.join(mountpoint, "filestore", "shop_copy")) == {
            rel: digest for rel, digest in tree_checksums(os.path.join(mountpoint, "filestore", "shop")).items()
            if rel in {f for f, _unused in files}}
    finally:
        dexec(db1, "pg_dropcluster", "15", "main", "--stop", check=False)
        subprocess.run(["docker", "volume", "rm", "-f", volume], check=False, capture_output=True)
