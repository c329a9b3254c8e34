# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the odoo role: a stable master-password hash and odoo.conf's section from a dict."""
from __future__ import annotations

import configparser
import io

from ansible.errors import AnsibleFilterError

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import passwd as odoo_passwd


def odoo_admin_hash_keep(password: str, current: str | None = None) -> str:
    """The hash already in odoo.conf when it still matches password, else a new one (random salt).

    Keeps odoo.conf unchanged across runs (idempotence) and re-hashes when the password is rotated.
    """
    if not password:
        raise AnsibleFilterError("odoo_admin_hash_keep: the master password is empty")
    if odoo_passwd.is_hashed(password):
        return password
    if current and odoo_passwd.is_hashed(current):
        try:
            if odoo_passwd.verify_password(password, current):
                return current
        except (ValueError, TypeError):
            pass
    return odoo_passwd.hash_password(password)


def odoo_conf_value(text: str, key: str, section: str = "options") -> str:
    """A value of an odoo.conf text ('' when absent or unparsable)."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_file(io.StringIO(text or ""))
        return parser.get(section, key, fallback="")
    except configparser.Error:
        return ""


class FilterModule:
    def filters(self):
        return {"odoo_admin_hash_keep": odoo_admin_hash_keep, "odoo_conf_value": odoo_conf_value}
