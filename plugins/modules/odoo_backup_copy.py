#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_backup_copy
short_description: Copy odooops backups to a second bucket or endpoint (off-site), verified by checksum
description:
  - Copies complete backups (streamed, part by part) to another bucket, possibly at another S3 endpoint or
    region. Each part's sha256 is checked against the manifest while copying and read back from the
    destination; the manifest is copied last.
  - Backups already complete at the destination (same manifest) are skipped, so the module is idempotent.
version_added: 1.0.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
  - odooops.hosting.s3
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  db:
    description: Database whose backups are copied.
    type: str
    required: true
  backup_id:
    description: Backup to copy; C(latest) the newest complete one; C(all) every complete one.
    type: str
    default: latest
  dest_endpoint_url:
    description: S3 API URL of the destination.
    type: str
  dest_region:
    description: Region of the destination bucket.
    type: str
    default: us-east-1
  dest_access_key:
    description: Access key for the destination.
    type: str
  dest_secret_key:
    description: Secret key for the destination.
    type: str
  dest_validate_certs:
    description: Verify the destination's TLS certificate.
    type: bool
    default: true
  dest_ca_bundle:
    description: CA bundle for the destination.
    type: path
  dest_bucket:
    description: Destination bucket.
    type: str
    required: true
  dest_prefix:
    description: Key prefix at the destination. Default the source prefix.
    type: str
  lock_mode:
    description: Object Lock mode at the destination.
    type: str
    choices: [GOVERNANCE, COMPLIANCE]
  lock_days:
    description: Days of Object Lock at the destination (counted from the copy).
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Copy the latest backup to the DR region
  odooops.hosting.odoo_backup_copy:
    db: shop
    bucket: acme-odoo-backups
    dest_endpoint_url: https://s3.eu-central-1.amazonaws.com
    dest_region: eu-central-1
    dest_bucket: acme-odoo-backups-dr
    dest_access_key: "{{ odooops_dr_s3_access_key }}"
    dest_secret_key: "{{ odooops_dr_s3_secret_key }}"
"""

RETURN = r"""
copied:
  description: Backup ids copied by this run.
  returned: always
  type: list
  elements: str
skipped:
  description: Backup ids already complete at the destination.
  returned: always
  type: list
  elements: str
"""

import datetime as dt

from ansible_collections.odooops.hosting.plugins.module_utils.backup._module import BackupModule
from ansible_collections.odooops.hosting.plugins.module_utils.backup.backup import utcnow
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import (
    CatalogError,
    copy_backup,
    list_backups,
)
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import normalise_prefix


def run(bm: BackupModule) -> dict:
    p = bm.params
    src, dst = bm.s3(), bm.s3("dest_")
    entries = [e for e in list_backups(src, p["bucket"], p["prefix"], p["db"], lock_info=False) if e.good]
    if p["backup_id"] == "latest":
        chosen = entries[-1:]
    elif p["backup_id"] == "all":
        chosen = entries
    else:
        chosen = [e for e in entries if e.backup_id == p["backup_id"]]
    if not chosen:
        raise CatalogError(f"no complete backup {p['backup_id']} of {p['db']!r} to copy")
    dest_prefix = normalise_prefix(p["dest_prefix"] if p["dest_prefix"] is not None else p["prefix"])
    present = {e.backup_id: e for e in list_backups(dst, p["dest_bucket"], dest_prefix, p["db"], lock_info=False)}
    extra = {}
    if p["lock_mode"]:
        extra = {"ObjectLockMode": p["lock_mode"],
                 "ObjectLockRetainUntilDate": utcnow() + dt.timedelta(days=p["lock_days"])}
    copied, skipped = [], []
    for entry in chosen:
        there = present.get(entry.backup_id)
        if there is not None and there.good and there.manifest == entry.manifest:
            skipped.append(entry.backup_id)
            continue
        if not bm.check_mode:
            copy_backup(src, p["bucket"], entry, dst, p["dest_bucket"], dest_prefix, extra_args=extra)
        copied.append(entry.backup_id)
    return {"changed": bool(copied), "copied": copied, "skipped": skipped}


def main():
    bm = BackupModule(
        dict(
            db=dict(type="str", required=True),
            backup_id=dict(type="str", default="latest"),
            dest_endpoint_url=dict(type="str"),
            dest_region=dict(type="str", default="us-east-1"),
            dest_access_key=dict(type="str", no_log=True),
            dest_secret_key=dict(type="str", no_log=True),
            dest_validate_certs=dict(type="bool", default=True),
            dest_ca_bundle=dict(type="path"),
            dest_bucket=dict(type="str", required=True),
            dest_prefix=dict(type="str"),
            lock_mode=dict(type="str", choices=["GOVERNANCE", "COMPLIANCE"]),
            lock_days=dict(type="int", default=0),
        ),
        libs=("boto3",), supports_check_mode=True, required_by={"lock_mode": "lock_days"},
    )
    bm.execute(run)


if __name__ == "__main__":
    main()
