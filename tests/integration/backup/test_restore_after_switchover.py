"""restore.yml and dr_drill.yml right after a switchover, on the simulated hosts (issue 11, the demo's step 7).

db1 + db2 are converged by the postgres role (inventories/local), failover.yml switches the primary over to db2,
a backup is taken (backup.yml), then replay is paused on db1 (now the standby): whatever the restore creates on
db2 cannot reach db1. The playbooks are given the whole db host list, db1 first, as in the embedded default. A
restore that hands pg_restore (or any later connection) the host list instead of the server its first
connection reached stops at db1's startup FATAL ("database ... does not exist"); the drill's scratch Odoo must
be aimed at db2 too (real Odoo writes on `postgres` at start: a standby stops it).

Run with a prefix of your own:
  ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/backup/test_restore_after_switchover.py
"""
from __future__ import annotations

import glob
import json
import os
import secrets
import subprocess
import threading
import time

import pytest

from testbed.hosts import reset_postgres
from testbed.s3 import ACCESS_KEY, SECRET_KEY
from tests.integration.backup.backup_seed import KEY_A, attachments_sql, make_filestore, seed_sql
from tests.integration.harness.env import TEST_PREFIX as PREFIX
from tests.integration.harness.postgres import secrets_file

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]  # converge, switchover, 3 playbooks

STACK = PREFIX.rstrip("-") + "-rs"
ROLE_PLAYBOOK = "tests/integration/postgres/playbooks/role_postgres.yml"
DB_PASSWORD = "rs-sim-" + secrets.token_hex(6)
REPL_PASSWORD = "rs-repl-" + secrets.token_hex(6)
DOUBLE = "odooops/odoo-double:17.0-a"


def dexec(container, *cmd, check=True, input=None):
    res = subprocess.run(["docker", "exec", "-i", container, *cmd], check=False, capture_output=True, text=True,
                         timeout=300, input=input)
    if check:
        assert res.returncode == 0, f"{cmd}: {res.stdout[-1500:]} {res.stderr[-1500:]}"
    return res


def psql(container, sql, db="postgres", check=True, input=None):
    args = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", db]
    args += ["-f", "-"] if input is not None else ["-c", sql]
    return dexec(container, *args, check=check, input=input).stdout.strip()


class LogWatcher(threading.Thread):
    """Keeps the last logs of a container that a playbook starts and removes while it runs."""

    def __init__(self, name: str):
        super().__init__(daemon=True)
        self.name = name
        self.logs = ""
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            res = subprocess.run(["docker", "logs", self.name], check=False, capture_output=True, text=True)
            if res.returncode == 0 and len(res.stdout + res.stderr) >= len(self.logs):
                self.logs = res.stdout + res.stderr
            time.sleep(0.2)


@pytest.fixture(scope="module")
def db_hosts(sim_hosts):
    dbs = [sim_hosts["db1"], sim_hosts["db2"]]
    for c in dbs:
        reset_postgres(c)
    yield sim_hosts
    for c in dbs:
        reset_postgres(c)


def test_restore_and_drill_right_after_switchover(db_hosts, lan_s3, ansible_playbook, tmp_path):
    import boto3

    db1, db2, app1 = db_hosts["db1"], db_hosts["db2"], db_hosts["app1"]
    secret_args = ("-e", "@" + secrets_file(tmp_path, {"odooops_db_password": DB_PASSWORD,
                                                       "odooops_replication_password": REPL_PASSWORD}))
    run = ansible_playbook(ROLE_PLAYBOOK, "--limit", "db", *secret_args, extra_vars={"postgres_memory_mb": 512})
    assert run.rc == 0, run.stdout[-6000:]
    assert psql(db1, "select pg_is_in_recovery()") == "f" and psql(db2, "select pg_is_in_recovery()") == "t"
    # the platform CA on the app host, where the odoo role puts it (this test converges the db tier only)
    ca = dexec(db1, "cat", "/etc/odooops/pki/db-ca.crt").stdout
    dexec(app1, "sh", "-c", "mkdir -p /etc/odooops/pki && cat > /etc/odooops/pki/db-ca.crt", input=ca)

    volume = f"{STACK}-odoo-data"
    scratch_root = f"/var/lib/docker/volumes/{PREFIX}rs-drill-scratch"
    s3 = boto3.client("s3", endpoint_url=lan_s3["endpoint"], region_name="us-east-1",
                      aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    bucket = "rs-sim-" + secrets.token_hex(4)
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    paused = False
    try:
        subprocess.run(["docker", "volume", "create", volume], check=True, capture_output=True)
        mountpoint = subprocess.run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", volume], check=True,
                                    capture_output=True, text=True).stdout.strip()
        files = make_filestore(os.path.join(mountpoint, "filestore", "odoo"), 10)
        psql(db1, None, db="odoo", input="SET ROLE odoo_owner;\n" + seed_sql(partners=200, products=20)
             + attachments_sql(files))

        # the demo's step 6: a planned switchover, db2 is the primary
        switch = ansible_playbook("playbooks/failover.yml", "--limit", "db", *secret_args,
                                  extra_vars={"mode": "switchover"})
        assert switch.rc == 0, switch.stdout[-6000:]
        assert psql(db2, "select pg_is_in_recovery()") == "f" and psql(db1, "select pg_is_in_recovery()") == "t"

        common = {
            "odooops_stack": STACK, "odooops_db_name": "odoo", "odooops_db_password": DB_PASSWORD,
            "odooops_backup_bucket": bucket, "odooops_backup_endpoint_url": lan_s3["lan_endpoint"],
            "odooops_s3_access_key": ACCESS_KEY, "odooops_s3_secret_key": SECRET_KEY,
            "odooops_backup_keys": [{"id": "k1", "key": KEY_A}], "odooops_backup_key_id": "k1"}
        backup = ansible_playbook("playbooks/backup.yml", extra_vars=common)
        assert backup.rc == 0, backup.stdout[-4000:]

        # db1 (the standby) stops replaying: nothing the restore creates on db2 exists there, deterministically
        psql(db1, "select pg_wal_replay_pause()")
        paused = True
        deadline = time.monotonic() + 30
        while psql(db1, "select pg_get_wal_replay_pause_state()") != "paused":
            assert time.monotonic() < deadline, "replay on db1 did not pause"
            time.sleep(0.2)

        restore = ansible_playbook("playbooks/restore.yml", "-v", extra_vars={
            **common, "odooops_restore_target": "odoo_copy"})
        assert restore.rc == 0, restore.stdout[-4000:]
        assert "does not exist" not in restore.stdout
        assert psql(db2, "SELECT count(*) FROM res_partner", db="odoo_copy") == "200"
        # the race was there: db1 has not seen the new database
        assert psql(db1, "SELECT count(*) FROM pg_database WHERE datname = 'odoo_copy'") == "0"

        # the demo's step 7: the DR drill, scratch Odoo included
        reports = tmp_path / "reports"
        watcher = LogWatcher(f"{STACK}-drill-odoo")
        watcher.start()
        try:
            drill = ansible_playbook("playbooks/dr_drill.yml", extra_vars={
                **common, "odooops_drill_pitr": False, "odooops_drill_odoo_image": DOUBLE,
                "odooops_drill_work_dir": scratch_root, "odooops_drill_report_dir": str(reports)})
        finally:
            watcher.stop.set()
            watcher.join(10)
        assert drill.rc == 0, drill.stdout[-6000:]
        [report_path] = glob.glob(str(reports / "drill-odoo-*.json"))
        with open(report_path, encoding="utf-8") as fh:
            report = json.load(fh)
        checks = {c["name"]: c["ok"] for c in report["checks"]}
        assert report["passed"] and checks["odoo_ready"] and checks["rows:res_partner"] and checks["modules"], report
        # the scratch Odoo was aimed at the primary the restore reached, not at the host list (db1 first)
        where = [line for line in watcher.logs.splitlines() if "database: " in line]
        # (db2 by its db address, the db_addresses filter's: its inventory name, which the LAN resolves)
        assert where and where[0].endswith("@db2:5432"), watcher.logs[-3000:]
        assert " ERROR " not in watcher.logs and "CRITICAL" not in watcher.logs, watcher.logs[-3000:]
        # the scratch database was dropped where it was made
        assert psql(db2, "SELECT count(*) FROM pg_database WHERE datname LIKE 'odoo_drill_%'") == "0"
        for out in (backup.stdout, restore.stdout, drill.stdout):
            assert DB_PASSWORD not in out and SECRET_KEY not in out and KEY_A not in out
    finally:
        if paused:
            psql(db1, "select pg_wal_replay_resume()", check=False)
        subprocess.run(["docker", "volume", "rm", "-f", volume], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", scratch_root], check=False, capture_output=True)
