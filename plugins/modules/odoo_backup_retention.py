#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_backup_retention
short_description: Grandfather-father-son retention of odooops backups in S3
description:
  - Keeps the newest good backup of each of the last O(daily) days, O(weekly) ISO weeks and O(monthly) months
    that have one, and always the newest good backup. Incomplete or damaged backups go after
    O(incomplete_grace_hours).
  - A backup counts as good only once every part's sha256 matches the manifest (O(verify_checksums)); sizes alone
    miss a same-size bit flip. Only the backups the policy keeps are downloaded; a corrupted one is reported in
    RV(corrupted), treated as damaged, and an older good backup takes its place.
  - Never tries to delete an object under Object Lock (retention date in the future or legal hold); such
    backups are reported in RV(locked). Every version of every object of a deleted backup is removed,
    the manifest first.
  - In check mode, reports what would be deleted.
version_added: 1.0.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
  - odooops.hosting.s3
attributes:
  check_mode:
    support: full
  diff_mode:
    support: partial
    details: The diff lists backup ids only - before, the backups kept and those deleted (to delete, in check
      mode); after, the backups kept. Backups under Object Lock (result C(locked)) and the objects' contents are not
      shown.
  idempotent:
    support: full
options:
  db:
    description: Only this database's backups. Default every database under O(prefix).
    type: str
  daily:
    description: Days to keep one backup of.
    type: int
    default: 7
  weekly:
    description: ISO weeks to keep one backup of.
    type: int
    default: 4
  monthly:
    description: Months to keep one backup of.
    type: int
    default: 6
  incomplete_grace_hours:
    description: Age after which a backup without manifest (failed, not running) is deleted.
    type: float
    default: 24
  verify_checksums:
    description:
      - Download every backup the policy would keep and check each part's sha256 against the manifest before
        counting it good. V(false) trusts the sizes listed by the bucket (a same-size corruption then counts as
        a good backup).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Apply retention
  odooops.hosting.odoo_backup_retention:
    db: shop
    bucket: acme-odoo-backups
    daily: 7
    weekly: 4
    monthly: 12
"""

RETURN = r"""
keep:
  description: Backup ids kept, with the reasons.
  returned: always
  type: dict
delete:
  description: Backup ids deleted (or that would be, in check mode).
  returned: always
  type: list
  elements: str
locked:
  description: Backups that the policy would remove but Object Lock protects (id and date).
  returned: always
  type: list
  elements: dict
verified:
  description: Backup ids whose parts' sha256 matched the manifest in this run.
  returned: always
  type: list
  elements: str
corrupted:
  description: Backup ids whose sha256 did not match the manifest, with the part named; not counted good.
  returned: always
  type: dict
"""

from ansible_collections.odooops.hosting.plugins.module_utils.backup._module import BackupModule
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import CatalogError, apply_retention


def run(bm: BackupModule) -> dict:
    p = bm.params
    for name in ("daily", "weekly", "monthly"):
        if p[name] < 0:
            raise CatalogError(f"{name} must be 0 or more")
    result = apply_retention(bm.s3(), p["bucket"], p["prefix"], p["db"], check_mode=bm.check_mode,
                             daily=p["daily"], weekly=p["weekly"], monthly=p["monthly"],
                             incomplete_grace_hours=p["incomplete_grace_hours"],
                             verify_checksums=p["verify_checksums"])
    if bm.module._diff:
        result["diff"] = {"before": {"backups": sorted(list(result["keep"]) + result["delete"])},
                          "after": {"backups": sorted(result["keep"])}}
    return result


def main():
    bm = BackupModule(
        dict(db=dict(type="str"), daily=dict(type="int", default=7), weekly=dict(type="int", default=4),
             monthly=dict(type="int", default=6), incomplete_grace_hours=dict(type="float", default=24),
             verify_checksums=dict(type="bool", default=True)),
        libs=("boto3",), supports_check_mode=True,
    )
    bm.execute(run)


if __name__ == "__main__":
    main()
