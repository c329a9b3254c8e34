"""playbooks/upgrade.yml and rehearse.yml on the simulated hosts (db1 primary + db2 streaming standby, app1):
provision once with the double's 17.0-a image, then - on that one stack, in this order - a gate refusal, a check
run (--check), four automatic rollbacks (update fails, update killed mid-way, smoke check fails, business check
fails under a user writing through the edge), a rehearsal on an anonymised staging copy of the latest backup, a
successful upgrade to 17.0-b, a failed update of the release that serves (rolled back by restarting the same
containers) and a failure after opening (reported, never swapped back).

The module leaves the hosts as it found them: PostgreSQL clusters reset before and after (a previous module's
synchronous primary must not block our writes; ours must not block the next module's), the stack's and staging's
containers, volumes and networks removed.

Run with a prefix of your own:
  ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/upgrade/test_upgrade_playbook.py
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from testbed.hosts import reset_postgres
from testbed.procs import free_port
from testbed.s3 import ACCESS_KEY, SECRET_KEY
from tests.integration.harness.docker import docker
from tests.integration.harness.env import TEST_PREFIX as PREFIX
from tests.integration.harness.odoo_double import IMAGE_A, IMAGE_B

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK = PREFIX.rstrip("-") + "-up"
STAGING = STACK + "-rehearsal"  # rehearse.yml's default: <stack>-rehearsal, database odoo_rehearsal
SECRETS = {
    "odooops_db_password": "db-" + os.urandom(8).hex(),
    "odooops_odoo_admin_password": "master-" + os.urandom(8).hex(),
    "odooops_redis_admin_password": "radmin-" + os.urandom(8).hex(),
    "odooops_redis_odoo_password": "rodoo-" + os.urandom(8).hex(),
    "odooops_replication_password": "repl-" + os.urandom(8).hex(),
    # the smoke checks' Odoo user (odoo_check_login: odooops-check in inventories/local): provision.yml creates it
    "odooops_check_password": "check-" + os.urandom(8).hex(),
}
CHECK_LOGIN = "odooops-check"
VARS = {
    **SECRETS,
    "odooops_stack": STACK,
    "redis_image_build": True,
    "redis_image": "odooops/redis:local",
    "redis_image_build_base": "odooops/debian:bookworm",
    "odoo_drain_image_build_base": "odooops/debian:bookworm",
    "odoo_healthcheck_start_period": "5s",
    "odoo_rollout_timeout": 120,
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
# db2 streams from db1 (provision.yml's roles/postgres): the replication gate is on; no backup exists before the
# rehearsal's: the fresh-backup gate is tested in tests/unit and test_modules_ansible.py
UPGRADE = {
    "upgrade_image": "odooops/odoo-double:17.0-b",
    "upgrade_approval_ref": "CHG-4242",
    "upgrade_business_checks": CHECKS,
    "upgrade_gates": {"enabled": ["freeze_window", "approval_reference", "replication", "disk_headroom",
                                  "long_transactions", "target_image"],
                      "disk_reserve_bytes": 0},
    "upgrade_smoke_wait": 15,
    "upgrade_traefik_maintenance": True,
    "upgrade_update_timeout": 60,
}


def psql(sql: str, db: str = "odoo") -> str:
    res = docker("exec", "-u", "postgres", PREFIX + "db1", "psql", "-XAtq", "-d", db, "-c", sql)
    return res.stdout.strip()


def checksums(db: str = "odoo") -> dict:
    """md5 of every table's rows; ir_cron's lastcall/nextcall left out: the cron container runs jobs whenever it
    runs (also between this snapshot and the maintenance stage), which is Odoo's life, not the upgrade's doing."""
    cols = psql("SELECT table_name || ':' || string_agg(column_name, ',' ORDER BY ordinal_position) "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name NOT IN ('lastcall', 'nextcall') GROUP BY table_name", db)
    parts = []
    for line in cols.splitlines():
        table, columns = line.split(":")
        row = "row(" + ",".join(f'x."{c}"' for c in columns.split(",")) + ")::text"
        parts.append(f"SELECT '{table}', md5(coalesce(string_agg({row}, '|' ORDER BY {row}), '')) FROM {table} x")
    return dict(line.split("|") for line in psql(" UNION ALL ".join(parts), db).splitlines())


def _listed(*filters: str) -> list[list[str]]:
    """name, image, state of the containers matching every filter, in one listing (a `ps` then an `inspect` of
    what it listed fails when a container goes in between, e.g. a one-shot removing itself)."""
    args = [a for f in filters for a in ("--filter", f)]
    out = docker("ps", "-a", *args, "--format", "{{.Names}}\t{{.Image}}\t{{.State}}").stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def web_state(stack: str = STACK) -> list[tuple[str, str, str]]:
    return sorted((n, img, st) for n, img, st in _listed(f"label=org.odooops.stack={stack}",
                                                         "label=org.odooops.odoo-role=web"))


def filestore(stack: str = STACK, db: str = "odoo") -> str:
    res = docker("run", "--rm", "-v", f"{stack}-odoo-data:/d:ro", "--entrypoint", "/bin/sh", IMAGE_A, "-c",
                 f"cd /d/filestore/{db} && find . -type f | sort | xargs -r sha1sum")
    return res.stdout


def failed_copies() -> tuple[set[str], set[str]]:
    """The failed database copies (<db>__failed_<stamp>) a rollback swapped aside, and the filestore's ones."""
    dbs = set(psql("SELECT datname FROM pg_database WHERE datname LIKE 'odoo\\_\\_failed\\_%'", "postgres").split())
    res = docker("run", "--rm", "-v", f"{STACK}-odoo-data:/d:ro", "--entrypoint", "/bin/sh", IMAGE_A, "-c",
                 "ls /d/filestore")
    return dbs, {d for d in res.stdout.split() if d.startswith("odoo__failed_")}


def assert_swapped_aside(copies_before, before: dict, files: str) -> None:
    """What the rollback swapped aside is what the failed upgrade had left - a database partly or wholly updated
    (modules committed at new versions, new asset attachments) and a filestore with the assets it regenerated -
    so the live ones being equal to before proves the swap, not an update that changed nothing."""
    dbs, dirs = failed_copies()
    [failed_db], [failed_dir] = dbs - copies_before[0], dirs - copies_before[1]
    psql(f'ALTER DATABASE "{failed_db}" WITH ALLOW_CONNECTIONS true', "postgres")
    failed = checksums(failed_db)
    assert failed["ir_module_module"] != before["ir_module_module"], "the update committed nothing"
    assert failed["ir_attachment"] != before["ir_attachment"]
    failed_files = set(filestore(db=failed_dir).splitlines())
    assert failed_files > set(files.splitlines()), "the update wrote no file to the filestore"


def edge(path: str, body: dict | None = None) -> tuple[int, str]:
    """An HTTP request through the stack's edge (Traefik or its fallback publisher) on the published port."""
    url = f"http://127.0.0.1:{VARS['traefik_http_port']}{path}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def assert_old_version_serves(web_before, same_containers: bool, image: str = IMAGE_A) -> None:
    """Only containers of the old image serve (the very same ones when they were only stopped), and the edge
    answers with them: the login page (it reads the database) and a JSON-RPC login of the check user. No container
    of the new release is left (when the release was the same image: no web container but the previous ones)."""
    web = web_state()
    assert web and all(img == image and st == "running" for _unused, img, st in web), web
    if same_containers:
        assert web == web_before
    status, page = edge("/web/login")
    assert status == 200 and "password" in page.lower(), (status, page[:300])
    status, answer = edge("/web/session/authenticate", {"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
        "db": "odoo", "login": CHECK_LOGIN, "password": SECRETS["odooops_check_password"]}})
    assert status == 200 and json.loads(answer)["result"]["uid"], answer[:300]
    if image == IMAGE_A:
        assert not [c for c in all_containers() if c[1] == IMAGE_B], all_containers()
    else:
        assert web == web_before, (web, web_before)


class EdgeWriter:
    """A user writing through the edge all along: POST /odooops/attach (the double's route that stores an
    attachment: a row in ir_attachment and a file in the filestore), one request at a time. Every write the edge
    acknowledged (200) is kept by name; the others (maintenance, 502 while no set serves) are only counted."""

    def __init__(self) -> None:
        import threading
        self.tag = "w-" + os.urandom(4).hex()
        self.acked: list[str] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            name = f"{self.tag}-{n}"
            req = urllib.request.Request(f"http://127.0.0.1:{VARS['traefik_http_port']}/odooops/attach?db=odoo&name={name}",
                                         data=name.encode(), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    if resp.status == 200 and json.loads(resp.read())["db"] == "odoo":
                        self.acked.append(name)
                        continue
            except (OSError, ValueError, KeyError):
                pass
            self.refused += 1
            self._stop.wait(0.2)

    def __enter__(self) -> EdgeWriter:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.acked and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.acked, "no write went through the edge before the upgrade"
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(15)

    def lost(self) -> list[str]:
        """Acknowledged writes that are not in the live database."""
        kept = set(psql(f"SELECT name FROM ir_attachment WHERE name LIKE '{self.tag}-%'").split())
        return [n for n in self.acked if n not in kept]


def all_containers() -> list[tuple[str, str]]:
    """(name, image) of every container of the stack, and of any module-update one-shot left behind."""
    return [(n, img) for flt in (f"label=org.odooops.stack={STACK}", "label=org.odooops.purpose=module-update")
            for n, img, _st in _listed(flt)]


def remove_stack(stack: str) -> None:
    ids = docker("ps", "-aq", "--filter", f"label=org.odooops.stack={stack}").stdout.split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)
    # Odoo's data, Redis' and the edge's volumes: named after the stack (not all are labelled)
    for vol in docker("volume", "ls", "-q").stdout.split():
        if vol.startswith(f"{stack}-"):
            docker("volume", "rm", "-f", vol, check=False)
    for net in ("ingress", "app", "data"):
        docker("network", "rm", f"{stack}-{net}", check=False)
    docker("exec", PREFIX + "app1", "rm", "-rf", f"/etc/odooops/{stack}", check=False)


@pytest.fixture(scope="module")
def stack(sim_hosts, ansible_playbook, moto):
    # whatever an earlier module left on these shared hosts (a synchronous primary without its standby, a stack of
    # the same name) is cleared first, and what this module makes is cleared after it
    dbs = [c for n, c in sim_hosts.items() if n.startswith("db")]
    for name in (STACK, STAGING):
        remove_stack(name)
    for c in dbs:
        reset_postgres(c)
    audit_dir = tempfile.mkdtemp(prefix="odooops-upgrade-audit-")
    try:
        first = ansible_playbook("playbooks/provision.yml", extra_vars=VARS)
        assert first.rc == 0, first.stdout[-3000:]
        # a directory of our own: pytest's basetemp keeps only the last 3 runs, and other sessions run in parallel
        bucket = "t-audit-" + os.urandom(4).hex()
        moto.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        env = moto.env()
        # the audit goes to the session's moto server (the local inventory's S3 host is not part of the test bed)
        s3 = {"upgrade_audit_s3_bucket": bucket, "upgrade_s3_endpoint": moto.endpoint,
              "odooops_s3_access_key": env["AWS_ACCESS_KEY_ID"], "odooops_s3_secret_key": env["AWS_SECRET_ACCESS_KEY"]}
        yield {"audit": os.path.join(audit_dir, "upgrades.jsonl"), "dir": audit_dir, "s3": s3, "bucket": bucket,
               "moto": moto}
    finally:
        shutil.rmtree(audit_dir, ignore_errors=True)
        for name in (STACK, STAGING):
            remove_stack(name)
        for c in dbs:
            reset_postgres(c)


def upgrade(ansible_playbook, stack, kill_when=None, **extra):
    extra_vars = {**VARS, **UPGRADE, **stack["s3"], "upgrade_audit_path": stack["audit"], **extra}
    run = ansible_playbook("playbooks/upgrade.yml", extra_vars=extra_vars, kill_when=kill_when)
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


def test_check_mode_changes_nothing_and_reports_the_plan(stack, ansible_playbook):
    before, web, files = checksums(), web_state(), filestore()
    dbs = psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
    run = ansible_playbook("playbooks/upgrade.yml", check=True, extra_vars={
        **VARS, **UPGRADE, **stack["s3"], "upgrade_audit_path": stack["audit"]})
    assert run.rc == 0, run.stdout[-4000:]
    # the gates ran for real and passed; what the upgrade would do is reported
    assert "Gates - evaluate every gate" in run.stdout and "Upgrade refused" not in run.stdout
    assert "Check mode - what the upgrade would do" in run.stdout
    for module in ("stock", "point_of_sale", "sale_management"):
        assert module in run.stdout.split("Check mode - what the upgrade would do")[1]
    assert f"{IMAGE_A} -> {IMAGE_B}" in run.stdout and "outcome: check mode, nothing changed" in run.stdout
    # nothing changed: tables, filestore, containers, databases, no audit line, no object in the audit bucket
    assert checksums() == before and filestore() == files and web_state() == web
    assert psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database") == dbs
    assert audit_records(stack) == [] or all(r["outcome"] != "check" for r in audit_records(stack))
    assert not [o for o in stack["moto"].client().list_objects_v2(Bucket=stack["bucket"]).get("Contents", [])
                if "check" in o["Key"]]
    for secret in SECRETS.values():
        assert secret not in run.stdout + run.stderr


def test_failed_update_rolls_back(stack, ansible_playbook):
    """The update fails in its last module, after the earlier ones were committed (as Odoo's does)."""
    before, web, files, copies = checksums(), web_state(), filestore(), failed_copies()
    run, records = upgrade(ansible_playbook, stack, upgrade_update_env=["ODOO_DOUBLE_FAIL_UPDATE=1"])
    assert run.rc != 0, run.stdout[-3000:]
    rec = records[-1]
    assert rec["outcome"] == "rolled_back", rec
    assert "update" in rec["rollback_reason"] and "exit status 255" in rec["rollback_reason"]
    assert rec["rollback_verified"] is True
    assert checksums() == before and filestore() == files
    assert_swapped_aside(copies, before, files)
    assert web_state() == web  # the same old container serves again
    for secret in SECRETS.values():
        assert secret not in run.stdout + run.stderr + json.dumps(audit_records(stack))


def rolled_back(ansible_playbook, stack, same_containers: bool, reason: list[str], image: str = IMAGE_A,
                **extra) -> dict:
    """One failing upgrade: the old version serves again with every table and the filestore as before, and the
    audit record says why."""
    before, web, files, copies = checksums(), web_state(), filestore(), failed_copies()
    t0 = time.monotonic()
    run, records = upgrade(ansible_playbook, stack, **extra)
    print(f"upgrade.yml run that rolled back: {time.monotonic() - t0:.0f} s")
    assert run.rc != 0, run.stdout[-3000:]
    assert "Upgrade rolled back" in run.stdout
    rec = records[-1]
    assert rec["outcome"] == "rolled_back" and rec["rollback_verified"] is True, rec
    for part in reason:
        assert part in rec["rollback_reason"], rec["rollback_reason"]
    assert rec["rollback_path"] == ("restarted" if same_containers else "redeployed")
    assert checksums() == before and filestore() == files
    assert_swapped_aside(copies, before, files)
    assert_old_version_serves(web, same_containers, image)
    for secret in SECRETS.values():
        assert secret not in run.stdout + run.stderr + json.dumps(rec)
    return rec


def test_killed_update_rolls_back(stack, ansible_playbook):
    """The update hangs in its second module (the double's ODOO_DOUBLE_HANG_UPDATE), the first one committed, and is
    killed at the deadline; the previous containers were only stopped: the very same ones serve again."""
    rec = rolled_back(ansible_playbook, stack, True, ["update:", "did not finish within 8 s and was killed"],
                      upgrade_update_env=["ODOO_DOUBLE_HANG_UPDATE=1"], upgrade_update_timeout=8)
    assert rec["update"]["timed_out"] is True and rec["update"]["exit_code"] is None


def test_failed_smoke_check_rolls_back(stack, ansible_playbook):
    """The new set cannot serve: its libpq options point at a schema that does not exist, as a release whose registry
    fails to load would (/web/health passes, as in Odoo; login page 500, JSON-RPC login refused). Readiness is the
    login page, so the new set never becomes ready (given up once it answered with errors only for the grace) and
    never replaces the old one (the web rollout stops before the cron container is touched): the very same previous
    containers serve again."""
    rec = rolled_back(ansible_playbook, stack, True, ["did not become ready (it answered with errors only"],
                      upgrade_web_env={"PGOPTIONS": "-c search_path=odooops_no_such_schema"},
                      upgrade_ready_error_grace=4)  # it will not get better: do not wait for it long
    assert rec["update"]["exit_code"] == 0  # the update had committed: the swap back undid it


def test_failed_business_check_under_writes_loses_no_acknowledged_write(stack, ansible_playbook):
    """A business check fails, with the default upgrade_traefik_maintenance (false: the edge stays open) and a user
    writing through the edge all along. The new set is verified off the app network, so no user reached the
    updated database before the check failed: the swap back discards no acknowledged write, and the very same
    previous containers serve again (they were only stopped). The double runs no migration code, so the check
    reads what the update does change (a module's version, as a check pinning a validated module would)."""
    checks = [*CHECKS, {"name": "stock release validated", "unchanged": True,
                        "sql": "SELECT latest_version FROM ir_module_module WHERE name = 'stock'"}]
    web, copies = web_state(), failed_copies()
    with EdgeWriter() as writer:
        acked_before = len(writer.acked)
        run, records = upgrade(ansible_playbook, stack, upgrade_business_checks=checks,
                               upgrade_traefik_maintenance=False)
        deadline = time.monotonic() + 30  # writes go on once the old set serves again
        while len(writer.acked) < acked_before + 3 and time.monotonic() < deadline:
            time.sleep(0.5)
    print(f"writes acknowledged: {len(writer.acked)} ({acked_before} before the upgrade), refused: {writer.refused}")
    assert run.rc != 0 and "Upgrade rolled back" in run.stdout, run.stdout[-3000:]
    rec = records[-1]
    assert rec["outcome"] == "rolled_back" and rec["rollback_verified"] is True, rec
    for part in ("verify:", "business checks differ from the baseline", "stock release validated"):
        assert part in rec["rollback_reason"], rec["rollback_reason"]
    assert rec["update"]["exit_code"] == 0 and rec["rollback_path"] == "restarted"
    assert len(writer.acked) >= acked_before + 3, "no write went through after the rollback"
    assert writer.lost() == [], f"acknowledged writes discarded by the rollback: {writer.lost()}"
    # what was swapped aside is the updated database, without any of the user's writes made during the upgrade
    dbs, _unused = failed_copies()
    [failed_db] = dbs - copies[0]
    psql(f'ALTER DATABASE "{failed_db}" WITH ALLOW_CONNECTIONS true', "postgres")
    assert psql("SELECT latest_version FROM ir_module_module WHERE name = 'stock'", failed_db) == "17.0.1.2"
    assert psql("SELECT latest_version FROM ir_module_module WHERE name = 'stock'") == "17.0.1.1"
    assert_old_version_serves(web, same_containers=True)


def test_rehearsal_on_anonymised_staging(stack, ansible_playbook, lan_s3):
    """backup.yml to the LAN's object storage, then rehearse.yml: the latest backup restored into staging
    (<stack>-rehearsal, odoo_rehearsal), neutralised and anonymised, served with production's image, and upgraded
    to 17.0-b by upgrade.yml there; production is left exactly as it was."""
    import boto3

    bucket = "t-backups-" + os.urandom(4).hex()
    boto3.client("s3", endpoint_url=lan_s3["endpoint"], region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                 aws_secret_access_key=SECRET_KEY).create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    backup_vars = {"odooops_backup_bucket": bucket, "odooops_backup_endpoint_url": lan_s3["lan_endpoint"],
                   "odooops_s3_access_key": ACCESS_KEY, "odooops_s3_secret_key": SECRET_KEY,
                   "odooops_backup_keys": [{"id": "k1", "key": base64.b64encode(os.urandom(32)).decode()}],
                   "odooops_backup_key_id": "k1"}
    # a staff user with a personal login, as real databases have (the double seeds only technical ones)
    psql("INSERT INTO res_users (login, password, active) VALUES ('anne.cashier@shop.example', NULL, true)")
    backup = ansible_playbook("playbooks/backup.yml", extra_vars={**VARS, **backup_vars})
    assert backup.rc == 0, backup.stdout[-3000:]

    # the source's personal data, and production as it is before the rehearsal
    rows = psql("SELECT concat_ws(chr(31), name, email, phone, street) FROM res_partner").splitlines()
    personal = {v for row in rows for v in row.split(chr(31)) if v}
    logins = set(psql("SELECT login FROM res_users").split()) - {"__system__", "admin", "public", CHECK_LOGIN}
    assert len(personal) > 50 and logins == {"anne.cashier@shop.example"}
    assert int(psql("SELECT count(*) FROM ir_cron WHERE active")) > 0
    assert int(psql("SELECT count(*) FROM ir_mail_server WHERE active")) > 0
    before, web, files = checksums(), web_state(), filestore()
    key = "anon-" + os.urandom(12).hex()

    extra = {**VARS, **UPGRADE, **stack["s3"], **backup_vars, "upgrade_audit_path": stack["audit"],
             "odooops_anonymize_key": key}
    extra["odooops_s3_access_key"], extra["odooops_s3_secret_key"] = ACCESS_KEY, SECRET_KEY
    t0 = time.monotonic()
    run = ansible_playbook("playbooks/rehearse.yml", extra_vars=extra)
    print(f"rehearse.yml: {time.monotonic() - t0:.0f} s")
    assert run.rc == 0, run.stdout[-5000:]

    # staging: no real name, e-mail, phone or street of the source left; logins pseudonymised; crons and mail off
    staged = psql("SELECT concat_ws(chr(31), name, email, phone, street) FROM res_partner", "odoo_rehearsal")
    left = {v for row in staged.splitlines() for v in row.split(chr(31)) if v} & personal
    assert not left, left
    assert not set(psql("SELECT login FROM res_users", "odoo_rehearsal").split()) & logins
    # ... but the check user keeps its login: the rehearsal's smoke checks log in as it, as production's do
    assert CHECK_LOGIN in psql("SELECT login FROM res_users WHERE active", "odoo_rehearsal").split()
    assert psql("SELECT count(*) FROM ir_cron WHERE active", "odoo_rehearsal") == "0"
    assert psql("SELECT count(*) FROM ir_mail_server WHERE active", "odoo_rehearsal") == "0"
    assert psql("SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'", "odoo_rehearsal")
    # the upgrade ran there: staging's modules at 17.0-b's versions, served by the new image; report and audit
    assert psql("SELECT latest_version FROM ir_module_module WHERE name = 'stock'", "odoo_rehearsal") == "17.0.1.2"
    staging_web = web_state(STAGING)
    assert staging_web and all(img == IMAGE_B and st == "running" for _unused, img, st in staging_web), staging_web
    [report_path] = [os.path.join(stack["dir"], f) for f in os.listdir(stack["dir"]) if f.startswith("rehearsal-")]
    with open(report_path, encoding="utf-8") as fh:
        report = json.load(fh)
    print("rehearsal report:", json.dumps({k: report[k] for k in ("duration_s", "outcome", "upgrade_stages")}))
    assert report["outcome"] == "success" and float(report["duration_s"]) > 0
    assert report["staging"] == {"stack": STAGING, "database": "odoo_rehearsal"} and report["backup_id"]
    assert {"maintenance", "snapshot", "update", "verify"} <= set(report["upgrade_stages"])
    assert report["anonymised"] and report["neutralised"]
    rec = audit_records(stack)[-1]
    assert rec["run"] == report["run"] and rec["rehearsal"] is True and rec["stack"] == STAGING
    assert rec["outcome"] == "success"
    # production untouched: every table, the filestore, the same containers of the old image, the edge serving
    assert checksums() == before and filestore() == files and web_state() == web
    assert psql("SELECT latest_version FROM ir_module_module WHERE name = 'stock'") == "17.0.1.1"
    assert edge("/web/login")[0] == 200
    for secret in [*SECRETS.values(), key, backup_vars["odooops_backup_keys"][0]["key"]]:
        assert secret not in run.stdout + run.stderr + backup.stdout + json.dumps(report)


def upgrade_state() -> dict | None:
    """The app host's record of an upgrade in progress of the stack (playbooks/tasks/upgrade_state.yml)."""
    res = docker("exec", PREFIX + "app1", "cat", f"/var/lib/odooops/upgrade/{STACK}.json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def killed_then_recovered(ansible_playbook, stack, stage: str, **extra):
    """An upgrade whose ansible-playbook is killed (the whole process group, as when the control node is lost)
    once the app host records `stage`, then a rerun of upgrade.yml: it finds the record, recovers, and upgrades
    nothing. Returns the rerun and the recovery's audit record."""
    def at_stage() -> bool:
        if (upgrade_state() or {}).get("stage") != stage:
            return False
        # at `prepare`, once the target image's set exists (created, not started): the recovery must remove it
        return stage != "prepare" or any(img == extra.get("upgrade_image", IMAGE_B) for _n, img, _s in web_state())

    killed, _unused = upgrade(ansible_playbook, stack, kill_when=at_stage, **extra)
    assert killed.rc == -9, f"the run ended before its stage {stage}: {killed.stdout[-3000:]}"
    if stage == "prepare":  # the prepared set was there, created and never started, when the run died
        assert [s for _n, img, s in web_state() if img == extra.get("upgrade_image", IMAGE_B)] and \
            all(s == "created" for _n, img, s in web_state() if img == extra.get("upgrade_image", IMAGE_B)), web_state()
    state = upgrade_state()
    assert state and state["stage"] == stage and state["image_target"] == extra.get("upgrade_image", IMAGE_B)
    time.sleep(3)  # what the dead run had started on the hosts (a container stop, a snapshot) goes on meanwhile
    rerun, records = upgrade(ansible_playbook, stack, **extra)
    assert rerun.rc != 0 and "Nothing else was done: run upgrade.yml again to upgrade" in rerun.stdout, \
        rerun.stdout[-4000:]
    assert upgrade_state() is None, f"the record of the recovered upgrade is left: {rerun.stdout[-4000:]}"
    rec = records[-1]
    assert rec["recovers"] == state["run"] and rec["interrupted_stage"] == stage, rec
    for secret in SECRETS.values():
        assert secret not in killed.stdout + rerun.stdout + rerun.stderr + json.dumps(rec)
    return rerun, rec


@pytest.mark.parametrize("stage", ["prepare", "maintenance", "snapshot", "update", "verify"])
def test_killed_run_is_rolled_back_by_the_next(stack, ansible_playbook, stage):
    """Killed at each stage before opening (at `update`, the module update hangs so the kill lands while it
    runs: the rerun must stop it before swapping): the rerun rolls the upgrade back, every table and the
    filestore are as before, the old version serves through the edge (at `prepare` the very same containers never
    stopped; what was prepared is removed), and no module update is left running."""
    before, web, files = checksums(), web_state(), filestore()
    # at `update`, the update hangs in its second module: the first one is committed when the run is killed
    extra = {"upgrade_update_env": ["ODOO_DOUBLE_HANG_UPDATE=1"], "upgrade_update_timeout": 600} \
        if stage == "update" else {}
    rerun, rec = killed_then_recovered(ansible_playbook, stack, stage, **extra)
    assert rec["outcome"] == "recovered_rolled_back" and rec["rollback_verified"] is True, rec
    assert "rolled back, the previous version serves again" in rerun.stdout
    assert checksums() == before and filestore() == files
    assert_old_version_serves(web, same_containers=True)
    assert not docker("ps", "-aq", "--filter", "label=org.odooops.purpose=module-update").stdout.split()


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
    assert all(img == "odooops/odoo-double:17.0-b" and st == "running" for _unused, img, st in web_state())
    assert set(rec["stages"]) >= {"maintenance", "snapshot", "update", "open", "verify", "maintenance_window"}
    assert "odoo__pre_upgrade" not in psql("SELECT string_agg(datname, ',') FROM pg_database")
    # the same record in S3 under Object Lock
    client = stack["moto"].client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=stack["bucket"]).get("Contents", [])]
    bodies = [json.loads(client.get_object(Bucket=stack["bucket"], Key=k)["Body"].read()) for k in keys]
    assert any(b["run"] == rec["run"] and b["outcome"] == "success" for b in bodies)
    key = next(k for k, b in zip(keys, bodies, strict=True) if b["run"] == rec["run"])
    assert client.head_object(Bucket=stack["bucket"], Key=key)["ObjectLockMode"] == "COMPLIANCE"


def test_failed_update_of_the_serving_release_restarts_the_same_containers(stack, ansible_playbook):
    """Runs after the successful upgrade: `-u all` of the image that serves (17.0-b to 17.0-b, as make demo's failing
    upgrade does) fails in its last module. The previous containers are told from the new release's by name, not
    by image, so the rollback takes the fast path: the very same containers serve again, nothing is redeployed."""
    rec = rolled_back(ansible_playbook, stack, True, ["update:", "exit status 255"], IMAGE_B, upgrade_image=IMAGE_B,
                      upgrade_modules=["all"], upgrade_update_env=["ODOO_DOUBLE_FAIL_UPDATE=1"])
    assert rec["image_before"] == rec["image_target"] == IMAGE_B


def test_failure_after_open_is_reported_not_swapped(stack, ansible_playbook):
    """Runs after the successful upgrade: `-u all` again with the same image (the very same web containers are
    stopped, verified privately, then opened), and the edge check after opening fails (upgrade_open_check_url
    points where nothing answers). Users could write from the open stage on, so nothing is swapped back: the
    run fails with outcome failed_after_open and the rows written since opening, the updated database stays live
    with every acknowledged write, and the pre-upgrade snapshot is kept for an operator's decision."""
    copies = failed_copies()
    with EdgeWriter() as writer:
        run, records = upgrade(ansible_playbook, stack, upgrade_image=IMAGE_B, upgrade_modules=["all"],
                               upgrade_traefik_maintenance=False, upgrade_open_check_url="http://127.0.0.1:9",
                               upgrade_smoke_wait=5)
        time.sleep(2)
    print(f"writes acknowledged: {len(writer.acked)}, refused: {writer.refused}")
    assert run.rc != 0 and "failed after opening, NOT rolled back" in run.stdout, run.stdout[-3000:]
    assert "Upgrade rolled back" not in run.stdout
    rec = records[-1]
    assert rec["outcome"] == "failed_after_open", rec
    assert "open:" in rec["rollback_reason"] and "rows written" in rec["rollback_reason"], rec["rollback_reason"]
    # the writer went on through the edge while the edge check waited: rows were written after opening
    assert isinstance(rec["writes_since_open"], int) and rec["writes_since_open"] > 0, rec
    assert rec["rollback_path"] is None and rec["rollback_verified"] is None
    assert failed_copies() == copies, "a database or filestore was swapped aside"
    assert "odoo__pre_upgrade" in psql("SELECT string_agg(datname, ',') FROM pg_database", "postgres")
    assert writer.lost() == [], f"acknowledged writes lost: {writer.lost()}"
    web = web_state()
    assert web and all(img == IMAGE_B and st == "running" for _unused, img, st in web), web
    assert edge("/web/login")[0] == 200
    for secret in SECRETS.values():
        assert secret not in run.stdout + run.stderr + json.dumps(rec)


def test_run_killed_while_opening_is_completed_by_the_next(stack, ansible_playbook):
    """Killed once opening had begun (`-u all` with the same image, after the tests above): users could already
    write, so the rerun never swaps back; it completes the opening (the verified set serves through the edge, the
    cron runs) and keeps the snapshot."""
    rerun, rec = killed_then_recovered(ansible_playbook, stack, "open", upgrade_image=IMAGE_B, upgrade_modules=["all"],
                                       upgrade_traefik_maintenance=False)
    assert rec["outcome"] == "recovered_completed", rec
    web = web_state()
    assert web and all(img == IMAGE_B and st == "running" for _unused, img, st in web), web
    assert edge("/web/login")[0] == 200
    assert "odoo__pre_upgrade" in psql("SELECT string_agg(datname, ',') FROM pg_database", "postgres")
    cron = docker("ps", "--filter", f"label=org.odooops.stack={STACK}", "--filter", "label=org.odooops.odoo-role=cron",
                  "--format", "{{.Image}}").stdout.split()
    assert cron == [IMAGE_B], cron
