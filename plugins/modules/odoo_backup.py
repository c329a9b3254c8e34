#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_backup
short_description: Odoo-consistent backup of a database and its filestore, streamed to S3
description:
  - Dumps one Odoo database with C(pg_dump) (custom format, restorable with C(pg_restore -j)) from an exported
    snapshot, and the filestore files that snapshot references (C(ir_attachment.store_fname)) as a tar stream,
    both streamed concurrently as parallel multipart uploads to S3. No full local copy is made.
  - Parts can be encrypted client-side (AES-256-GCM in chunks) with a key from O(encryption_keys), and/or
    stored with SSE-KMS; Object Lock retention and tags can be set on every object.
  - C(manifest.json) is written last (compatible with Odoo's database-manager manifest, plus checksums, sizes,
    times, source, encryption, retention and row counts). A backup without manifest is incomplete.
  - Runs on a host that reaches PostgreSQL and reads the filestore (an app host, or the control node).
version_added: 1.0.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.docker_engine
  - odooops.hosting.attributes
  - odooops.hosting.s3
  - odooops.hosting.postgres
  - odooops.hosting.postgres.client_tools
  - odooops.hosting.s3.keys
attributes:
  check_mode:
    support: full
    details: Validates the options, connects to PostgreSQL and checks the bucket; uploads nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run takes a new backup.
options:
  db:
    description: Odoo database to back up.
    type: str
    required: true
    aliases: [name]
  filestore_path:
    description:
      - The database's filestore directory (C(<data_dir>/filestore/<db>)). Empty means no filestore part
        (attachments stored in the database).
    type: path
  encryption_key_id:
    description: Id (in O(encryption_keys)) of the key to encrypt with. Unset means no client-side encryption.
    type: str
  sse_kms_key_id:
    description: KMS key for server-side encryption (SSE-KMS).
    type: str
  compress:
    description: pg_dump compression level (0-9); 1 is fast and compresses Odoo data well.
    type: int
    default: 1
  lock_mode:
    description: S3 Object Lock mode for every object of the backup (the bucket must have Object Lock enabled).
    type: str
    choices: [GOVERNANCE, COMPLIANCE]
  lock_days:
    description: Days the objects stay locked.
    type: int
    default: 0
  tags:
    description: Tags set on every object (plus C(odooops-db) and C(odooops-backup-id)).
    type: dict
    default: {}
  odoo_zip:
    description: Also export Odoo's database-manager zip (dump.sql, filestore/, manifest.json), for portability.
    type: bool
    default: false
  part_size_mb:
    description: Multipart part size (MiB, at least 5).
    type: int
    default: 16
  concurrency:
    description: Parts uploaded in parallel per stream.
    type: int
    default: 4
  statistics_tables:
    description: Tables whose row counts go into the manifest (for drills). Default a list of Odoo key tables.
    type: list
    elements: str
  odoo_image:
    description:
      - The Odoo image that serves the database (on this host's Docker engine). Its C(odoo/release.py), read as text
        by a one-shot container as the upgrade's image check does, gives the manifest's C(version) (Odoo's
        C(release.version), e.g. C(18.0+e-20241005)), C(version_info) and C(major_version), as Odoo's own dump
        manifest has them.
      - Unset, they are the series read from C(base)'s installed version (C(18.0)).
    type: str
"""

EXAMPLES = r"""
- name: Back up the shop database to S3, encrypted and locked for 30 days
  odooops.hosting.odoo_backup:
    db: shop
    filestore_path: /var/lib/odoo/filestore/shop
    login_host: db1
    login_user: odooops_backup
    login_password: "{{ odooops_backup_db_password }}"
    endpoint_url: https://s3.eu-west-1.amazonaws.com
    bucket: acme-odoo-backups
    access_key: "{{ odooops_s3_access_key }}"
    secret_key: "{{ odooops_s3_secret_key }}"
    encryption_keys: "{{ odooops_backup_keys }}"
    encryption_key_id: "{{ odooops_backup_key_id }}"
    lock_mode: COMPLIANCE
    lock_days: 30
"""

RETURN = r"""
backup_id:
  description: Id of the backup (UTC start time and a random suffix).
  returned: success
  type: str
  sample: 20261127T020000Z-3f1a
path:
  description: Key prefix holding the backup's objects.
  returned: success
  type: str
  sample: backups/shop/20261127T020000Z-3f1a/
manifest:
  description: The manifest written (Odoo's fields plus C(odooops) with parts, checksums, statistics).
  returned: success and not check mode
  type: dict
"""

from ansible_collections.odooops.hosting.plugins.module_utils.backup._module import BackupModule
from ansible_collections.odooops.hosting.plugins.module_utils.backup.backup import (
    BackupError,
    BackupRun,
    backup_dir,
    new_backup_id,
)
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import S3Error, describe_error
from ansible_collections.odooops.hosting.plugins.module_utils.odoo import modules as um
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import DOCKER_HOST_SPEC, DockerError, Engine


def odoo_release(p: dict) -> dict | None:
    """release.version and friends of the serving image's odoo/release.py (None without odoo_image)."""
    if not p["odoo_image"]:
        return None
    try:
        return um.read_image_release(Engine(p["docker_host"]), p["odoo_image"])
    except (DockerError, um.UpdateError) as exc:
        raise BackupError(f"odoo_image: {exc}; nothing was written") from exc


def run(bm: BackupModule) -> dict:
    p = bm.params
    ring = bm.key_ring()
    release = None if bm.check_mode else odoo_release(p)
    run_ = BackupRun(bm.pg(), bm.s3(), db_name=p["db"], bucket=p["bucket"], prefix=p["prefix"],
                     filestore_dir=p["filestore_path"] or None, key_ring=ring, key_id=p["encryption_key_id"],
                     compress=p["compress"], lock_mode=p["lock_mode"], lock_days=p["lock_days"], tags=p["tags"],
                     sse_kms_key_id=p["sse_kms_key_id"], odoo_zip=p["odoo_zip"],
                     part_size=p["part_size_mb"] * 1024 * 1024, concurrency=p["concurrency"],
                     statistics_tables=p["statistics_tables"], odoo_release=release)
    if bm.check_mode:
        bm.pg().connect(p["db"]).close()
        try:
            run_.s3.head_bucket(Bucket=p["bucket"])
        except Exception as exc:  # noqa: BLE001 - any botocore error means the bucket is not usable
            raise S3Error(f"bucket {p['bucket']} is not reachable: {describe_error(exc)}") from exc
        bid = new_backup_id()
        return {"changed": True, "backup_id": bid, "path": backup_dir(p["prefix"], p["db"], bid)}
    manifest = run_.run()
    return {"changed": True, "backup_id": run_.backup_id, "path": run_.dir, "manifest": manifest}


def main():
    bm = BackupModule(
        dict(
            db=dict(type="str", required=True, aliases=["name"]),
            filestore_path=dict(type="path"),
            encryption_key_id=dict(type="str", no_log=False),
            sse_kms_key_id=dict(type="str", no_log=False),
            compress=dict(type="int", default=1),
            lock_mode=dict(type="str", choices=["GOVERNANCE", "COMPLIANCE"]),
            lock_days=dict(type="int", default=0),
            tags=dict(type="dict", default={}),
            odoo_zip=dict(type="bool", default=False),
            part_size_mb=dict(type="int", default=16),
            concurrency=dict(type="int", default=4),
            statistics_tables=dict(type="list", elements="str"),
            odoo_image=dict(type="str"),
            **DOCKER_HOST_SPEC,
        ),
        postgres=True, keys=True, libs=("boto3", "psycopg2", "cryptography"), supports_check_mode=True,
        required_by={"lock_mode": "lock_days"},
    )
    bm.execute(run)


if __name__ == "__main__":
    main()
