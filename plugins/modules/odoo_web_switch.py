#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_web_switch
short_description: Switch an app host's serving state in one call (maintenance page, containers, app network)
description:
  - What an upgrade does at the edges of its maintenance window, and its rollback, in one module call through the
    Docker Engine API instead of a module run per container and per file. The steps run in this fixed order, each
    only when asked; a step with nothing to do changes nothing.
  - 1. The upgrade's state record written with O(stage) (0600, as M(odooops.hosting.odoo_upgrade_state) writes it).
  - 2. With O(maintenance=true), the maintenance page on, at the edge (O(edge.container)) first, then in the host's
    copy (O(edge.host_path)).
  - 3. O(stop) stopped, in order; O(remove) removed, and the containers with the labels of
    O(remove_labelled.labels) but those of O(remove_labelled.keep) (with their anonymous volumes, never named
    ones).
  - 4. O(leave) taken off O(network); O(join) joined to it with O(aliases). 5. O(start) started.
  - 6. With O(ready), the readiness of each container of O(start) waited for (the database's login page, and a
    JSON-RPC login with O(ready.login)), never C(/web/health), which answers without a database.
  - 7. With O(maintenance=false), the maintenance page off (edge first). 8. O(start_after) started (the cron, once
    users are back). 9. The state record written again with O(stage_after).
  - A failure stops at the failing step; the message names it and the steps done before.
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
  state_path:
    description: The upgrade's state record on the host. Without it, nothing is recorded.
    type: path
  state_record:
    description: The record without its C(stage) (run, stack, images, containers; never a secret).
    type: dict
  stage:
    description: The stage recorded before anything changes.
    type: str
  stage_after:
    description: The stage recorded once every step is done.
    type: str
  maintenance:
    description: C(true) turns the page on before the containers change, C(false) turns it off after them; unset
      leaves it as it is.
    type: bool
  edge:
    description: Where the maintenance page is switched.
    type: dict
    suboptions:
      container:
        description: The container that serves the edge (Traefik, or the fallback publisher).
        type: str
        required: true
      path:
        description: The dynamic file in that container.
        type: str
        required: true
      host_path:
        description: The host's copy of that file (the next provision renders from it).
        type: path
      page_on:
        description: The file's content with the page on.
        type: str
        default: ''
      page_off:
        description: The file's content with the page off.
        type: str
        default: ''
  stop:
    description: Containers to stop, in this order.
    type: list
    elements: str
    default: []
  stop_timeout:
    description: Seconds each container is given to stop before it is killed.
    type: int
    default: 20
  remove:
    description: Containers removed (stopped first if they run; gone ones are skipped).
    type: list
    elements: str
    default: []
  remove_labelled:
    description: Containers found by their labels and removed, but those kept (the names found are returned).
    type: dict
    suboptions:
      labels:
        description: Labels (C(key=value)) a container must all carry.
        type: list
        elements: str
        required: true
      keep:
        description: Containers never removed this way.
        type: list
        elements: str
        default: []
  network:
    description: The app network (required with O(leave) or O(join)).
    type: str
  leave:
    description: Containers taken off O(network).
    type: list
    elements: str
    default: []
  join:
    description: Containers joined to O(network) with O(aliases) (joined again when an alias is missing).
    type: list
    elements: str
    default: []
  aliases:
    description: Aliases on O(network) of the containers of O(join).
    type: list
    elements: str
    default: []
  start:
    description: Containers started (after the network steps).
    type: list
    elements: str
    default: []
  start_after:
    description: Containers started after the page is off.
    type: list
    elements: str
    default: []
  ready:
    description: The readiness to wait for after O(start), container by container.
    type: dict
    suboptions:
      port:
        description: Odoo's HTTP port; each container of O(start) is asked at C(http://<name>:<port>) from this host.
        type: int
        default: 8069
      host:
        description: The Host header sent.
        type: str
      database:
        description: The database whose login page must load.
        type: str
      login:
        description: A user that logs in through JSON-RPC.
        type: str
      password:
        description: Its password.
        type: str
      wait:
        description: Seconds to wait at most for a container that does not answer yet (still starting).
        type: float
        default: 120
      error_grace:
        description: Seconds a container may answer with errors only (login page or JSON-RPC login failing)
          before it is given up; a container that stops running is given up at once.
        type: float
        default: 10
      interval:
        description: Seconds between two tries.
        type: float
        default: 0.25
      timeout:
        description: Seconds per request.
        type: float
        default: 10
"""

EXAMPLES = r"""
- name: Stage maintenance - page on, cron and web stopped, web off the app network
  odooops.hosting.odoo_web_switch:
    state_path: /var/lib/odooops/upgrade/shop.json
    state_record: {run: 20261207T120000-ab12, stack: shop}
    stage: maintenance
    stage_after: snapshot
    maintenance: true
    edge: "{{ traefik_edge }}"
    stop: [shop-odoo-cron, shop-odoo-web-0a1b2c3d4e-0]
    network: shop-app
    leave: [shop-odoo-web-0a1b2c3d4e-0]

- name: Stage open - the verified set joins, page off
  odooops.hosting.odoo_web_switch:
    state_path: /var/lib/odooops/upgrade/shop.json
    state_record: {run: 20261207T120000-ab12, stack: shop}
    stage: open
    network: shop-app
    join: [shop-odoo-web-9f8e7d6c5b-0]
    aliases: [shop-odoo-web]
    maintenance: false
    edge: "{{ traefik_edge }}"
"""

RETURN = r"""
labelled:
  description: The containers that carried the labels of O(remove_labelled), before any was removed.
  returned: when O(remove_labelled) was given
  type: list
  elements: str
done:
  description: What was done, step by step (names of containers and files, never their contents).
  returned: always
  type: list
  elements: str
times:
  description: When steps ended, in epoch seconds - C(ready) (every started container ready), C(page_off) (users
    are back) - for a caller that times what users lived.
  returned: always
  type: dict
ready:
  description: Per container of O(start), the readiness check's result (healthy, failures, attempts, waited).
  returned: when O(ready) was given and not in check mode
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import web_switch
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import DOCKER_HOST_SPEC, Engine

_LIST = dict(type="list", elements="str", default=[])


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state_path=dict(type="path"), state_record=dict(type="dict"), stage=dict(type="str"),
            stage_after=dict(type="str"), maintenance=dict(type="bool"),
            edge=dict(type="dict", options=dict(
                container=dict(type="str", required=True), path=dict(type="str", required=True),
                host_path=dict(type="path"), page_on=dict(type="str", default=""),
                page_off=dict(type="str", default=""))),
            stop=_LIST, remove=_LIST,
            remove_labelled=dict(type="dict", options=dict(labels=dict(type="list", elements="str", required=True),
                                                           keep=_LIST)),
            stop_timeout=dict(type="int", default=20), network=dict(type="str"), leave=_LIST,
            join=_LIST, aliases=_LIST, start=_LIST, start_after=_LIST,
            ready=dict(type="dict", options=dict(
                port=dict(type="int", default=8069), host=dict(type="str"), database=dict(type="str"),
                login=dict(type="str"), password=dict(type="str", no_log=True),
                wait=dict(type="float", default=120), error_grace=dict(type="float", default=10),
                interval=dict(type="float", default=0.25),
                timeout=dict(type="float", default=10))),
            **DOCKER_HOST_SPEC,
        ),
        required_by={"state_record": ("state_path",)},
        required_if=[("maintenance", True, ("edge",)), ("maintenance", False, ("edge",))],
        supports_check_mode=True,
    )
    p = module.params
    if (p["leave"] or p["join"]) and not p["network"]:
        module.fail_json(msg="network is required with leave or join")
    if (p["stage"] or p["stage_after"]) and not p["state_path"]:
        module.fail_json(msg="state_path is required with stage or stage_after")
    if p["stop_timeout"] < 0:
        module.fail_json(msg="stop_timeout must be >= 0")
    switch = web_switch.Switch(Engine(p["docker_host"], timeout=60), p, check_mode=module.check_mode)
    try:
        result = switch.run()
    except web_switch.SwitchError as exc:
        module.fail_json(msg=str(exc), done=exc.done, ready=getattr(switch, "ready", None))
    if getattr(switch, "ready", None) is not None:
        result["ready"] = switch.ready
    if switch.labelled is not None:
        result["labelled"] = switch.labelled
    module.exit_json(**result)


if __name__ == "__main__":
    main()
