#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: patroni_cluster
short_description: Read a Patroni cluster, switch over, or wait for (or ask) a failover through its REST API
description:
  - Talks to the members' REST APIs (any member answers reads). Used by playbooks/failover.yml when
    C(postgres_ha=patroni).
  - O(operation=info) reports the leader and members. O(operation=switchover) asks the leader to hand over to a
    running replica (the given one, or the one with the least lag) and waits until the new leader answers as a
    writable primary and the old one runs as its replica. O(operation=failover) waits for Patroni's automatic
    failover - a writable leader other than a dead one - and reports it, or asks Patroni to promote O(candidate).
    O(operation=rejoin) waits until every member runs under the current leader.
  - Automatic failover itself is Patroni's; this module never promotes PostgreSQL by itself.
version_added: 0.2.0
extends_documentation_fragment:
  - odooops.hosting.attributes
options:
  api_urls:
    description: Member name -> REST API base URL (C(https://host:8008); https only).
    type: dict
    required: true
  ca_file:
    description: The platform CA certificate; every member's certificate (and hostname) is verified against it.
    type: path
    required: true
  cert_file:
    description: Client certificate presented to the members (Patroni refuses unsafe methods without one).
    type: path
    required: true
  key_file:
    description: Its key.
    type: path
    required: true
  api_user:
    description: REST API user (basic authentication, needed for switchover and failover).
    type: str
    default: patroni
  api_password:
    description: Its password (sent in a header only).
    type: str
    default: ""
  operation:
    description:
      - What to do. V(info) reads the cluster; V(switchover) moves the leader to a healthy replica; V(failover)
        waits for (or, with O(force), asks) a failover; V(rejoin) waits until every member runs again.
    type: str
    choices: [info, switchover, failover, rejoin]
    default: info
  candidate:
    description: Member to switch or fail over to (empty - the healthiest replica, or Patroni's choice).
    type: str
    default: ""
  candidates:
    description: Members a switchover may choose among (empty - all).
    type: list
    elements: str
    default: []
  max_lag_bytes:
    description: A switchover refuses a candidate lagging more than this.
    type: int
  force:
    description: Ask for a failover to O(candidate) even though the leader still accepts writes.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the new leader (and the members).
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details: Reads and checks the request; asks Patroni for nothing.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: V(switchover) moves the leader each time; the others change nothing by themselves.
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: Switch over to db2 and wait until it is writable
  odooops.hosting.patroni_cluster:
    api_urls: {db1: "https://10.0.0.11:8008", db2: "https://10.0.0.12:8008", db3: "https://10.0.0.13:8008"}
    ca_file: /etc/odooops/pki/db-ca.crt
    cert_file: /etc/patroni/tls/patroni.crt
    key_file: /etc/patroni/tls/patroni.key
    api_password: "{{ odooops_patroni_api_password }}"
    operation: switchover
    candidate: db2
"""

RETURN = r"""
leader:
  description: Member holding the leader lock at the end (the new primary).
  returned: always
  type: str
previous_leader:
  description: Leader at the start (empty when none held the lock).
  returned: always
  type: str
members:
  description: Members at the end (name, role, state, timeline, lag).
  returned: always
  type: list
  elements: dict
seconds:
  description: Time taken.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.patroni import (
    CLIENT_TLS_SPEC,
    Api,
    Cluster,
    PatroniError,
    run,
    tls_context,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            api_urls=dict(type="dict", required=True),
            **CLIENT_TLS_SPEC,
            api_user=dict(type="str", default="patroni"),
            api_password=dict(type="str", default="", no_log=True),
            operation=dict(type="str", default="info", choices=["info", "switchover", "failover", "rejoin"]),
            candidate=dict(type="str", default=""),
            candidates=dict(type="list", elements="str", default=[]),
            max_lag_bytes=dict(type="int"),
            force=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        context = tls_context(p["ca_file"], p["cert_file"], p["key_file"])
        cluster = Cluster({name: Api(url, p["api_user"], p["api_password"], context=context)
                           for name, url in p["api_urls"].items()})
        result = run(cluster, p["operation"], p["candidate"], p["candidates"], p["max_lag_bytes"], p["wait_timeout"],
                     p["force"], module.check_mode)
    except (PatroniError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
