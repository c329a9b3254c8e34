"""The upgrade sequence at module level: the Odoo test double's images (17.0-a -> 17.0-b) run with Docker against a
real PostgreSQL 15 cluster; snapshots, module update, smoke and business checks, automatic rollback - with the
collection's module_utils (the same code the modules run). The playbook path on simulated hosts is
tests/integration/upgrade/test_upgrade_playbook.py."""
from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import modules as um
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.filestore import VolumeFilestore
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import baseline as ub
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import gates as ug
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import snapshot as snap
from tests.integration.harness.checksums import table_checksums
from tests.integration.harness.docker import docker_out
from tests.integration.harness.env import TEST_PREFIX as PREFIX
from tests.integration.harness.odoo_double import IMAGE_A, IMAGE_B

CHECKS = [
    {"name": "priced products", "sql": "SELECT count(*) FROM product_template WHERE list_price > 0", "unchanged": True},
    {"name": "open POS sessions", "sql": "SELECT count(*) FROM pos_session WHERE state = 'opened'", "unchanged": True},
    {"name": "stock quants", "sql": "SELECT count(*) FROM stock_quant", "unchanged": True},
]


def upgrade(stack, old_web: str, target: str, *, update_env: dict | None = None, web_env: dict | None = None,
            update_timeout: float = 60, after_update=None) -> dict:
    pg = stack.pg
    params = {"login_host": pg.sockdir, "login_port": pg.port, "login_user": "postgres"}
    stages, t0 = {}, time.monotonic()

    def stage(name, start):
        stages[name] = round(time.monotonic() - start, 3)
        return time.monotonic()

    admin, db = pgu.connect(params), pgu.connect(params, dbname="odoo")
    baseline = ub.capture(admin, db, "odoo", CHECKS)
    db.close()
    t = stage("baseline", t0)
    docker_out("stop", "-t", "10", old_web)
    t = stage("maintenance", t)
    snap.create_db_snapshot(admin, "odoo", label=f"{IMAGE_A} -> {target}")
    fs = VolumeFilestore(stack.engine, stack.volume, IMAGE_A)
    fs.create("odoo")
    t = stage("snapshot", t)
    extra_env = [f"{k}={v}" for k, v in (update_env or {}).items()]
    spec = um.ContainerSpec(stack.engine, like_container=old_web, env=extra_env)
    db = pgu.connect(params, dbname="odoo")
    plan = um.plan(stack.engine, db, target, spec, "/etc/odoo/odoo.conf", um.DEFAULT_ADDONS_PATHS, "changed")
    res = um.run_update(stack.engine, target, spec, "odoo", plan["to_update"], "/etc/odoo/odoo.conf", [],
                        update_timeout)
    t = stage("update", t)
    reason, new = None, None
    if res["timed_out"]:
        reason = f"update killed after {update_timeout} s"
    elif res["exit_code"] != 0:
        reason = f"update failed with exit status {res['exit_code']}"
    else:
        if after_update:
            after_update()
        new = stack.start_web(target, "green", web_env)
        health = stack.wait_healthy(15)
        if not health["healthy"]:
            reason = "smoke checks failed: " + "; ".join(health["failures"])
        else:
            compared = ub.compare_business(CHECKS, baseline["business"], ub.run_business_checks(db, CHECKS))
            failed = [f"{r['name']}: {r['reason']}" for r in compared if not r["ok"]]
            if failed:
                reason = "business checks failed: " + "; ".join(failed)
    db.close()
    t = stage("verify", t)
    failed = {}
    if reason:
        if new:
            docker_out("rm", "-f", "-v", new)
        failed["database"] = snap.restore_db_snapshot(admin, "odoo")["failed_database"]
        failed["filestore"] = fs.restore("odoo")["failed_path"]
        docker_out("start", old_web)
        served = stack.wait_healthy(20)
        t = stage("rollback", t)
        outcome = "rolled_back" if served["healthy"] else "rollback_failed"
    else:
        snap.drop_db_snapshot(admin, "odoo__pre_upgrade", db="odoo")
        fs.drop("odoo")
        t = stage("open", t)
        outcome = "success"
    admin.close()
    return {"outcome": outcome, "reason": reason, "stages": stages, "plan": plan, "update": res, "failed": failed,
            "window": round(time.monotonic() - t0, 3)}


@pytest.fixture
def running(double_stack):
    s = double_stack
    s.init(IMAGE_A)
    old = s.start_web(IMAGE_A, "blue")
    assert s.wait_healthy(20)["healthy"]
    s.attach("receipt-1.pdf", b"%PDF receipt one")
    return s, old


def versions(pg) -> dict:
    rows = pg.psql("SELECT name || '=' || latest_version FROM ir_module_module WHERE state = 'installed'",
                   dbname="odoo").split()
    return dict(r.split("=") for r in rows)


def test_successful_upgrade_moves_module_versions(running):
    stack, old = running
    before = versions(stack.pg)
    out = upgrade(stack, old, IMAGE_B)
    assert out["outcome"] == "success", out["reason"]
    assert set(out["plan"]["to_update"]) == {"stock", "point_of_sale", "sale_management"}
    after = versions(stack.pg)
    assert after["stock"] == "17.0.1.2" and before["stock"] == "17.0.1.1"
    assert after["point_of_sale"] == "17.0.1.0.2" and after["base"] == before["base"]
    assert stack.wait_healthy(5)["healthy"]
    assert "odoo__pre_upgrade" not in stack.pg.psql("SELECT string_agg(datname, ',') FROM pg_database")


def assert_rolled_back(stack, old, out, sums, files, reason_part):
    """The old version serves again on the very tables and filestore it had, although the failed upgrade had
    changed both: the copies the swap set aside (<db>__failed_<stamp>) hold what the live ones would be without
    it - modules committed at new versions, regenerated asset files."""
    assert out["outcome"] == "rolled_back", out
    assert reason_part in out["reason"]
    assert table_checksums(stack.pg, "odoo") == sums
    assert stack.filestore_digest() == files
    failed_db = out["failed"]["database"]
    stack.pg.psql(f'ALTER DATABASE "{failed_db}" WITH ALLOW_CONNECTIONS true')
    failed_sums = table_checksums(stack.pg, failed_db)
    assert failed_sums["ir_module_module"] != sums["ir_module_module"]
    assert failed_sums["ir_attachment"] != sums["ir_attachment"]
    failed_files = stack.filestore_digest(out["failed"]["filestore"].rsplit("/", 1)[1])
    assert set(failed_files) > set(files), "the update wrote no asset to the filestore"
    assert stack.state(old) == "running"
    health = stack.wait_healthy(5)
    assert health["healthy"], health
    return failed_db


@pytest.mark.parametrize("case", ["update_fails", "update_killed", "smoke_fails", "business_fails"])
def test_failures_roll_back_to_identical_state(running, case):
    stack, old = running
    sums, files = table_checksums(stack.pg, "odoo"), stack.filestore_digest()
    assert files, "the filestore has files"
    kw: dict = {}
    if case == "update_fails":
        kw = {"update_env": {"ODOO_DOUBLE_FAIL_UPDATE": "1"}}
        expected = "exit status 255"
    elif case == "update_killed":
        kw = {"update_env": {"ODOO_DOUBLE_HANG_UPDATE": "1"}, "update_timeout": 4}
        expected = "killed after 4 s"
    elif case == "smoke_fails":
        # the new release's registry cannot load the database: /web/health still passes, the login page fails
        kw = {"web_env": {"ODOO_DOUBLE_BROKEN": "1"}}
        expected = "smoke checks failed: login_page: HTTP 500"
    else:
        # the double runs no migration code: this stands for a faulty migration script of the new release
        def faulty_migration():
            stack.pg.psql("UPDATE product_template SET list_price = 0 WHERE id % 2 = 0", dbname="odoo")
        kw = {"after_update": faulty_migration}
        expected = "business checks failed: priced products: was"
    out = upgrade(stack, old, IMAGE_B, **kw)
    failed_db = assert_rolled_back(stack, old, out, sums, files, expected)
    failed = module_states(stack.pg, failed_db)
    if case in ("smoke_fails", "business_fails"):
        # the update had committed new versions: the swap back undid them
        assert out["update"]["exit_code"] == 0
        assert {failed[m] for m in ("stock", "sale_management", "point_of_sale")} == {"installed"}
    else:
        # the update stopped part-way, as Odoo's does: some modules committed, the rest still 'to upgrade'
        states = sorted(failed[m] for m in ("stock", "sale_management", "point_of_sale"))
        assert states[0] == "installed" and states[-1] == "to upgrade", failed
    assert versions(stack.pg)["stock"] == "17.0.1.1"
    assert set(module_states(stack.pg, "odoo").values()) <= {"installed", "uninstalled"}


def module_states(pg, db: str) -> dict:
    return dict(line.split("|") for line in pg.psql("SELECT name, state FROM ir_module_module", dbname=db).splitlines())


def test_volume_filestore_snapshot_check_mode_and_refusal(double_stack):
    stack = double_stack
    docker_out("volume", "create", "--label", "org.odooops.testbed=1", "--label", stack.label, stack.volume)
    fs = VolumeFilestore(stack.engine, stack.volume, IMAGE_A)
    with pytest.raises(snap.SnapshotError, match="no filestore snapshot odoo__pre_upgrade"):
        fs.restore("odoo")
    assert fs.create("odoo", check_mode=True)["changed"]
    assert not fs.probe("odoo", "odoo__pre_upgrade")["snapshot"]
    assert fs.create("odoo")["changed"] and not fs.create("odoo")["changed"]
    res = fs.restore("odoo")
    assert res["changed"] and res["failed_path"] is None  # there was no live filestore
    assert fs.probe("odoo", "odoo__pre_upgrade") == {"live": True, "snapshot": False, "files": 0, "user": "101:101"}


def test_volume_filestore_helper_runs_as_odoo_uid_in_a_random_work_dir(double_stack):
    """The helper is not root: its processes run as the Odoo uid:gid, what it makes is Odoo's, and the copy is
    made in a mktemp work directory (random name) that is gone afterwards, whether the copy succeeded or not."""
    stack = double_stack
    docker_out("volume", "create", "--label", "org.odooops.testbed=1", "--label", stack.label, stack.volume)
    # Odoo's files, as Odoo (uid 101) writes them into its data volume
    docker_out("run", "--rm", "-v", f"{stack.volume}:/var/lib/odoo", "--entrypoint", "sh", IMAGE_A, "-c",
               "mkdir -p /var/lib/odoo/filestore/odoo/ab && echo x > /var/lib/odoo/filestore/odoo/ab/abcd")
    fs = VolumeFilestore(stack.engine, stack.volume, IMAGE_A)
    assert fs.probe("odoo", "odoo__pre_upgrade")["user"] == "101:101"  # id -u:id -g inside the helper
    assert fs.create("odoo", replace=True)["files"] == 1
    first = fs.last_work
    assert fs.create("odoo", replace=True)["changed"]
    assert first and fs.last_work and first != fs.last_work
    assert first.startswith("/var/lib/odoo/filestore/.odooops-work.")
    listing = docker_out("run", "--rm", "-v", f"{stack.volume}:/v:ro", "--entrypoint", "sh", IMAGE_A, "-c",
                         "cd /v/filestore && ls -A && stat -c '%n %u:%g' odoo__pre_upgrade odoo__pre_upgrade/ab/abcd")
    names = listing.splitlines()
    assert sorted(names[:2]) == ["odoo", "odoo__pre_upgrade"], listing  # no work directory left
    assert names[2:] == ["odoo__pre_upgrade 101:101", "odoo__pre_upgrade/ab/abcd 101:101"]
    # a failing copy (a file the Odoo uid cannot read) leaves no work directory either
    docker_out("run", "--rm", "-v", f"{stack.volume}:/var/lib/odoo", "--user", "0:0", "--entrypoint", "sh", IMAGE_A,
               "-c", "mkdir /var/lib/odoo/filestore/odoo/root && chmod 0700 /var/lib/odoo/filestore/odoo/root")
    with pytest.raises(snap.SnapshotError, match="filestore create"):
        fs.create("odoo", replace=True)
    assert "odooops-work" not in docker_out("run", "--rm", "-v", f"{stack.volume}:/v:ro", "--entrypoint", "ls", IMAGE_A,
                                            "-A", "/v/filestore")


def derived_image(tag: str, steps: str) -> str:
    """An image of release 17.0-b with another layout, built for this test (removed by the caller)."""
    dockerfile = f"FROM {IMAGE_B}\nUSER root\nRUN {steps}\nUSER odoo\n"
    res = subprocess.run(["docker", "build", "-q", "--label", "org.odooops.testbed=1", "-t", tag, "-"],
                         input=dockerfile, capture_output=True, text=True, check=False, timeout=300)
    assert res.returncode == 0, res.stderr
    return tag


def test_plan_reads_the_series_from_release_py_wherever_odoo_lives(running):
    """base's manifest says 1.3; the series is read as text from odoo/release.py: in the installed package (the
    double's images), in a source checkout run through its odoo-bin (found from the image's entrypoint, nowhere
    on the usual paths), and an image without one is refused by the target-image gate."""
    stack, old = running
    checkout = f"{PREFIX}src-checkout:{uuid.uuid4().hex[:6]}"
    bare = f"{PREFIX}no-release:{uuid.uuid4().hex[:6]}"
    try:
        derived_image(checkout, "mkdir -p /usr/local/src/erp && mv /usr/lib/python3/dist-packages/odoo "
                                "/usr/local/src/erp/odoo && mv /opt/odoo/addons /usr/local/src/erp/addons "
                                "&& mv /usr/bin/odoo /usr/local/src/erp/odoo-bin\n"
                                "ENTRYPOINT [\"/usr/local/src/erp/odoo-bin\"]")
        derived_image(bare, "rm -r /usr/lib/python3/dist-packages/odoo")
        spec = um.ContainerSpec(stack.engine, like_container=old)
        params = {"login_host": stack.pg.sockdir, "login_port": stack.pg.port, "login_user": "postgres"}
        db = pgu.connect(params, dbname="odoo")
        try:
            plans = {image: um.plan(stack.engine, db, image, spec, "/etc/odoo/odoo.conf", um.DEFAULT_ADDONS_PATHS,
                                    "changed") for image in (IMAGE_B, checkout, bare)}
        finally:
            db.close()
        for image in (IMAGE_B, checkout):
            plan = plans[image]
            assert plan["image_series"] == "17.0" and plan["image_manifests"]["base"] == "1.3", plan
            assert set(plan["to_update"]) == {"stock", "point_of_sale", "sale_management"}
            assert ug.gate_image(plan)["ok"], ug.gate_image(plan)
        assert plans[IMAGE_B]["image_release_file"] == "/usr/lib/python3/dist-packages/odoo/release.py"
        assert plans[checkout]["image_release_file"] == "/usr/local/src/erp/odoo/release.py"
        assert plans[bare]["image_series"] is None
        refusal = ug.gate_image(plans[bare])
        assert not refusal["ok"] and "cannot tell the target image's Odoo series" in refusal["reason"]
    finally:
        docker_out("rmi", "-f", checkout, bare, check=False)
