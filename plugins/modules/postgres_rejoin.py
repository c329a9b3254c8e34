#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_rejoin
short_description: Fence a former PostgreSQL primary, or make it a streaming standby of the new one
description:
  - Runs on the node itself (it needs the data directory and PostgreSQL's tools).
  - O(state=fenced) makes the node unable to accept writes when it comes back, it stops it when it runs as a
    primary, writes C(standby.signal) and a C(odooops.fenced) marker (the postgres role refuses to start a
    fenced node as a primary).
  - O(state=standby) makes it a standby of the primary at O(primary_host) with C(pg_rewind) (which first
    completes crash recovery when the node was not shut down cleanly), or with a fresh C(pg_basebackup) when
    rewinding is impossible and O(rebuild=auto), or always with O(rebuild=always). Configuration files that
    pg_rewind copies from the source (postgresql.conf, postgresql.auto.conf, pg_hba.conf, pg_ident.conf
    when they are in the data directory) are put back afterwards, so per-node settings survive. The
    replication slot is created on the primary; primary_conninfo uses a passfile, never a password.
  - A node already streaming from O(primary_host) is left alone.
version_added: 0.1.0
extends_documentation_fragment:
  - odooops.hosting.postgres
  - odooops.hosting.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  state:
    description: V(standby) to rejoin, V(fenced) to fence.
    type: str
    default: standby
    choices: [standby, fenced]
  data_dir:
    description: Data directory of the node.
    type: path
    required: true
  bin_dir:
    description: Directory of pg_ctl, pg_rewind, pg_basebackup, pg_controldata.
    type: path
    default: /usr/lib/postgresql/15/bin
  control:
    description: How to start and stop the node (V(pg_ctlcluster) works without systemd).
    type: str
    default: pg_ctlcluster
    choices: [pg_ctl, pg_ctlcluster, systemd]
  cluster:
    description: C(version/name) of the cluster for pg_ctlcluster and systemd.
    type: str
    default: 15/main
  log_file:
    description: Server log for O(control=pg_ctl).
    type: path
  os_user:
    description: OS user owning the data directory.
    type: str
    default: postgres
  primary_host:
    description: Address of the new primary (required for O(state=standby)).
    type: str
  primary_port:
    description: Port of the new primary.
    type: int
    default: 5432
  replication_user:
    description: Role used for streaming, pg_rewind and the slot (REPLICATION, pg_rewind's function grants).
    type: str
    default: replicator
  passfile:
    description: libpq passfile (0600, owned by O(os_user)) holding the replication password.
    type: path
  primary_ssl_mode:
    description: sslmode towards the primary.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  primary_ssl_rootcert:
    description:
      - CA certificate the primary's server certificate is verified with (libpq sslrootcert), written into
        primary_conninfo too. Needed with O(primary_ssl_mode=verify-ca) or V(verify-full).
    type: path
  slot_name:
    description: Physical replication slot on the primary (created when missing). Empty for none.
    type: str
  application_name:
    description: Name the node reports to the primary (matches synchronous_standby_names).
    type: str
    required: true
  rebuild:
    description: When to copy the node afresh with pg_basebackup instead of pg_rewind.
    type: str
    default: auto
    choices: [never, auto, always]
  wait_seconds:
    description: How long to wait for the node to stream after it started.
    type: int
    default: 120
  restore_synchronous:
    description: Reset a synchronous_standby_names relaxed by M(odooops.hosting.postgres_promote) once streaming.
    type: bool
    default: true
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: Fence the old primary as soon as it is reachable
  odooops.hosting.postgres_rejoin:
    state: fenced
    data_dir: /var/lib/postgresql/15/main
    application_name: db1

- name: Rejoin it as a standby of db2
  odooops.hosting.postgres_rejoin:
    data_dir: /var/lib/postgresql/15/main
    primary_host: db2
    passfile: /var/lib/postgresql/.pgpass
    primary_ssl_mode: verify-full
    primary_ssl_rootcert: /etc/odooops/pki/db-ca.crt
    slot_name: db1
    application_name: db1
"""

RETURN = r"""
method:
  description: V(none) (nothing to rewind), V(rewind), V(rebuild), or null when nothing was done.
  returned: always
  type: str
state:
  description: V(streaming) or V(fenced).
  returned: when known
  type: str
rewind_error:
  description: Why pg_rewind was not possible when the node was rebuilt.
  returned: when rebuilt after a failed rewind
  type: str
fence_cleared:
  description: Whether a fence marker was removed.
  returned: state=standby
  type: bool
lost:
  description:
    - Before the rewind, what this node (an old primary) committed that the new primary never received,
      counted from its own WAL (C(pg_rewind --dry-run) gives the divergence point, C(pg_waldump) the commits
      after it). With asynchronous replication this is the failover's lost window; the rewind discards it.
    - V(user_commits) counts the transactions that wrote to a user relation (an application's writes),
      V(commits) every commit record; V(first_commit_at) and V(last_commit_at) are this node's commit times.
    - Null when it cannot be told (no divergence point found).
  returned: when a rewind was attempted
  type: dict
  sample: {"diverged_at": "0/5000138", "timeline": 1, "commits": 38, "user_commits": 37,
           "first_commit_at": "2026-12-06 21:10:03.123456 UTC", "last_commit_at": "2026-12-06 21:10:04.5 UTC"}
"""

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import replication as repl
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import (
    PostgresError,
    PostgresModuleBase,
    connect_params,
)


def run(base: PostgresModuleBase) -> dict:
    p = base.params
    cluster = repl.LocalCluster(p["data_dir"], p["bin_dir"], p["control"], p["cluster"], p["log_file"],
                                p["os_user"], runner=base.runner)
    if p["state"] == "fenced":
        return repl.fence(cluster, base.module.check_mode)
    if not p["primary_host"]:
        raise PostgresError("primary_host is required with state=standby")
    primary = {"host": p["primary_host"], "port": p["primary_port"], "user": p["replication_user"],
               "dbname": "postgres", "sslmode": p["primary_ssl_mode"]}
    if p["primary_ssl_rootcert"]:
        primary["sslrootcert"] = p["primary_ssl_rootcert"]
    primary_kw = {**primary, "connect_timeout": p["connect_timeout"], "application_name": "odooops.hosting"}
    if p["passfile"]:
        primary_kw["passfile"] = p["passfile"]
    return repl.rejoin(cluster, primary, primary_kw, connect_params(p), p["slot_name"] or None,
                       p["application_name"], passfile=p["passfile"], rebuild=p["rebuild"],
                       check_mode=base.module.check_mode, wait_seconds=p["wait_seconds"],
                       restore_synchronous=p["restore_synchronous"])


def main():
    base = PostgresModuleBase(
        dict(
            state=dict(type="str", default="standby", choices=["standby", "fenced"]),
            data_dir=dict(type="path", required=True),
            bin_dir=dict(type="path", default="/usr/lib/postgresql/15/bin"),
            control=dict(type="str", default="pg_ctlcluster", choices=["pg_ctl", "pg_ctlcluster", "systemd"]),
            cluster=dict(type="str", default="15/main"),
            log_file=dict(type="path"),
            os_user=dict(type="str", default="postgres"),
            primary_host=dict(type="str"),
            primary_port=dict(type="int", default=5432),
            replication_user=dict(type="str", default="replicator"),
            passfile=dict(type="path", no_log=False),
            primary_ssl_mode=dict(type="str", default="prefer",
                                  choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]),
            primary_ssl_rootcert=dict(type="path"),
            slot_name=dict(type="str"),
            application_name=dict(type="str", required=True),
            rebuild=dict(type="str", default="auto", choices=["never", "auto", "always"]),
            wait_seconds=dict(type="int", default=120),
            restore_synchronous=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
        required_if=[("state", "standby", ["primary_host"])],
    )
    base.execute(run)


if __name__ == "__main__":
    main()
