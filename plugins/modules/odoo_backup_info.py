#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_backup_info
short_description: List odooops backups in S3, find the latest good one, verify one without restoring
description:
  - Lists backups with their status; C(complete) (manifest present, every part present with its recorded
    size), C(damaged) (a part missing or of another size) or C(incomplete) (no manifest), and the Object Lock
    date they are protected until.
  - With O(verify), downloads every part of one backup (O(backup_id), default the latest good one) and checks
    sha256 and size against the manifest, and the encryption when O(encryption_keys) is given.
version_added: 1.0.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes.info_module
  - odooops.hosting.s3
  - odooops.hosting.s3.keys
options:
  db:
    description: Only this database's backups. Default all databases under O(prefix).
    type: str
  backup_id:
    description: Backup to verify (C(latest) is the newest complete one).
    type: str
    default: latest
  verify:
    description: Download and verify one backup.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Latest good backup of shop, verified
  odooops.hosting.odoo_backup_info:
    db: shop
    bucket: acme-odoo-backups
    verify: true
    encryption_keys: "{{ odooops_backup_keys }}"
  register: backups
"""

RETURN = r"""
backups:
  description: Backups, oldest first.
  returned: always
  type: list
  elements: dict
latest_good:
  description: The newest complete backup (with its manifest), or null.
  returned: always
  type: dict
verified:
  description: Per part size, sha256 and C(ok), when O(verify).
  returned: when verify
  type: dict
"""

from ansible_collections.odooops.hosting.plugins.module_utils.backup._module import BackupModule
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import (
    CatalogError,
    latest_good,
    list_backups,
    verify_backup,
)


def run(bm: BackupModule) -> dict:
    p = bm.params
    s3 = bm.s3()
    entries = list_backups(s3, p["bucket"], p["prefix"], p["db"])
    latest = latest_good(entries)
    result = {"changed": False, "backups": [e.as_dict() for e in entries],
              "latest_good": None if latest is None else {**latest.as_dict(), "manifest": latest.manifest}}
    if p["verify"]:
        if p["backup_id"] in ("latest", ""):
            target = latest
            if target is None:
                raise CatalogError("no complete backup to verify")
        else:
            target = next((e for e in entries if e.backup_id == p["backup_id"]), None)
            if target is None:
                raise CatalogError(f"backup {p['backup_id']} not found")
        result["verified"] = verify_backup(s3, p["bucket"], target, bm.key_ring() or None)
        result["verified_backup_id"] = target.backup_id
    return result


def main():
    bm = BackupModule(
        dict(db=dict(type="str"), backup_id=dict(type="str", default="latest"),
             verify=dict(type="bool", default=False)),
        keys=True, libs=("boto3", "cryptography"), supports_check_mode=True,
    )
    bm.execute(run)


if __name__ == "__main__":
    main()
