#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_restore
short_description: Restore an odooops backup from S3 into a new Odoo database and filestore
description:
  - Fetches a backup taken by M(odooops.hosting.odoo_backup), verifies every part's size and sha256 against
    the manifest (and decrypts with authentication) B(before) changing anything, then restores it with
    C(pg_restore -j) under a temporary name and swaps it into place.
  - An existing database or filestore of the target name is refused unless O(force); with O(force) it is
    replaced only after the new copy is complete. A failure leaves the target as it was.
  - Optional neutralisation as Odoo does it (scheduled actions and outgoing mail servers off,
    C(database.is_neutralized)).
version_added: 1.0.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
  - odooops.hosting.s3
  - odooops.hosting.postgres
  - odooops.hosting.postgres.client_tools
  - odooops.hosting.s3.keys
attributes:
  check_mode:
    support: full
    details: Finds the backup and checks keys and the target name; downloads and changes nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Restoring twice needs O(force) the second time (the target then exists).
options:
  db:
    description: Name of the backed-up database (where its backups live in the bucket).
    type: str
    required: true
  backup_id:
    description: Backup to restore; C(latest) is the newest complete one.
    type: str
    default: latest
  target:
    description: Database name to restore into. Default O(db).
    type: str
  data_dir:
    description: Odoo data_dir; the filestore goes to C(<data_dir>/filestore/<target>). Unset means no filestore.
    type: path
  force:
    description: Replace an existing database/filestore of the target name.
    type: bool
    default: false
  neutralize:
    description: Deactivate scheduled actions and outgoing mail servers, set C(database.is_neutralized).
    type: bool
    default: false
  new_uuid:
    description: Give the copy a new C(database.uuid) (as Odoo does for a copy).
    type: bool
    default: false
  jobs:
    description: Parallel C(pg_restore) jobs.
    type: int
    default: 2
  owner:
    description: Role owning the new database and its objects (e.g. C(odooops_db_owner_role)).
    type: str
  workdir:
    description: Directory for the verified, decrypted parts during the restore (removed afterwards).
    type: path
  filestore_uid:
    description:
      - Owner uid of the restored filestore (the Odoo container's user, 101 in the official image), and of the
        filestore root (C(<data_dir>/filestore)) when the restore creates it.
    type: int
  filestore_gid:
    description: Owner gid of the restored filestore.
    type: int
  verify_statistics:
    description: Compare row counts of key tables and the module list with the manifest after the restore.
    type: bool
    default: true
  wait_standbys:
    description:
      - Seconds to wait, once the restored database is in place, until every standby streaming from the server
        the restore wrote to has replayed it (C(0) does not wait). An Odoo given the db host list stops at a
        standby listed first that does not have the database yet.
      - Standbys still behind after that are listed in RV(standbys_replayed), the restore does not fail. A login
        that may not read C(pg_stat_replication) sees no standby.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Restore the latest backup of shop as a neutralised staging copy
  odooops.hosting.odoo_restore:
    db: shop
    target: shop_staging
    data_dir: /var/lib/odoo
    neutralize: true
    owner: odoo_owner
    bucket: acme-odoo-backups
    encryption_keys: "{{ odooops_backup_keys }}"
"""

RETURN = r"""
backup_id:
  description: The backup restored.
  returned: always
  type: str
target_db:
  description: The database restored into.
  returned: always
  type: str
db_host:
  description:
    - The server the restore wrote to (the host, or socket directory, its first connection reached; with a host
      list in O(login_host), the primary). pg_restore and every later connection of the restore were aimed at it
      alone; aim what uses the restored database next (a scratch Odoo, the drop of a scratch copy) at it too.
  returned: always
  type: str
db_port:
  description: The port of RV(db_host).
  returned: always
  type: int
standbys_replayed:
  description: The standbys seen (C(standbys)), those still behind (C(lagging)) and the seconds waited (C(waited_s)),
    or null when O(wait_standbys) is C(0).
  returned: success and not check mode
  type: dict
timings:
  description: Seconds spent fetching and verifying, restoring, in total.
  returned: success and not check mode
  type: dict
statistics:
  description: Row counts and modules compared with the manifest (C(tables_ok), C(modules_ok)).
  returned: success and O(verify_statistics)
  type: dict
"""

import os

from ansible_collections.odooops.hosting.plugins.module_utils.backup._module import BackupModule
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import find_backup
from ansible_collections.odooops.hosting.plugins.module_utils.backup.restore import compare_statistics, restore_backup


def run(bm: BackupModule) -> dict:
    p = bm.params
    s3 = bm.s3()
    entry = find_backup(s3, p["bucket"], p["prefix"], p["db"], p["backup_id"])
    target = p["target"] or p["db"]
    owner = None
    if p["filestore_uid"] is not None or p["filestore_gid"] is not None:
        owner = (p["filestore_uid"] if p["filestore_uid"] is not None else -1,
                 p["filestore_gid"] if p["filestore_gid"] is not None else -1)
    result = restore_backup(bm.pg(), s3, p["bucket"], entry, target,
                            filestore_root=os.path.join(p["data_dir"], "filestore") if p["data_dir"] else None,
                            force=p["force"], do_neutralize=p["neutralize"], new_uuid=p["new_uuid"], jobs=p["jobs"],
                            owner=p["owner"], key_ring=bm.key_ring(), workdir=p["workdir"], filestore_owner=owner,
                            check_mode=bm.check_mode, wait_standbys_s=p["wait_standbys"])
    if not bm.check_mode and p["verify_statistics"]:
        # on the server the restore wrote to: a standby may not have replayed the new database yet
        result["statistics"] = compare_statistics(bm.pg().pinned(result["db_host"], result["db_port"]), target,
                                                  entry.manifest)
    result["manifest_summary"] = {k: entry.manifest.get(k) for k in ("db_name", "version", "pg_version")}
    result["snapshot_at"] = entry.manifest["odooops"].get("snapshot_at")
    return result


def main():
    bm = BackupModule(
        dict(
            db=dict(type="str", required=True),
            backup_id=dict(type="str", default="latest"),
            target=dict(type="str"),
            data_dir=dict(type="path"),
            force=dict(type="bool", default=False),
            neutralize=dict(type="bool", default=False),
            new_uuid=dict(type="bool", default=False),
            jobs=dict(type="int", default=2),
            owner=dict(type="str"),
            workdir=dict(type="path"),
            filestore_uid=dict(type="int"),
            filestore_gid=dict(type="int"),
            verify_statistics=dict(type="bool", default=True),
            wait_standbys=dict(type="int", default=60),
        ),
        postgres=True, keys=True, libs=("boto3", "psycopg2", "cryptography"), supports_check_mode=True,
    )
    bm.execute(run)


if __name__ == "__main__":
    main()
