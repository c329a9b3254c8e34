"""backup.yml and dr_drill.yml on the control node against real PostgreSQL, moto and Docker: a database made by
the Odoo test double is backed up, then the drill restores it into scratch, starts a scratch Odoo (the test
double image) on it, checks it, restores the cluster's pgBackRest repository (WAL archived to moto) to a point in
time into a scratch instance and checks that too, and writes the report."""
from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from testbed.procs import free_port
from testbed.s3 import ACCESS_KEY, SECRET_KEY
from tests.integration.backup.backup_seed import KEY_A
from tests.integration.harness.env import TEST_PREFIX as PREFIX

DOUBLE = "odooops/odoo-double:17.0-a"
DB_PASSWORD = "drill-Pw-7f3c9a"


class ContainerInspector(threading.Thread):
    """Samples `docker inspect` of a container (its configuration and, once, its passfile's mode and owner)
    for as long as the drill runs: the scratch Odoo is removed by the drill itself."""

    def __init__(self, name: str):
        super().__init__(daemon=True)
        self.name = name
        self.seen: list[str] = []
        self.passfile = None
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            res = subprocess.run(["docker", "inspect", "-f", "{{json .Config}} {{.State.Running}}", self.name],
                                 check=False, capture_output=True, text=True)
            if res.returncode == 0 and res.stdout.strip().endswith("true"):
                self.seen.append(res.stdout)
                if self.passfile is None:
                    stat = subprocess.run(["docker", "exec", self.name, "stat", "-c", "%a %u",
                                           "/etc/odoo/drill.pgpass"], check=False, capture_output=True, text=True)
                    self.passfile = stat.stdout.strip() if stat.returncode == 0 else None
            time.sleep(0.2)

    def finish(self):
        self.stop_event.set()
        self.join(30)


@pytest.mark.slow
def test_backup_then_drill_with_scratch_odoo(pgbr, moto, s3, s3_bucket, docker_engine, ansible_playbook, tmp_path):
    pg = pgbr["pg"]  # archiving to an encrypted pgBackRest repository on moto
    data = tmp_path / "odoo-data"
    data.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chown(data, 101, 101)
    pg.psql("CREATE ROLE odoo_owner LOGIN CREATEDB")
    pg.psql(f"CREATE ROLE odoo LOGIN PASSWORD '{DB_PASSWORD}' IN ROLE odoo_owner; "
            "ALTER ROLE odoo SET role = odoo_owner")
    # the Odoo double initialises the database as Odoo would (-i ... --stop-after-init)
    init = subprocess.run(["docker", "run", "--rm", "--network", "host", "-v", f"{data}:/var/lib/odoo",
                           "-e", f"PGPASSWORD={DB_PASSWORD}", "--entrypoint", "odoo", DOUBLE, "-d", "shop",
                           "-i", "base,stock", "--stop-after-init", "--without-demo=all", "--db_host", "127.0.0.1",
                           "--db_port", str(pg.port), "--db_user", "odoo", "--data-dir", "/var/lib/odoo"],
                          check=False, capture_output=True, text=True, timeout=180)
    assert init.returncode == 0, init.stdout[-2000:] + init.stderr[-2000:]
    assert int(pg.psql("SELECT count(*) FROM ir_attachment WHERE store_fname IS NOT NULL", dbname="shop")) > 0

    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
              "odooops_stack": PREFIX + "drill", "odooops_db_name": "shop", "odooops_db_password": DB_PASSWORD,
              "odooops_backup_endpoint_url": moto.endpoint, "odooops_backup_bucket": s3_bucket,
              "odooops_s3_access_key": ACCESS_KEY, "odooops_s3_secret_key": SECRET_KEY,
              "odooops_backup_keys": [{"id": "k1", "key": KEY_A}], "odooops_backup_key_id": "k1"}
    backup = ansible_playbook("playbooks/backup.yml", inventory="localhost,", extra_vars={
        **common, "odooops_backup_host": "localhost", "odooops_backup_db_host": "127.0.0.1",
        "odooops_backup_db_port": pg.port, "odooops_backup_db_sslmode": "prefer",
        "odooops_backup_filestore_path": str(data / "filestore" / "shop")})
    assert backup.rc == 0, backup.stdout[-4000:]
    manifests = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]
                 if o["Key"].endswith("manifest.json")]
    assert len(manifests) == 1
    manifest = json.loads(s3.get_object(Bucket=s3_bucket, Key=manifests[0])["Body"].read())
    assert manifest["modules"]["stock"] and manifest["odooops"]["filestore"]["files"] > 0

    pgbr["run"]("--type=full", "backup")
    pg.psql("INSERT INTO res_partner (name) VALUES ('after the pgBackRest backup')", dbname="shop")
    pitr_dir = os.path.join(pgbr["work"], "drill")
    port = free_port()
    reports = tmp_path / "reports"
    inspector = ContainerInspector(PREFIX + "drill-drill-odoo")
    inspector.start()
    try:
        drill = ansible_playbook("playbooks/dr_drill.yml", "-v", inventory="localhost,", extra_vars={
            **common, "odooops_drill_host": "localhost", "odooops_drill_db_host": "127.0.0.1",
            "odooops_drill_db_port": pg.port, "odooops_drill_db_sslmode": "prefer",
            "odooops_drill_odoo_image": DOUBLE, "odooops_drill_odoo_network_mode": "host",
            "odooops_drill_odoo_port": port, "odooops_drill_work_dir": str(tmp_path / "drill"),
            "odooops_drill_report_dir": str(reports), "ansible_become_method": "su",
            "odooops_drill_pitr": True, "odooops_drill_pitr_host": "localhost", "pgbackrest_conf_path": pgbr["conf"],
            "odooops_drill_pitr_dir": pitr_dir, "odooops_drill_pitr_source_socket": pg.sockdir,
            "odooops_drill_pitr_source_port": pg.port, "odooops_drill_pitr_port": free_port(),
            "odooops_drill_pitr_rpo_target_s": 600})
    finally:
        inspector.finish()
    assert drill.rc == 0, drill.stdout[-6000:]
    # the scratch Odoo, seen while it ran: its password only in a 0600 passfile, nothing in what `docker inspect`
    # shows (environment, command, labels)
    assert inspector.seen, "the scratch Odoo was never seen running"
    assert all(DB_PASSWORD not in seen for seen in inspector.seen)
    assert any("PGPASSFILE=/etc/odoo/drill.pgpass" in seen for seen in inspector.seen)
    assert inspector.passfile == "600 101", inspector.passfile
    [report_path] = glob.glob(str(reports / "drill-shop-*.json"))
    with open(report_path, encoding="utf-8") as fh:
        report = json.load(fh)
    print(open(report_path[:-5] + ".txt", encoding="utf-8").read())  # noqa: SIM115 - shown with -s
    checks = {c["name"]: c["ok"] for c in report["checks"]}
    assert report["passed"] and checks["odoo_ready"] and checks["checksums"] and checks["modules"]
    assert checks["rows:res_partner"] and checks["rows:ir_attachment"]
    assert report["rto_s"] > 0 and report["rpo_s"] >= 0
    # the point-in-time half: markers around the target, the Odoo database with the row written after the backup
    assert checks["pitr:marker_before"] and checks["pitr:marker_after"] and checks["pitr:database:shop"]
    assert checks["pitr:restore"] and checks["pitr:recovery"] and checks["pitr:rpo_target"]
    partners = int(pg.psql("SELECT count(*) FROM res_partner", dbname="shop"))
    assert report["pitr"]["tables"]["shop"]["res_partner"] == partners
    assert report["pitr"]["rto_s"] > 0 and report["pitr"]["rpo_s"] is not None
    assert os.listdir(pitr_dir) == [] and pg.psql("SELECT pg_is_in_recovery()") == "f"
    assert os.path.exists(report_path[:-5] + ".txt")
    # the report is also kept in the bucket, outside the backups' prefix
    uploaded = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="drills/shop/")["Contents"]]
    assert len(uploaded) == 1 and json.loads(s3.get_object(Bucket=s3_bucket, Key=uploaded[0])["Body"].read())["passed"]
    # scratch environment removed: database, container, filestore
    assert pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'shop_drill_%'") == "0"
    ps = subprocess.run(["docker", "ps", "-a", "--filter", f"name={PREFIX}drill-drill-odoo", "-q"],
                        check=False, capture_output=True, text=True)
    assert ps.stdout.strip() == ""
    assert os.listdir(tmp_path / "drill") == []
    # the scratch data directory was made by mkdtemp (random name, 0700, the Odoo uid's), not <work>/<db name>
    made = set(re.findall(r"/drill/odooops-drill-[a-z0-9_]{8}\b", drill.stdout))
    assert len(made) == 1, drill.stdout[-3000:]
    for run in (backup, drill):
        for secret in (DB_PASSWORD, SECRET_KEY, KEY_A):
            assert secret not in run.stdout
