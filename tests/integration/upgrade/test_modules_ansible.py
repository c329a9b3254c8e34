"""The upgrade modules through Ansible (argument specs, check mode, idempotence, no_log) on real PostgreSQL 15."""
from __future__ import annotations

import json
import os

from tests.integration.harness.checksums import table_checksums
from tests.integration.harness.env import TEST_PREFIX

HERE = os.path.dirname(os.path.abspath(__file__))


def test_modules_through_ansible(pg, odoo_db, ansible_playbook, tmp_path):
    password = "upw-" + os.urandom(8).hex()
    key = "anon-" + os.urandom(12).hex()
    pg.psql(f"CREATE ROLE upgrader LOGIN SUPERUSER PASSWORD '{password}'")
    out = tmp_path / "out.json"
    marker = f"/tmp/{TEST_PREFIX}copy-{os.urandom(4).hex()}"
    before = table_checksums(pg, odoo_db)
    run = ansible_playbook(os.path.join(HERE, "playbooks", "modules.yml"), inventory="localhost,",
                           extra_vars={"pg_port": pg.port, "pg_password": password, "anon_key": key,
                                       "out_file": str(out), "copy_marker": marker})
    assert run.rc == 0, run.stdout[-3000:]
    r = json.loads(out.read_text())
    assert r["snap_check"]["changed"] and r["snap_apply"]["changed"] and not r["snap_again"]["changed"]
    assert r["snap_apply"]["meta"]["label"] == "test"
    assert r["snap_restore"]["changed"] and r["snap_restore"]["failed_database"].startswith("odoo__failed_")
    assert r["neut_check"]["changed"] and r["neut_apply"]["changed"] and not r["neut_again"]["changed"]
    assert r["neut_apply"]["anonymised"]["res_partner"] == 52
    assert r["neut_protected"]["failed"] and "protected" in r["neut_protected"]["msg"]
    assert r["base"]["baseline"]["business"] == {"priced products": 200}
    # the checks ran as the pg_read_all_data role, not as the module's superuser login: no escape, no program
    assert r["base_multi"]["failed"] and "business check 'escape' refused: ';' outside" in r["base_multi"]["msg"]
    assert pg.psql("SELECT to_regclass('public.leastpriv_x') IS NULL", dbname=odoo_db) == "t"
    assert r["base_copy"]["failed"] and "pg_execute_server_program" in r["base_copy"]["msg"]
    assert not os.path.exists(marker)
    assert pg.psql("SELECT rolsuper::text || rolcanlogin::text || (rolpassword IS NULL)::text FROM pg_authid "
                   "WHERE rolname = 'odooops_checks'") == "falsefalsetrue"
    assert r["gates"]["failed"] and "[approval_reference]" in r["gates"]["msg"]
    # the database changed only through the neutralisation (the restored copy had the same content)
    after = table_checksums(pg, odoo_db)
    assert after["product_template"] == before["product_template"] and after["res_partner"] != before["res_partner"]
    # secrets never in the output
    text = run.stdout + run.stderr + out.read_text()
    assert password not in text and key not in text
