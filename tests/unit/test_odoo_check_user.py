"""module_utils/odoo/check_user: the script odoo shell runs, its command line, the 0600 file and the input checks.
Its effect on a database (odoo shell in a one-shot container) is tested in tests/integration/upgrade/
test_check_user.py."""
from __future__ import annotations

import ast
import io
import json
import tarfile

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import check_user as ocu

PASSWORD = "p'\"\\); import os; os.system('x') #-0123456789"


def test_script_holds_every_value_as_data_of_one_json_literal():
    text = ocu.script("odooops-check", PASSWORD, "Check 'user'", ["base.group_portal"], commit=False)
    tree = ast.parse(text)  # valid Python whatever the values
    first = tree.body[1]
    assert isinstance(first, ast.Assign) and first.targets[0].id == "ARGS"
    args = json.loads(ast.literal_eval(first.value.args[0]))
    assert args == {"login": "odooops-check", "password": PASSWORD, "name": "Check 'user'",
                    "groups": ["base.group_portal"], "state": "present", "commit": False}
    # the password (which looks like code) is nowhere but inside that literal: no import or call of it runs
    assert [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and "os.system" in str(n.value)] == [
        first.value.args[0]]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "system"]
    assert "env.cr.commit()" in text and "env.cr.rollback()" in text


def test_command_line_feeds_the_file_on_stdin_and_holds_no_secret():
    entrypoint, cmd = ocu.command([], ["odoo"], "/etc/odoo/odoo.conf", "shop")
    assert entrypoint == ["/bin/sh", "-c", f'exec "$@" < {ocu.SCRIPT_PATH}']
    assert cmd == ["odooops-check-user", "odoo", "shell", "-c", "/etc/odoo/odoo.conf", "-d", "shop", "--no-http",
                   "--log-level=warn"]
    # a source checkout's odoo-bin replaces the entrypoint
    assert ocu.command(["python3", "/opt/odoo/odoo-bin"], ["odoo"], "/c", "d")[1][1:4] == [
        "python3", "/opt/odoo/odoo-bin", "shell"]


def test_script_file_is_0600_and_owned_by_the_container_user():
    directory, data = ocu.tar_file(ocu.SCRIPT_PATH, b"print(1)", *ocu.owner("101:102"))
    assert directory == "/tmp"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        info = tar.getmembers()[0]
        assert (info.name, info.mode, info.uid, info.gid) == ("odooops-check-user.py", 0o600, 101, 102)
        assert tar.extractfile(info).read() == b"print(1)"
    assert ocu.owner(None) == (101, 101) and ocu.owner("odoo") == (101, 101)


@pytest.mark.parametrize("login, password, groups, state, message", [
    ("bad login", "x" * 12, ["base.group_portal"], "present", "not a plain login"),
    ("check", "short", ["base.group_portal"], "present", "at least 12 characters"),
    ("check", "x" * 12, ["group_portal"], "present", "XML ids"),
    ("check", "x" * 12, [], "present", "at least one group"),
])
def test_bad_input_is_refused(login, password, groups, state, message):
    with pytest.raises(ocu.CheckUserError, match=message):
        ocu.validate(login, password, groups, state)


def test_archiving_needs_no_password():
    ocu.validate("check", "", ["base.group_portal"], "absent")


def test_result_line_is_found_among_odoo_logs():
    logs = "2026-12-07 11:00:00,000 1 WARNING odoo x: y\nODOOOPS-CHECK-USER {\"changed\": true}\n"
    assert ocu.parse(logs) == {"changed": True}
    assert ocu.parse("Traceback ...") is None
