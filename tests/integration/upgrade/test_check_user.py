"""The smoke checks' Odoo user, kept by the collection (odooops.hosting.odoo_check_user) through `odoo shell` in a
one-shot container of the stack's image: real PostgreSQL 15, real Docker, the Odoo test double's web container.

A real Odoo database has no such user: the double has none built in either, so the upgrade's checks can log in
only because the collection made the user."""
from __future__ import annotations

import json
import os
import subprocess

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import health as odoo_health
from tests.integration.harness.odoo_double import IMAGE_A

HERE = os.path.dirname(os.path.abspath(__file__))
LOGIN = "odooops-check"


def can_log_in(stack, password: str) -> bool:
    res = odoo_health.check(stack.url, database="odoo", login=LOGIN, password=password, samples=1, timeout=5)
    return bool(res["checks"].get("rpc_login", {}).get("ok"))


def user_row(stack) -> str:
    return stack.pg.psql("SELECT u.active::text || '|' || u.share::text || '|' || string_agg(g.name, ',' ORDER BY "
                         "g.name) FROM res_users u LEFT JOIN res_groups_users_rel r ON r.uid = u.id LEFT JOIN "
                         f"res_groups g ON g.id = r.gid WHERE u.login = '{LOGIN}' GROUP BY u.id", dbname="odoo")


def test_check_user_created_rotated_and_archived_through_odoo_shell(double_stack, ansible_playbook, tmp_path):
    stack = double_stack
    stack.init(IMAGE_A, "stock")
    web = stack.start_web(IMAGE_A, "a")
    assert stack.wait_healthy()["healthy"]
    password, new_password = "chk-" + os.urandom(10).hex(), "chk-" + os.urandom(10).hex()
    assert not can_log_in(stack, password) and user_row(stack) == ""   # nothing built in
    out = tmp_path / "out.json"
    secrets = {"web": web, "password": password, "new_password": new_password, "out_file": str(out)}

    def play(phase: int) -> dict:
        run = ansible_playbook(os.path.join(HERE, "playbooks", "check_user.yml"), inventory="localhost,",
                               extra_vars={**secrets, "phase": phase})
        assert run.rc == 0, run.stdout[-3000:]
        outputs.append(run.stdout + run.stderr + out.read_text())
        return json.loads(out.read_text())

    outputs: list[str] = []
    r = play(1)
    # check mode says it would create the user, and changes nothing
    assert r["check"]["changed"] and r["check"]["action"] == "created"
    assert user_row(stack) == "" and not can_log_in(stack, password)
    r = play(2)
    assert r["short"]["failed"] and "at least 12 characters" in r["short"]["msg"]
    assert r["create"]["changed"] and r["create"]["action"] == "created"
    assert not r["again"]["changed"] and r["again"]["action"] == "unchanged"
    # least rights: a portal (share) user, nothing else; it logs in through JSON-RPC like the smoke checks do
    assert user_row(stack) == "true|true|Portal"
    assert can_log_in(stack, password)

    # someone made it an administrator: the next run takes it back to portal only, and rotates its password
    stack.pg.psql("INSERT INTO res_groups_users_rel (gid, uid) SELECT g.id, u.id FROM res_groups g, res_users u "
                  f"WHERE g.name = 'Settings' AND u.login = '{LOGIN}'", dbname="odoo")
    r2 = play(3)
    assert r2["rotate"]["changed"] and r2["rotate"]["fields"] == ["groups_id", "password"]
    assert r2["absent"]["changed"] and r2["absent"]["action"] == "archived"
    assert user_row(stack).startswith("false|")
    assert not can_log_in(stack, new_password) and not can_log_in(stack, password)

    # the password was never in the output, the one-shot containers are gone (with the 0600 script in them)
    text = "".join(outputs)
    assert password not in text and new_password not in text
    assert subprocess.run(["docker", "ps", "-aq", "--filter", f"name={web}-checkuser"], capture_output=True,
                          text=True, check=True).stdout.strip() == ""
