#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_upgrade_gates
short_description: Decide whether an upgrade may start, naming the reason of every refusal
description:
  - Evaluates the gates of O(policy) (from the inventory) over the facts gathered beforehand
    (O(backup_info), O(postgres), O(image_plan)), all of them, and fails with one message listing every refused
    gate. Changes nothing anywhere.
  - Gates are freeze windows (with time zones; an emergency override only by an authority listed in
    the policy), the change/approval reference format, a good backup younger than N hours, replication
    streaming under a lag threshold, disk headroom for the snapshot, no long-running transaction, and the
    target image being present with the same Odoo major version. See docs/upgrade.md for the shapes.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes.info_module
options:
  policy:
    description:
      - The gates' configuration, keys C(enabled), C(freeze_windows), C(emergency_authorities), C(approval_pattern),
        C(backup_max_age_hours), C(min_standbys), C(max_lag_bytes), C(max_lag_seconds), C(disk_factor),
        C(disk_reserve_bytes), C(max_transaction_seconds), C(allow_major_change).
    type: dict
    default: {}
  approval_ref:
    description: The change/approval reference of this upgrade.
    type: str
  emergency:
    description: Emergency override, C({authority, reason}).
    type: dict
  backup_info:
    description: Result of odoo_backup_info, C({backups [{id, status, end_time}], latest_good}).
    type: dict
  postgres:
    description: The C(postgres) part of a M(odooops.hosting.platform_baseline) capture on the primary.
    type: dict
  image_plan:
    description: A M(odooops.hosting.odoo_module_update) plan (or C({error}) when it could not be made).
    type: dict
  now:
    description: Evaluate at this ISO 8601 time instead of now (rehearsals, tests).
    type: str
  fail_on_refusal:
    description: Fail when a gate refuses.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Gates
  odooops.hosting.odoo_upgrade_gates:
    policy: "{{ upgrade_gates }}"
    approval_ref: "{{ upgrade_approval_ref }}"
    backup_info: "{{ backups }}"
    postgres: "{{ pre.baseline.postgres }}"
    image_plan: "{{ plan }}"
"""

RETURN = r"""
results:
  description: One entry per gate, C({gate, ok, reason}).
  returned: always
  type: list
  elements: dict
ok:
  description: Every gate passed.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import gates as g


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type="dict", default={}),
            approval_ref=dict(type="str"),
            emergency=dict(type="dict"),
            backup_info=dict(type="dict"),
            postgres=dict(type="dict"),
            image_plan=dict(type="dict"),
            now=dict(type="str"),
            fail_on_refusal=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        now = g.parse_time(p["now"]) if p["now"] else None
        results = g.evaluate(p["policy"], {k: p[k] for k in ("approval_ref", "emergency", "backup_info", "postgres",
                                                             "image_plan")}, now)
    except g.GateError as exc:
        module.fail_json(msg=f"upgrade gate configuration: {exc}")
    refusal = g.refusal(results)
    if refusal and p["fail_on_refusal"]:
        module.fail_json(msg=refusal, results=results, ok=False)
    module.exit_json(changed=False, results=results, ok=refusal is None)


if __name__ == "__main__":
    main()
