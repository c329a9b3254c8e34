#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_role_password
short_description: Set a PostgreSQL role's password as a client-side SCRAM-SHA-256 verifier
version_added: 0.1.0
description:
  - Sets the password of an existing role (for example the replication role) in place, sending only a
    SCRAM-SHA-256 verifier computed by the module, so the plain password reaches neither the server nor its logs.
  - Idempotent without knowing the old password, as the stored verifier is checked against the new password.
  - The role must exist (roles/postgres creates it without a password first); in check mode a missing role is
    reported as a change, as the task creating it did not run.
  - For the replication role, sessions already streaming stay up (a password is only checked at login); update
    the standbys' password file right after (playbooks/rotate_secrets.yml does).
extends_documentation_fragment: [odooops.hosting.attributes, odooops.hosting.postgres]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  role:
    description: The role whose password is set; it must exist.
    type: str
    required: true
  password:
    description: The new password.
    type: str
    required: true
  scram_iterations:
    description: SCRAM iteration count of the verifier.
    type: int
    default: 4096
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: New replication password
  odooops.hosting.postgres_role_password:
    role: replicator
    password: "{{ odooops_replication_password }}"
  become: true
  become_user: postgres
  no_log: true
"""

RETURN = r"""
role:
  description: The role.
  returned: always
  type: str
queries:
  description: Statements run (or that would run), passwords redacted.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import connection
from ansible_collections.odooops.hosting.plugins.module_utils.postgres import login_rotation as sp

try:
    import psycopg2
except ImportError:
    psycopg2 = None

HAS_PSYCOPG2 = psycopg2 is not None


def run(module: AnsibleModule) -> dict:
    conn = sp.connect(module.params)
    try:
        ex = sp.Executor(conn.cursor(), module.check_mode)
        result = sp.set_password(ex, module.params["role"], module.params["password"],
                                 module.params["scram_iterations"])
        conn.rollback() if module.check_mode else conn.commit()
    finally:
        conn.close()
    result["queries"] = ex.queries
    return result


def main():
    spec = connection.argument_spec()
    spec.update(role={"type": "str", "required": True},
                password={"type": "str", "required": True, "no_log": True},
                scram_iterations={"type": "int", "default": 4096})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"))
    try:
        result = run(module)
    except connection.PostgresError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # psycopg2 errors
        module.fail_json(msg=f"PostgreSQL refused the password change: {sp.first_line(exc)}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
