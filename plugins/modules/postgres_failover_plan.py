#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_failover_plan
short_description: Tell who is what in a PostgreSQL cluster and plan a switchover, failover or rejoin
description:
  - Classifies the db hosts from what M(odooops.hosting.postgres_replication_info) answered on each (primaries,
    standbys, and down for those that did not answer) and checks the request of a C(failover.yml) run. Connects
    to nothing and changes nothing; run it once, on the control node.
  - C(switchover) needs exactly one running primary; the target is O(target), else the standby streaming from the
    primary with the least lag as the primary sees it (among O(candidates) when given). It must stream and lag at
    most O(max_lag_bytes).
  - C(failover) refuses while a primary still accepts writes, unless O(force); it needs a reachable standby among
    O(candidates) (all standbys when empty). The promotion itself chooses among them live
    (M(odooops.hosting.postgres_promote)).
  - C(rejoin) needs exactly one running primary.
  - A refusal fails with a message that says why, and that nothing was changed.
version_added: 0.2.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes.info_module
options:
  mode:
    description: What the run is to do.
    type: str
    required: true
    choices: [switchover, failover, rejoin]
  nodes:
    description:
      - Every db host of the run, C({name, host, port, info}); C(info) is what
        M(odooops.hosting.postgres_replication_info) returned on it, or empty when it did not answer.
    type: list
    elements: dict
    required: true
  candidates:
    description: The hosts that may become the primary (empty, any standby).
    type: list
    elements: str
    default: []
  target:
    description: The switchover's target (empty, chosen by lag).
    type: str
    default: ''
  max_lag_bytes:
    description: The most a switchover's target may lag behind the primary.
    type: int
    default: 16777216
  force:
    description: Fail over although a primary still accepts writes (it is abandoned and fenced).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Who is what, and the target
  odooops.hosting.postgres_failover_plan:
    mode: switchover
    nodes: "{{ groups['db'] | map('extract', hostvars, '_node') | list }}"
  register: plan
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
primaries:
  description: The hosts that answered as a primary.
  returned: always
  type: list
  elements: str
standbys:
  description: The hosts that answered as a standby.
  returned: always
  type: list
  elements: str
down:
  description: The hosts that did not answer.
  returned: always
  type: list
  elements: str
nodes:
  description: C({name, host, port}) of every host, for the promotion and the rejoin.
  returned: always
  type: list
  elements: dict
old_primary:
  description: The primary a switchover moves away from.
  returned: mode is switchover
  type: str
target:
  description: The switchover's target.
  returned: mode is switchover
  type: str
target_lag_bytes:
  description: The target's lag as the primary sees it.
  returned: mode is switchover
  type: int
candidates:
  description: The reachable standbys among the candidates, in inventory order.
  returned: mode is failover
  type: list
  elements: str
promote_on:
  description: The host that runs the promotion (the first of RV(candidates)).
  returned: mode is failover
  type: str
primary:
  description: The running primary the other nodes rejoin.
  returned: mode is rejoin
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import failover_plan as fp


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", required=True, choices=list(fp.MODES)),
            nodes=dict(type="list", elements="dict", required=True),
            candidates=dict(type="list", elements="str", default=[]),
            target=dict(type="str", default=""),
            max_lag_bytes=dict(type="int", default=fp.DEFAULT_MAX_LAG_BYTES),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for node in p["nodes"]:
        missing = [k for k in ("name", "host", "port") if node.get(k) in (None, "")]
        if missing:
            module.fail_json(msg=f"nodes: {node.get('name', node)!r} lacks {', '.join(missing)}; nothing was changed")
    try:
        result = fp.plan(p["mode"], p["nodes"], p["candidates"], p["target"], p["max_lag_bytes"], p["force"])
    except fp.PlanRefused as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
