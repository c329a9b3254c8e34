#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_auth
short_description: etcd's RBAC for Patroni - root, a user and role limited to Patroni's key prefix, authentication on
description:
  - Talks to one etcd member's JSON gateway over TLS, presenting a client certificate and verifying etcd's against
    O(ca_file) (hostname included). Used by the postgres role in Patroni mode (C(postgres_ha=patroni)).
  - Makes a C(root) user with O(root_password) and the root role, a role O(user) with READWRITE on O(prefix) only,
    a user O(user) holding only that role, then enables authentication. Idempotent; a wrong O(password) of
    O(user) is set again (as root).
  - Client certificates sent to etcd's gateway must have no common name (etcd 3.4 refuses them once
    authentication is on).
version_added: 0.2.0
extends_documentation_fragment:
  - odooops.hosting.attributes
options:
  endpoint:
    description: C(https://address:2379) of a member.
    type: str
    required: true
  ca_file:
    description: The platform CA certificate (verifies etcd).
    type: path
    required: true
  cert_file:
    description: Client certificate (no common name).
    type: path
    required: true
  key_file:
    description: Its key.
    type: path
    required: true
  root_password:
    description: Password of etcd's C(root) user (sent in the request body over TLS only).
    type: str
    required: true
  user:
    description: The user and role of Patroni.
    type: str
    default: patroni
  password:
    description: Its password.
    type: str
    required: true
  prefix:
    description: Key prefix the role may read and write (Patroni's namespace and scope).
    type: str
    required: true
attributes:
  check_mode:
    support: full
    details: Reads and reports what it would do.
  diff_mode:
    support: none
  idempotent:
    support: full
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: etcd's RBAC
  odooops.hosting.etcd_auth:
    endpoint: https://10.0.0.11:2379
    ca_file: /etc/odooops/pki/db-ca.crt
    cert_file: /etc/patroni/tls/patroni.crt
    key_file: /etc/patroni/tls/patroni.key
    root_password: "{{ odooops_etcd_root_password }}"
    password: "{{ odooops_etcd_patroni_password }}"
    prefix: /odooops/15-main/
"""

RETURN = r"""
actions:
  description: What was (or, in check mode, would be) done.
  returned: always
  type: list
  elements: str
enabled_now:
  description: Whether this run enabled authentication.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.etcd_auth import Client, EtcdError, ensure_auth
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.patroni import CLIENT_TLS_SPEC


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoint=dict(type="str", required=True),
            **CLIENT_TLS_SPEC,
            root_password=dict(type="str", required=True, no_log=True),
            user=dict(type="str", default="patroni"),
            password=dict(type="str", required=True, no_log=True),
            prefix=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        client = Client(p["endpoint"], p["ca_file"], p["cert_file"], p["key_file"])
        result = ensure_auth(client, p["root_password"], p["user"], p["password"], p["prefix"], module.check_mode)
    except (EtcdError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
