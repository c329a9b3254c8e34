#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: pgbackrest_pitr_drill
short_description: Restore the pgBackRest repository to a point in time into a scratch instance and check it
description:
  - The point-in-time half of a DR drill, run on a db host that has pgBackRest configured. Restores the
    repository to a target into a scratch data directory beside the production cluster, starts a scratch
    PostgreSQL on it (unix socket only, archiving off, tablespaces remapped inside the scratch directory), waits
    for the end of recovery, checks what came back, then stops and removes the scratch instance.
  - The default target C(marker) writes two marker rows on the primary (C(odooops_drill.pitr_marker) in the
    C(postgres) database), takes the target time between them, has them archived and checks that the first came
    back and the second did not. C(latest) recovers to the end of the archive and checks that a marker written
    just before is there. A timestamp recovers to that time and compares the markers of earlier drills.
  - Returns its own RPO (age of the newest archived WAL when the drill started) and RTO (restore + WAL replay
    until promoted), and pass/fail per check. A failed check does not fail the task; the drill report does.
version_added: 1.0.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
attributes:
  check_mode:
    support: full
    details: Checks the settings and that the repository holds a backup; restores nothing, writes no marker.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every drill restores and writes new markers.
options:
  conf_path:
    description: pgbackrest.conf of the cluster.
    type: path
    default: /etc/pgbackrest/pgbackrest.conf
  stanza:
    description: pgBackRest stanza.
    type: str
    default: odoo
  target:
    description: C(marker), C(latest) or a timestamp with zone (C(2026-11-27 10:15:00+00)).
    type: str
    default: marker
  databases:
    description:
      - Databases to restore and check (pgBackRest C(--db-include); the system databases always come back).
        Empty restores the whole cluster. They must exist in the backup the restore starts from.
    type: list
    elements: str
    default: []
  scratch_dir:
    description: Directory for the scratch instance (a fresh subdirectory is made and removed); needs room for
      the databases restored.
    type: path
    default: /var/lib/postgresql/odooops-drill
  scratch_port:
    description: Port number of the scratch instance's unix socket (no TCP listener is opened).
    type: int
    default: 54329
  source_socket:
    description: Unix socket directory of the production cluster (markers, archiver status).
    type: path
    default: /var/run/postgresql
  source_port:
    description: Port of the production cluster.
    type: int
    default: 5432
  pg_bin:
    description: PostgreSQL binaries.
    type: path
    default: /usr/lib/postgresql/15/bin
  recovery_timeout:
    description: Seconds allowed for the restore, and again for the WAL replay.
    type: int
    default: 1800
notes:
  - Run it as root (C(become=true); pgbackrest, pg_ctl and psql then run as postgres through C(runuser)) or as
    the cluster owner.
"""

EXAMPLES = r"""
- name: PITR drill
  odooops.hosting.pgbackrest_pitr_drill:
    databases: [shop]
  become: true
  register: drill_pitr
"""

RETURN = r"""
pitr:
  description: >-
    mode, target_time, newest_archived, recovered_to, rpo_s, rto_s, timings (restore_s, recovery_s, total_s),
    checks (name, ok, detail), passed, started_at, finished_at, tables (row counts of key tables per database).
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.backup.pitr_drill import (
    PitrDrillError,
    Runner,
    check_settings,
    pitr_drill,
    repository_info,
)


def run(module: AnsibleModule) -> dict:
    p = module.params
    runner = Runner(pg_bin=p["pg_bin"])
    if module.check_mode:
        mode = check_settings(stanza=p["stanza"], target=p["target"], scratch_dir=p["scratch_dir"],
                              databases=p["databases"])
        info = repository_info(p["conf_path"], p["stanza"], runner)
        detail = (f"target {mode}, {info['backups']} backups in the repository (latest {info['latest']}); "
                  "nothing restored")
        return {"changed": True, "pitr": {"mode": mode, "repository": info, "checks": [], "passed": None,
                                          "check_mode": True, "detail": detail}}
    os.makedirs(p["scratch_dir"], mode=0o700, exist_ok=True)
    runner.chown(p["scratch_dir"])
    result = pitr_drill(conf_path=p["conf_path"], stanza=p["stanza"], scratch_dir=p["scratch_dir"],
                        target=p["target"], databases=p["databases"], source_socket=p["source_socket"],
                        source_port=p["source_port"], scratch_port=p["scratch_port"], runner=runner,
                        recovery_timeout=p["recovery_timeout"])
    return {"changed": True, "pitr": result}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            conf_path=dict(type="path", default="/etc/pgbackrest/pgbackrest.conf"),
            stanza=dict(type="str", default="odoo"),
            target=dict(type="str", default="marker"),
            databases=dict(type="list", elements="str", default=[]),
            scratch_dir=dict(type="path", default="/var/lib/postgresql/odooops-drill"),
            scratch_port=dict(type="int", default=54329),
            source_socket=dict(type="path", default="/var/run/postgresql"),
            source_port=dict(type="int", default=5432),
            pg_bin=dict(type="path", default="/usr/lib/postgresql/15/bin"),
            recovery_timeout=dict(type="int", default=1800),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except (PitrDrillError, OSError) as exc:
        module.fail_json(msg=f"PITR drill: {exc}")


if __name__ == "__main__":
    main()
