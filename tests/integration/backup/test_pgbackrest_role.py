"""roles/pgbackrest on the simulated db1 host: check mode, apply, idempotence, then the real effect (archiving to
an encrypted S3 repository works: `pgbackrest check` and a full backup), then playbooks/restore.yml in PITR mode
to a target time. S3 = the simulated LAN's object storage (`lan_s3`: moto behind stunnel TLS, host `s3`)."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import time

import pytest

from testbed.s3 import ACCESS_KEY, SECRET_KEY
from tests.integration.harness.env import TEST_PREFIX as PREFIX

HERE = os.path.dirname(__file__)


def dexec(container, *cmd, check=True):
    res = subprocess.run(["docker", "exec", container, *cmd], check=False, capture_output=True, text=True, timeout=180)
    if check:
        assert res.returncode == 0, f"{cmd}: {res.stdout[-1500:]} {res.stderr[-1500:]}"
    return res


@pytest.fixture
def pgbr_repo(lan_s3):
    """A bucket on the simulated LAN's object storage (the `s3` host: moto behind stunnel TLS on 443)."""
    import boto3

    client = boto3.client("s3", endpoint_url=lan_s3["endpoint"], region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    bucket = "pgbr-role-" + secrets.token_hex(4)
    client.create_bucket(Bucket=bucket)
    return {"client": client, "bucket": bucket}


@pytest.mark.slow
def test_role_archives_to_encrypted_s3(sim_hosts, pgbr_repo, ansible_playbook, tmp_path):
    db1 = sim_hosts["db1"]
    dexec(db1, "pg_createcluster", "15", "main", "--start")
    try:
        cipher = secrets.token_urlsafe(30)
        extra = {"ansible_become_method": "su", "odooops_stack": PREFIX + "stack",
                 "odooops_s3_access_key": ACCESS_KEY, "odooops_s3_secret_key": SECRET_KEY,
                 "odooops_pgbackrest_cipher_pass": cipher, "pgbackrest_repo_bucket": pgbr_repo["bucket"],
                 "pgbackrest_repo_endpoint": "s3", "pgbackrest_repo_port": 443,
                 "pgbackrest_repo_verify_tls": False, "pgbackrest_install_cron": False,
                 "pgbackrest_archive_timeout": 30}
        playbook = os.path.join(HERE, "playbooks", "pgbackrest_role.yml")
        check = ansible_playbook(playbook, extra_vars=extra, check=True)
        assert check.rc == 0, check.stdout[-3000:]
        assert dexec(db1, "test", "-e", "/etc/pgbackrest/pgbackrest.conf", check=False).returncode == 1

        first = ansible_playbook(playbook, "-v", extra_vars=extra)
        assert first.rc == 0, first.stdout[-4000:]
        assert first.changed() > 0
        second = ansible_playbook(playbook, extra_vars=extra)
        assert second.rc == 0 and second.changed() == 0, (second.changed_tasks(), second.stdout[-3000:])
        for run in (check, first, second):
            assert cipher not in run.stdout and SECRET_KEY not in run.stdout

        stat = dexec(db1, "stat", "-c", "%a %U", "/etc/pgbackrest/pgbackrest.conf").stdout.split()
        assert stat == ["600", "postgres"]
        psql = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c"]
        assert dexec(db1, *psql, "SHOW archive_mode").stdout.strip() == "on"
        assert dexec(db1, *psql, "SHOW archive_timeout").stdout.strip() == "30s"
        pgbr = ["runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=odoo"]
        dexec(db1, *pgbr, "check")
        dexec(db1, *pgbr, "--type=full", "backup")
        assert "status: ok" in dexec(db1, *pgbr, "info").stdout
        info = pgbr_repo["client"].get_object(
            Bucket=pgbr_repo["bucket"], Key=f"pgbackrest/{PREFIX}stack/backup/odoo/backup.info")["Body"].read()
        assert info.startswith(b"Salted__")  # repository encrypted

        # the DR drill's PITR half with its defaults (Debian layout: no postgresql.conf in the data directory)
        dexec(db1, *psql, "CREATE DATABASE shop")
        dexec(db1, *pgbr, "--type=incr", "backup")
        result = tmp_path / "pitr.json"
        drill = ansible_playbook(os.path.join(HERE, "playbooks", "pitr_drill.yml"),
                                 extra_vars={**extra, "pitr_result_path": str(result)})
        assert drill.rc == 0, drill.stdout[-3000:]
        out = json.loads(result.read_text())
        assert out["check"]["check_mode"] and dexec(db1, "ls", "/var/lib/postgresql/odooops-drill").stdout == ""
        assert out["drill"]["passed"], out["drill"]
        assert {c["name"] for c in out["drill"]["checks"]} >= {"marker_before", "marker_after", "database:shop"}
        assert dexec(db1, *psql, "SELECT pg_is_in_recovery()").stdout.strip() == "f"

        # restore.yml, PITR: rows before the target time come back, rows after it do not
        dexec(db1, *psql, "CREATE TABLE sale (tag text); INSERT INTO sale SELECT 'before' FROM generate_series(1, 7)")
        time.sleep(1.2)
        target = dexec(db1, *psql, "SELECT clock_timestamp()::text").stdout.strip()
        time.sleep(1.2)
        dexec(db1, *psql, "INSERT INTO sale SELECT 'after' FROM generate_series(1, 5)")
        dexec(db1, *pgbr, "check")  # the WAL holding the later rows is archived too
        pitr = ansible_playbook("playbooks/restore.yml", extra_vars={
            "ansible_become_method": "su", "odooops_restore_method": "pitr", "odooops_restore_target_time": target})
        assert pitr.rc == 0, pitr.stdout[-3000:]
        assert dexec(db1, *psql, "SELECT pg_is_in_recovery()").stdout.strip() == "f"
        assert dexec(db1, *psql, "SELECT tag || ':' || count(*) FROM sale GROUP BY tag").stdout.split() == ["before:7"]
    finally:
        dexec(db1, "pg_dropcluster", "15", "main", "--stop", check=False)
        dexec(db1, "rm", "-rf", "/etc/pgbackrest", "/var/log/pgbackrest", "/var/spool/pgbackrest", check=False)
