#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: redis_acl_rotation
short_description: Rotate a Redis ACL user's password in two phases (new beside old, then old removed)
version_added: 0.1.0
description:
  - C(state=prepare) adds the new password beside the user's current ones (clients keep working);
    C(state=finalize), after the clients rolled onto it, removes every other password of the user;
    C(state=abort) removes the new password again when the rollout failed.
  - Passwords are added and removed by their SHA-256 hash (C(#hash), C(!hash)), so the plain value is never sent to
    Redis except to log in.
  - With O(persist), the change is saved with C(ACL SAVE) when Redis uses an aclfile, else C(CONFIG REWRITE).
  - No dependency on redis-py (a small RESP client is built in).
extends_documentation_fragment: [odooops.hosting.attributes]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  state:
    description: The rotation step.
    type: str
    choices: [prepare, finalize, abort]
    required: true
  user:
    description: The ACL user whose password rotates; it must exist.
    type: str
    required: true
  new_password:
    description: The new password.
    type: str
    required: true
  persist:
    description: Save the ACL (ACL SAVE or CONFIG REWRITE) after a change.
    type: bool
    default: true
  login_user:
    description: ACL user to log in as (needs C(+acl) and C(+config)).
    type: str
    default: admin
  login_password:
    description: Its password. When O(user) is O(login_user), finalize and abort may log in with either password.
    type: str
    required: true
  login_host:
    description: Redis host.
    type: str
    default: 127.0.0.1
  login_port:
    description: Redis port.
    type: int
    default: 6379
  login_unix_socket:
    description: Unix socket path, instead of host and port.
    type: str
  tls:
    description: Use TLS.
    type: bool
    default: false
  ca_certs:
    description: CA bundle for TLS.
    type: str
  validate_certs:
    description: Verify the server certificate.
    type: bool
    default: true
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: Phase 1 - Odoo's Redis user accepts the new password too
  odooops.hosting.redis_acl_rotation:
    state: prepare
    user: odoo
    new_password: "{{ new_redis_password }}"
    login_password: "{{ odooops_redis_admin_password }}"
  no_log: true

- name: Phase 2 - only the new password is left
  odooops.hosting.redis_acl_rotation:
    state: finalize
    user: odoo
    new_password: "{{ new_redis_password }}"
    login_password: "{{ odooops_redis_admin_password }}"
  no_log: true
"""

RETURN = r"""
user:
  description: The ACL user.
  returned: always
  type: str
passwords:
  description: How many passwords the user has now.
  returned: always
  type: int
persisted:
  description: How the change was saved (C(ACL SAVE), C(CONFIG REWRITE)) or null.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.secrets import redis_acl as sr

STEPS = {"prepare": sr.add_password, "finalize": sr.keep_only, "abort": sr.remove_password}


def run(module: AnsibleModule) -> dict:
    p = module.params
    client = sr.RespClient(p["login_host"], p["login_port"], p["login_unix_socket"], p["tls"], p["ca_certs"],
                           p["validate_certs"])
    with client:
        client.auth(p["login_user"], p["login_password"])
        return STEPS[p["state"]](client, p["user"], p["new_password"], p["persist"], module.check_mode)


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "required": True, "choices": list(STEPS)},
            "user": {"type": "str", "required": True},
            "new_password": {"type": "str", "required": True, "no_log": True},
            "persist": {"type": "bool", "default": True},
            "login_user": {"type": "str", "default": "admin"},
            "login_password": {"type": "str", "required": True, "no_log": True},
            "login_host": {"type": "str", "default": "127.0.0.1"},
            "login_port": {"type": "int", "default": 6379},
            "login_unix_socket": {"type": "str"},
            "tls": {"type": "bool", "default": False},
            "ca_certs": {"type": "str"},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except sr.RedisAclError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
