#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_login_rotation
short_description: Two-phase rotation of Odoo's PostgreSQL login between two roles sharing one owner role
version_added: 0.1.0
description:
  - The owner role (NOLOGIN) owns Odoo's databases; two login roles are members of it with
    C(ALTER ROLE ... SET role = owner), and exactly one is active.
  - C(state=prepare) (phase 1) gives the inactive login role LOGIN and the new password; the active role is not
    touched, so running apps keep working. C(state=finalize) (phase 2, after the apps rolled onto the new role)
    revokes the old role (NOLOGIN, password removed), waits for its sessions to drain and optionally terminates
    what is left. C(state=abort) revokes the prepared role again when the rollout failed.
  - The password is sent as a SCRAM-SHA-256 verifier computed by the module, never in plain text.
  - Which role is active is kept in the owner role's comment, so each state is idempotent.
extends_documentation_fragment: [odooops.hosting.attributes, odooops.hosting.postgres]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  state:
    description: The rotation step.
    type: str
    choices: [prepare, finalize, abort, status]
    default: status
  owner_role:
    description: The NOLOGIN role owning Odoo's objects.
    type: str
    default: odoo_owner
  login_roles:
    description: The two login roles that alternate.
    type: list
    elements: str
    default: [odoo, odoo_b]
  new_password:
    description: The new password (required with O(state=prepare)).
    type: str
  drain_timeout:
    description: Seconds O(state=finalize) waits for the old role's sessions to end.
    type: int
    default: 0
  terminate:
    description: Terminate the old role's remaining sessions after O(drain_timeout).
    type: bool
    default: false
  scram_iterations:
    description: SCRAM iteration count of the verifier.
    type: int
    default: 4096
notes:
  - pg_hba.conf must admit both login roles (roles/postgres lists them).
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: Phase 1 - the inactive login role gets the new password
  odooops.hosting.postgres_login_rotation:
    state: prepare
    new_password: "{{ new_db_password }}"
  become: true
  become_user: postgres
  register: db_rotation
  no_log: true

- name: Phase 2 - after the apps rolled onto db_rotation.login_role, revoke the old one
  odooops.hosting.postgres_login_rotation:
    state: finalize
    drain_timeout: 60
    terminate: true
  become: true
  become_user: postgres
"""

RETURN = r"""
login_role:
  description: With prepare, the role the apps must now use; otherwise the active login role.
  returned: always
  type: str
  sample: odoo_b
previous_role:
  description: The role active before (prepare).
  returned: when state=prepare
  type: str
revoked_role:
  description: The role revoked (finalize, abort).
  returned: when state is finalize or abort
  type: str
terminated_sessions:
  description: Sessions of the old role terminated after the drain timeout.
  returned: when state=finalize
  type: int
remaining_sessions:
  description: Sessions of the old role still open (not terminated).
  returned: when state=finalize
  type: int
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
    p = module.params
    conn = sp.connect(p)
    try:
        ex = sp.Executor(conn.cursor(), module.check_mode)
        owner, logins = p["owner_role"], p["login_roles"]
        if p["state"] == "prepare":
            result = sp.prepare(ex, owner, logins, p["new_password"], p["scram_iterations"])
        elif p["state"] == "finalize":
            result = sp.finalize(ex, owner, logins, p["drain_timeout"], p["terminate"])
        elif p["state"] == "abort":
            result = sp.abort(ex, owner, logins)
        else:
            result = sp.status(ex, owner, logins)
        if module.check_mode:
            conn.rollback()
        else:
            conn.commit()
    finally:
        conn.close()
    result["queries"] = ex.queries
    result["diff"] = {"before": result.pop("before"), "after": result.pop("after")}
    return result


def main():
    spec = connection.argument_spec()
    spec.update(
        state={"type": "str", "default": "status", "choices": ["prepare", "finalize", "abort", "status"]},
        owner_role={"type": "str", "default": "odoo_owner"},
        login_roles={"type": "list", "elements": "str", "default": ["odoo", "odoo_b"]},
        new_password={"type": "str", "no_log": True},
        drain_timeout={"type": "int", "default": 0},
        terminate={"type": "bool", "default": False},
        scram_iterations={"type": "int", "default": 4096},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "prepare", ["new_password"])])
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"))
    try:
        result = run(module)
    except connection.PostgresError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # psycopg2 errors: one clear message, nothing half-done (transaction)
        module.fail_json(msg=f"PostgreSQL refused the rotation step: {sp.first_line(exc)}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
