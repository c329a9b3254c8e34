# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""role_argument_spec: the options of a role's argument spec, for ansible.builtin.validate_argument_spec in the
workflow playbooks' preflight (playbooks/tasks/preflight.yml). Logic in module_utils/preflight/checks.py."""
from __future__ import annotations

DOCUMENTATION = r"""
name: role_argument_spec
short_description: The argument spec options of one of the collection's roles
description:
  - Returns the C(options) of an entry point of C(roles/<role>/meta/argument_specs.yml) of this collection, to
    validate the inventory against a role's spec before any play runs the role
    (C(ansible.builtin.validate_argument_spec) with O(_input) C(argument_spec)).
options:
  _input:
    description: Role name, e.g. C(postgres).
    type: str
    required: true
  entry_point:
    description: Entry point of the role.
    type: str
    default: main
"""

EXAMPLES = r"""
- name: The db hosts' inventory against the postgres role's spec
  ansible.builtin.validate_argument_spec:
    argument_spec: "{{ 'postgres' | odooops.hosting.role_argument_spec }}"
"""

RETURN = r"""
_value:
  description: The options mapping of the entry point.
  type: dict
"""

import os

from ansible.errors import AnsibleFilterError

from ansible_collections.odooops.hosting.plugins.module_utils.preflight import checks as pf

ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")


def role_argument_spec(role: str, entry_point: str = "main") -> dict:
    try:
        return pf.load_role_options(ROLES_DIR, str(role), str(entry_point))
    except ValueError as exc:
        raise AnsibleFilterError(f"role_argument_spec: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"role_argument_spec": role_argument_spec}
