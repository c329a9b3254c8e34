"""roles/pgbackrest on the simulated db1 host: check mode, apply, idempotence, then the real effect (archiving to
an encrypted S3 repository works: `pgbackrest check` and a full backup), then playbooks/restore.yml in PITR mode
to a target time. S3 = moto behind stunnel on the test network's gateway address (reachable from the containers)."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from testbed.procs import ManagedProcess, free_port, port_open, wait_for
from testbed.s3 import ACCESS_KEY, ROOT, SECRET_KEY

HERE = os.path.dirname(__file__)
PREFIX = os.environ.get("ODOOOPS_TEST_PREFIX", "odooops-t-")


def dexec(container, *cmd, check=True):
    res = subprocess.run(["docker", "exec", container, *cmd], capture_output=True, text=True, timeout=180)
    if check:
        assert res.returncode == 0, f"{cmd}: {res.stdout[-1500:]} {res.stderr[-1500:]}"
    return res


@pytest.fixture
def lan_s3(sim_hosts):
    """moto + stunnel bound to the gateway of the tests' network (the containers' view of this machine)."""
    gw = subprocess.run(["docker", "network", "inspect", PREFIX + "lan", "-f", "{{(index .IPAM.Config 0).Gateway}}"],
                        capture_output=True, text=True, check=True).stdout.strip()
    os.makedirs(ROOT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="lan-s3-", dir=ROOT)
    http_port, tls_port = free_port(gw), free_port(gw)
    moto = ManagedProcess([os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", gw, "-p",
                           str(http_port)], log_path=os.path.join(work, "moto.log"))
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={gw}",
                    "-addext", f"subjectAltName=IP:{gw}", "-keyout", key, "-out", cert], check=True,
                   capture_output=True)
    conf = os.path.join(work, "stunnel.conf")
    with open(conf, "w", encoding="utf-8") as fh:
        fh.write(f"foreground = yes\npid =\n[s3]\naccept = {gw}:{tls_port}\nconnect = {gw}:{http_port}\n"
                 f"cert = {cert}\nkey = {key}\n")
    tls = ManagedProcess(["stunnel4", conf], log_path=os.path.join(work, "stunnel.log"))
    try:
        wait_for(lambda: port_open(http_port, gw) and port_open(tls_port, gw), 30, what="moto + stunnel on LAN")
        import boto3

        client = boto3.client("s3", endpoint_url=f"http://{gw}:{http_port}", region_name="us-east-1",
                              aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        client.create_bucket(Bucket="pgbr-role")
        yield {"gw": gw, "port": tls_port, "client": client}
    finally:
        tls.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.slow
def test_role_archives_to_encrypted_s3(sim_hosts, lan_s3, ansible_playbook):
    db1 = sim_hosts["db1"]
    dexec(db1, "pg_createcluster", "15", "main", "--start")
    try:
        cipher = secrets.token_urlsafe(30)
        extra = {"ansible_become_method": "su", "odooops_stack": PREFIX + "stack",
                 "odooops_s3_access_key": ACCESS_KEY, "odooops_s3_secret_key": SECRET_KEY,
                 "odooops_pgbackrest_cipher_pass": cipher, "pgbackrest_repo_bucket": "pgbr-role",
                 "pgbackrest_repo_endpoint": lan_s3["gw"], "pgbackrest_repo_port": lan_s3["port"],
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
        assert second.rc == 0 and second.changed() == 0, second.stdout[-3000:]
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
        info = lan_s3["client"].get_object(Bucket="pgbr-role",
                                           Key=f"pgbackrest/{PREFIX}stack/backup/odoo/backup.info")["Body"].read()
        assert info.startswith(b"Salted__")  # repository encrypted

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
