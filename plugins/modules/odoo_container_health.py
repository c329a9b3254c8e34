#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_container_health
short_description: Wait until every container of a set is healthy, unhealthy or stopped, in one call
description:
  - Asks the Docker engine for the state and health of each container of O(containers) every O(interval) seconds,
    until each has a final answer (running and C(healthy) or C(unhealthy), not running, gone) or O(timeout) seconds
    have passed, and returns what it saw. It never fails on an unhealthy container; the caller decides (the odoo
    role gives up on the new web set, and the old one keeps serving).
  - One module call for the whole wait, where a task retried with C(until) ran a module on the host at every try.
  - Reads only; changes nothing.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.docker_engine
  - odooops.hosting.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  containers:
    description: Names or IDs of the containers.
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds to wait at most.
    type: int
    default: 120
  interval:
    description: Seconds between two looks.
    type: float
    default: 0.5
"""

EXAMPLES = r"""
- name: Web set - wait until every container is healthy (or gave up)
  odooops.hosting.odoo_container_health:
    containers: [shop-odoo-web-0a1b2c3d4e-0, shop-odoo-web-0a1b2c3d4e-1]
    timeout: 120
  register: health

- name: Every container healthy
  ansible.builtin.assert:
    that: health.unhealthy | length == 0
"""

RETURN = r"""
containers:
  description: For each container, its state (C(running), C(exited), C(missing), ...), its health (C(healthy),
    C(unhealthy), C(starting), C(none)) and the output of its last health check (300 characters at most).
  returned: always
  type: dict
unhealthy:
  description: The containers that are not running and healthy.
  returned: always
  type: list
  elements: str
waited:
  description: Seconds waited.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import container_health
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import DOCKER_HOST_SPEC, DockerError, Engine


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(containers=dict(type="list", elements="str", required=True),
                           timeout=dict(type="int", default=120), interval=dict(type="float", default=0.5),
                           **DOCKER_HOST_SPEC),
        supports_check_mode=True,
    )
    p = module.params
    if p["timeout"] < 0 or p["interval"] <= 0:
        module.fail_json(msg="timeout must be >= 0 and interval > 0")
    engine = Engine(p["docker_host"], timeout=30)
    try:
        result = container_health.wait(engine.container, p["containers"], p["timeout"], p["interval"])
    except DockerError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
