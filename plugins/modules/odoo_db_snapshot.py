#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_db_snapshot
short_description: Pre-upgrade snapshot of an Odoo database inside PostgreSQL, and the swap back
description:
  - C(present) copies the database inside PostgreSQL with C(CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY),
    after forbidding and terminating connections to it (stop Odoo first); the snapshot carries a JSON comment
    saying what it is a snapshot of, and does not accept connections.
  - C(restored) swaps the snapshot back by renaming, in one transaction (the database becomes
    C(<db>__failed_<timestamp>), the snapshot becomes C(<db>)), which takes seconds whatever the size.
  - C(absent) drops the snapshot (or a C(__failed_) copy); databases that are not ours are refused.
  - The filestore part is M(odooops.hosting.odoo_filestore_snapshot), run where the files are.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
  - odooops.hosting.postgres
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  database:
    description: The Odoo database.
    type: str
    required: true
  snapshot:
    description: Name of the snapshot database (default C(<database>__pre_upgrade)).
    type: str
  state:
    description: What to do.
    type: str
    choices: [present, restored, absent]
    default: present
  label:
    description: Free text kept in the snapshot's metadata (e.g. the versions of the upgrade).
    type: str
    default: ''
  replace:
    description: Replace an existing snapshot of the same database (C(present)).
    type: bool
    default: false
  keep_failed:
    description: Keep the database that was swapped out (C(restored)) for analysis, renamed.
    type: bool
    default: true
  busy_timeout:
    description: Seconds to wait for sessions to go away before giving up.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Snapshot the database before the update
  odooops.hosting.odoo_db_snapshot:
    database: odoo
    label: "17.0-a -> 17.0-b"
  become: true
  become_user: postgres

- name: Roll back
  odooops.hosting.odoo_db_snapshot:
    database: odoo
    state: restored
"""

RETURN = r"""
snapshot:
  description: Name of the snapshot database.
  returned: always
  type: str
failed_database:
  description: Name the swapped-out database was given (C(restored), O(keep_failed)).
  returned: when state is restored
  type: str
duration:
  description: Seconds the operation took.
  returned: always
  type: float
size_bytes:
  description: Size of the source database.
  returned: when state is present
  type: int
meta:
  description: The metadata recorded on the snapshot (or on the restored database).
  returned: when state is present or restored
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import connection as pgc
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import snapshot as snap


def run(module: AnsibleModule) -> dict:
    p = module.params
    conn = pgu.connect(p)
    try:
        if p["state"] == "present":
            return snap.create_db_snapshot(conn, p["database"], p["snapshot"], p["label"], module.check_mode,
                                           p["replace"], p["busy_timeout"])
        if p["state"] == "restored":
            res = snap.restore_db_snapshot(conn, p["database"], p["snapshot"], module.check_mode, p["keep_failed"],
                                           p["busy_timeout"])
            res["snapshot"] = p["snapshot"] or snap.default_snapshot_name(p["database"])
            return res
        return {**snap.drop_db_snapshot(conn, p["snapshot"] or snap.default_snapshot_name(p["database"]),
                                        p["database"], module.check_mode), "duration": 0.0}
    finally:
        conn.close()


def main() -> None:
    spec = pgc.argument_spec()
    spec.update(
        database=dict(type="str", required=True),
        snapshot=dict(type="str"),
        state=dict(type="str", choices=["present", "restored", "absent"], default="present"),
        label=dict(type="str", default=""),
        replace=dict(type="bool", default=False),
        keep_failed=dict(type="bool", default=True),
        busy_timeout=dict(type="int", default=30),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not pgu.HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=str(pgu.PSYCOPG2_IMPORT_ERROR))
    try:
        module.exit_json(**run(module))
    except (snap.SnapshotError, pgc.PostgresError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
