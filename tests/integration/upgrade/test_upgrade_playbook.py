"""playbooks/upgrade.yml on the simulated hosts (db1, app1): provision with the double's 17.0-a image, then
upgrade to 17.0-b - refused by gates, rolled back after a failed update, and successful.

Run with a prefix of your own:
  ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/upgrade/test_upgrade_playbook.py
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from testbed.procs import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = os.environ.get("ODOOOPS_TEST_PREFIX", "odooops-t-")
STACK = PREFIX.rstrip("-") + "-up"
SECRETS = {
    "odooops_db_password": "db-" + os.urandom(8).hex(),
    "odooops_odoo_admin_password": "master-" + os.urandom(8).hex(),
    "odooops_redis_admin_password": "radmin-" + os.urandom(8).hex(),
    "odooops_redis_odoo_password": "rodoo-" + os.urandom(8).hex(),
    "odooops_replication_password": "repl-" + os.urandom(8).hex(),
}
VARS = {
    **SECRETS,
    "odooops_stack": STACK,
    "redis_image_build": True,
    "redis_image": "odooops/redis:local",
    "redis_image_build_base": "odooops/debian:bookworm",
    "odoo_healthcheck_start_period": "5s",
    "odoo_rollout_timeout": 30,
    "odoo_web_replicas": 1,
    # published host ports of this stack's edge: free ones, so that other stacks on the engine do not clash
    "traefik_http_port": free_port(),
    "traefik_https_port": free_port(),
    # the modules release 17.0-b of the double changes
    "odoo_init_modules": ["base", "web", "stock", "point_of_sale", "sale_management"],
}
CHECKS = [
    {"name": "priced products", "sql": "SELECT count(*) FROM product_template WHERE list_price > 0", "unchanged": True},
    {"name": "open POS sessions", "sql": "SELECT count(*) FROM pos_session WHERE state = 'opened'", "unchanged": True},
]
# the test bed has one primary and no standby: the replication gate is off here (tested in tests/unit, and against
# a real standby in test_baseline.py); no backup exists yet: the gate reads a backup record given as a fact
UPGRADE = {
    "upgrade_image": "odooops/odoo-double:17.0-b",
    "upgrade_approval_ref": "CHG-4242",
    "upgrade_business_checks": CHECKS,
    "upgrade_check_login": "check",
    "upgrade_check_password": "check",
    "upgrade_gates": {"enabled": ["freeze_window", "approval_reference", "disk_headroom", "long_transactions",
                                  "target_image"],
                      "disk_reserve_bytes": 0},
    "upgrade_smoke_wait": 15,
    "upgrade_traefik_maintenance": True,
    "upgrade_update_timeout": 60,
}


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120)


def psql(sql: str) -> str:
    res = docker("exec", "-u", "postgres", PREFIX + "db1", "psql", "-XAtq", "-d", "odoo", "-c", sql)
    return res.stdout.strip()


def checksums() -> dict:
    """md5 of every table's rows; ir_cron's lastcall/nextcall left out: the cron container runs jobs whenever it
    runs (also between this snapshot and the maintenance stage), which is Odoo's life, not the upgrade's doing."""
    cols = psql("SELECT table_name || ':' || string_agg(column_name, ',' ORDER BY ordinal_position) "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name NOT IN ('lastcall', 'nextcall') GROUP BY table_name")
    parts = []
    for line in cols.splitlines():
        table, columns = line.split(":")
        row = "row(" + ",".join(f'x."{c}"' for c in columns.split(",")) + ")::text"
        parts.append(f"SELECT '{table}', md5(coalesce(string_agg({row}, '|' ORDER BY {row}), '')) FROM {table} x")
    return dict(line.split("|") for line in psql(" UNION ALL ".join(parts)).splitlines())


def web_state() -> list[tuple[str, str, str]]:
    ids = docker("ps", "-aq", "--filter", f"label=org.odooops.stack={STACK}",
                 "--filter", "label=org.odooops.odoo-role=web").stdout.split()
    return sorted((i["Name"].lstrip("/"), i["Config"]["Image"], i["State"]["Status"])
                  for i in json.loads(docker("inspect", *ids).stdout)) if ids else []


def filestore() -> str:
    res = docker("run", "--rm", "-v", f"{STACK}-odoo-data:/d:ro", "--entrypoint", "/bin/sh",
                 "odooops/odoo-double:17.0-a", "-c", "cd /d/filestore/odoo && find . -type f | sort | xargs -r sha1sum")
    return res.stdout


@pytest.fixture(scope="module")
def stack(sim_hosts, ansible_playbook, moto):
    first = ansible_playbook("playbooks/provision.yml", extra_vars=VARS)
    assert first.rc == 0, first.stdout[-3000:]
    # a directory of our own: pytest's basetemp keeps only the last 3 runs, and other sessions run in parallel
    audit_dir = tempfile.mkdtemp(prefix="odooops-upgrade-audit-")
    bucket = "t-audit-" + os.urandom(4).hex()
    moto.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    env = moto.env()
    # the audit goes to the session's moto server (the local inventory's S3 host is not part of the test bed)
    s3 = {"upgrade_audit_s3_bucket": bucket, "upgrade_s3_endpoint": moto.endpoint,
          "odooops_s3_access_key": env["AWS_ACCESS_KEY_ID"], "odooops_s3_secret_key": env["AWS_SECRET_ACCESS_KEY"]}
    yield {"audit": os.path.join(audit_dir, "upgrades.jsonl"), "s3": s3, "bucket": bucket, "moto": moto}
    shutil.rmtree(audit_dir, ignore_errors=True)
    ids = docker("ps", "-aq", "--filter", f"label=org.odooops.stack={STACK}").stdout.split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)
    for vol in docker("volume", "ls", "-q", "--filter", f"name={STACK}").stdout.split():
        docker("volume", "rm", vol, check=False)
    for net in ("ingress", "app", "data"):
        docker("network", "rm", f"{STACK}-{net}", check=False)
    docker("exec", "-u", "postgres", PREFIX + "db1", "psql", "-c", "DROP DATABASE IF EXISTS odoo WITH (FORCE)",
           check=False)


def upgrade(ansible_playbook, stack, **extra):
    extra_vars = {**VARS, **UPGRADE, **stack["s3"], "upgrade_audit_path": stack["audit"], **extra}
    run = ansible_playbook("playbooks/upgrade.yml", extra_vars=extra_vars)
    return run, audit_records(stack)


def audit_records(stack) -> list[dict]:
    if not os.path.exists(stack["audit"]):
        return []
    with open(stack["audit"], encoding="utf-8") as fh:
        return [json.loads(x) for x in fh.read().splitlines()]


def test_gate_refusal_changes_nothing(stack, ansible_playbook):
    before, web, files = checksums(), web_state(), filestore()
    run, records = upgrade(ansible_playbook, stack, upgrade_approval_ref="no ticket",
                           upgrade_gates={**UPGRADE["upgrade_gates"], "freeze_windows": [
                               {"name": "all-year", "start": "2000-01-01T00:00", "end": "2100-01-01T00:00"}]})
    assert run.rc != 0
    assert "Upgrade refused, nothing was changed" in run.stdout
    assert "freeze_window: inside freeze window all-year" in run.stdout
    assert "approval_reference: approval reference 'no ticket' does not match" in run.stdout
    assert checksums() == before and web_state() == web and filestore() == files
    assert records[-1]["outcome"] == "refused" and "all-year" in records[-1]["reason"]
    for secret in SECRETS.values():
        assert secret not in run.stdout + run.stderr


def test_failed_update_rolls_back(stack, ansible_playbook):
    before, web, files = checksums(), web_state(), filestore()
    run, records = upgrade(ansible_playbook, stack, upgrade_update_env=["ODOO_DOUBLE_FAIL_UPDATE=1"])
    assert run.rc != 0, run.stdout[-3000:]
    rec = records[-1]
    assert rec["outcome"] == "rolled_back", rec
    assert "update" in rec["rollback_reason"] and "exit status 255" in rec["rollback_reason"]
    assert rec["rollback_verified"] is True
    assert checksums() == before and filestore() == files
    assert [(n, i, s) for n, i, s in web_state()] == web  # the same old container serves again
    for secret in SECRETS.values():
        assert secret not in run.stdout + run.stderr + json.dumps(audit_records(stack))


def test_successful_upgrade(stack, ansible_playbook):
    run, records = upgrade(ansible_playbook, stack)
    assert run.rc == 0, run.stdout[-4000:]
    rec = records[-1]
    assert rec["outcome"] == "success" and rec["approval_ref"] == "CHG-4242"
    assert set(rec["changed_modules"]) <= {"stock", "point_of_sale", "sale_management"}
    versions = dict(line.split("|") for line in psql(
        "SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'").splitlines())
    for name, change in rec["changed_modules"].items():
        assert versions[name] == change["to"]
    assert all(img == "odooops/odoo-double:17.0-b" and st == "running" for _, img, st in web_state())
    assert set(rec["stages"]) >= {"maintenance", "snapshot", "update", "open", "verify", "maintenance_window"}
    assert "odoo__pre_upgrade" not in psql("SELECT string_agg(datname, ',') FROM pg_database")
    # the same record in S3 under Object Lock
    client = stack["moto"].client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=stack["bucket"]).get("Contents", [])]
    bodies = [json.loads(client.get_object(Bucket=stack["bucket"], Key=k)["Body"].read()) for k in keys]
    assert any(b["run"] == rec["run"] and b["outcome"] == "success" for b in bodies)
    key = next(k for k, b in zip(keys, bodies, strict=True) if b["run"] == rec["run"])
    assert client.head_object(Bucket=stack["bucket"], Key=key)["ObjectLockMode"] == "COMPLIANCE"
