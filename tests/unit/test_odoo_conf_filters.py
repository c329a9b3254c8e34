"""Filters of the odoo role: the master password's hash is kept while the password is unchanged."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.odooops.hosting.plugins.filter.odoo_conf import odoo_admin_hash_keep, odoo_conf_value
from ansible_collections.odooops.hosting.plugins.module_utils.odoo import passwd as odoo_passwd

CONF = "[options]\ndb_user = odoo\nadmin_passwd = {h}\nlist_db = False\n"


def test_new_hash_verifies_and_hides_the_password():
    hashed = odoo_admin_hash_keep("s3cret-master")
    assert hashed.startswith("$pbkdf2-sha512$") and "s3cret-master" not in hashed
    assert odoo_passwd.verify_password("s3cret-master", hashed)


def test_hash_kept_while_password_unchanged_and_renewed_when_rotated():
    first = odoo_admin_hash_keep("s3cret-master")
    current = odoo_conf_value(CONF.format(h=first), "admin_passwd")
    assert current == first
    assert odoo_admin_hash_keep("s3cret-master", current) == first
    rotated = odoo_admin_hash_keep("new-master-pw", current)
    assert rotated != first and odoo_passwd.verify_password("new-master-pw", rotated)


@pytest.mark.parametrize("current", ["", None, "plain", "$pbkdf2-sha512$broken"])
def test_unusable_current_value_gives_a_new_hash(current):
    assert odoo_passwd.verify_password("pw-12345678", odoo_admin_hash_keep("pw-12345678", current))


def test_already_hashed_password_is_kept_as_is():
    hashed = odoo_passwd.hash_password("x-12345678", rounds=1000)
    assert odoo_admin_hash_keep(hashed, "") == hashed


def test_empty_password_refused():
    with pytest.raises(AnsibleFilterError):
        odoo_admin_hash_keep("")


@pytest.mark.parametrize("text", ["", "not an ini", "[other]\nadmin_passwd = x\n"])
def test_conf_value_absent(text):
    assert odoo_conf_value(text, "admin_passwd") == ""
