#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_health_info
short_description: Smoke checks of a running Odoo (health, login page, JSON-RPC login, response times)
description:
  - C(GET /web/health) must answer with status C(pass); C(GET /web/login) must show a login form; with O(login), a
    JSON-RPC C(/web/session/authenticate) must return a user id; O(urls) are fetched and timed.
  - With O(wait), checks are repeated until they all pass or the time is up (a freshly started Odoo).
  - Reports; does not fail unless O(fail_on_unhealthy).
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes.info_module
options:
  base_url:
    description: Where Odoo answers, e.g. C(http://odooops-odoo-web:8069).
    type: str
    required: true
  database:
    description: Database for the login page and the JSON-RPC login.
    type: str
  login:
    description: Login of the check user (a technical user with no rights beyond logging in).
    type: str
  password:
    description: Its password.
    type: str
  urls:
    description: Extra paths or URLs to fetch and time.
    type: list
    elements: str
    default: []
  host:
    description:
      - Host header sent with every request to O(base_url) (not with absolute O(urls)), for instance a site's host
        name, so that Odoo's host-based C(dbfilter) (C(^%d$), C(^%h$)) finds the database when O(base_url) names
        a container. Unset or empty, the host of O(base_url) is sent.
    type: str
  timeout:
    description: Seconds per request.
    type: float
    default: 10
  samples:
    description:
      - How many times each page (health, login page, O(urls)) is asked; its C(elapsed_ms) is the median, so one
        slow answer on a busy host does not read as a regression. Any failed answer fails the check.
    type: int
    default: 3
  wait:
    description: Seconds to keep retrying until healthy.
    type: float
    default: 0
  fail_on_unhealthy:
    description: Fail the task when a check fails.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Smoke checks
  odooops.hosting.odoo_health_info:
    base_url: "http://{{ odooops_stack }}-odoo-web:8069"
    database: odoo
    login: odooops-check
    password: "{{ odooops_check_password }}"
    wait: 60
  register: smoke
"""

RETURN = r"""
healthy:
  description: All checks passed.
  returned: always
  type: bool
checks:
  description: name -> {url, status, elapsed_ms, ok, error}.
  returned: always
  type: dict
failures:
  description: One line per failed check.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import health as odoo_health


def run(module: AnsibleModule) -> dict:
    p = module.params
    kw = dict(database=p["database"], login=p["login"], password=p["password"], urls=p["urls"],
              timeout=p["timeout"], samples=p["samples"], host=p["host"] or None)
    if p["wait"] > 0:
        return odoo_health.wait_healthy(p["base_url"], p["wait"], **kw)
    return odoo_health.check(p["base_url"], **kw)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            base_url=dict(type="str", required=True),
            database=dict(type="str"),
            login=dict(type="str"),
            password=dict(type="str", no_log=True),
            urls=dict(type="list", elements="str", default=[]),
            host=dict(type="str"),
            timeout=dict(type="float", default=10),
            samples=dict(type="int", default=3),
            wait=dict(type="float", default=0),
            fail_on_unhealthy=dict(type="bool", default=False),
        ),
        required_by={"login": ("password",)},
        supports_check_mode=True,
    )
    result = run(module)
    if module.params["fail_on_unhealthy"] and not result["healthy"]:
        module.fail_json(msg="Odoo is not healthy: " + "; ".join(result["failures"]), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
