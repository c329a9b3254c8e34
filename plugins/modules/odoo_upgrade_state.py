#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_upgrade_state
short_description: Write or remove the record of an upgrade in progress on an app host
description:
  - Writes O(record) as JSON to O(path), mode 0600, in a directory made 0700 when missing, through a temporary file,
    fsync and rename (a reader sees the old record or the new one, never a part). C(playbooks/upgrade.yml) writes it
    before each stage changes anything; a later run recovers a dead run's upgrade from it.
  - One module call per stage, because it runs inside the maintenance window.
  - Never put secrets into the record.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  path:
    description: The record's file.
    type: path
    required: true
  record:
    description: The record (stage reached, containers, images; no secret). Required with O(state=present).
    type: dict
  state:
    description: C(present) writes the record, C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Upgrade state - snapshot
  odooops.hosting.odoo_upgrade_state:
    path: /var/lib/odooops/upgrade/shop.json
    record: {run: 20261207T120000-ab12, stack: shop, stage: snapshot}
"""

RETURN = r"""
path:
  description: The record's file.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import state as upgrade_state


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True), record=dict(type="dict"),
                           state=dict(type="str", choices=["present", "absent"], default="present")),
        required_if=[("state", "present", ["record"])],
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=True, path=p["path"])
    try:
        changed = (upgrade_state.write(p["path"], p["record"]) if p["state"] == "present"
                   else upgrade_state.remove(p["path"]))
    except (upgrade_state.StateError, OSError) as exc:
        module.fail_json(msg=str(exc), path=p["path"])
    module.exit_json(changed=changed, path=p["path"])


if __name__ == "__main__":
    main()
