#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_replication_info
short_description: Replication state of a PostgreSQL node
description:
  - Role of the node (primary or standby), timeline, LSNs, per-standby lag in bytes and seconds with the
    synchronous state, replication slots and the WAL receiver's status.
  - Changes nothing.
version_added: 0.1.0
extends_documentation_fragment:
  - odooops.hosting.postgres
  - odooops.hosting.attributes
  - odooops.hosting.attributes.info_module
options: {}
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: Read the replication state of the local node
  odooops.hosting.postgres_replication_info:
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres
  register: repl

- name: Refuse to go on when a standby lags
  ansible.builtin.assert:
    that: repl.standbys | map(attribute='lag_bytes') | max <= 16777216
"""

RETURN = r"""
role:
  description: V(primary) or V(standby).
  returned: always
  type: str
timeline:
  description: Current timeline.
  returned: always
  type: int
current_lsn:
  description: WAL insert position (primary only).
  returned: always
  type: str
receive_lsn:
  description: Last WAL position received and flushed (standby only).
  returned: always
  type: str
replay_lsn:
  description: Last WAL position replayed (standby only).
  returned: always
  type: str
replay_paused:
  description: Whether replay is paused (standby only).
  returned: always
  type: bool
replay_delay_seconds:
  description: Seconds since the last replayed transaction was committed on the primary (standby only).
  returned: always
  type: float
standbys:
  description: pg_stat_replication rows with lag_bytes, flush_lag_bytes, write/flush/replay lag seconds.
  returned: always
  type: list
  elements: dict
slots:
  description: Replication slots (name, type, active, restart_lsn, wal_status).
  returned: always
  type: list
  elements: dict
wal_receiver:
  description: WAL receiver (status, sender_host, sender_port, slot_name, received_tli...) or null.
  returned: always
  type: dict
synchronous_standby_names:
  description: The node's synchronous_standby_names.
  returned: always
  type: str
"""

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import (
    PostgresModuleBase,
    connect,
    connect_params,
)
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.replication import node_info


def run(base: PostgresModuleBase) -> dict:
    conn = connect(connect_params(base.params))
    try:
        info = node_info(conn)
    finally:
        conn.close()
    info.pop("reachable", None)
    return {"changed": False, **info}


def main():
    base = PostgresModuleBase({}, supports_check_mode=True)
    base.execute(run)


if __name__ == "__main__":
    main()
