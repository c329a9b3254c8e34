#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_module_update
short_description: Update the changed Odoo modules with a one-shot container of the target image
description:
  - Reads the addons' C(__manifest__.py) versions in the target image (a one-shot container of it running its own
    C(python3)), compares them with C(ir_module_module.latest_version) of the installed modules, and runs
    C(odoo -c <config> -d <db> -u <modules> --stop-after-init) in a one-shot container of the target image with the
    environment, mounts, networks and user of O(like_container) (the web container, so the same odoo.conf and secrets).
  - The update gets O(timeout) seconds; a hung update is killed and reported as failed. After a zero exit status the
    versions in the database are checked against the image; a mismatch is a failure too.
  - Secrets in the reference container's environment are redacted from the log tail returned.
  - In check mode, or with O(plan_only), only the manifests are read and the plan is returned.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.docker_engine
  - odooops.hosting.attributes
  - odooops.hosting.postgres
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
    details: With O(modules=changed), a second run finds no changed module and does nothing.
options:
  image:
    description: The target Odoo image (must be present on the engine).
    type: str
    required: true
  database:
    description: The Odoo database (also the database the module connects to, to read C(ir_module_module)).
    type: str
    default: odoo
  modules:
    description: C(changed) (modules whose version differs), C(all), or module names.
    type: list
    elements: str
    default: [changed]
  like_container:
    description: Container whose environment, mounts, networks, user and entrypoint the one-shot containers reuse.
    type: str
  env:
    description: Extra C(KEY=value) environment entries for the one-shot containers (values are not returned).
    type: list
    elements: str
    default: []
  networks:
    description: Extra Docker networks for the update container (the first one is used if there is no reference).
    type: list
    elements: str
    default: []
  binds:
    description: Extra binds (C(source:target[:ro])).
    type: list
    elements: str
    default: []
  user:
    description: User to run as (default that of O(like_container), else the image's).
    type: str
  config_path:
    description: odoo.conf inside the container.
    type: str
    default: /etc/odoo/odoo.conf
  addons_paths:
    description: Where to look for addons in the image, besides the config's C(addons_path).
    type: list
    elements: str
    default: [/usr/lib/python3/dist-packages/odoo/addons, /opt/odoo/addons, /mnt/extra-addons]
  odoo_command:
    description: Command prefix before the Odoo options (empty uses the entrypoint, as the official image and
      the double have C(odoo) as entrypoint or accept options as arguments).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds the update may take before it is killed.
    type: int
    default: 1800
  log_lines:
    description: Lines of the update's log to return.
    type: int
    default: 40
  plan_only:
    description: Only compute what would be updated.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Update what the new image changes
  odooops.hosting.odoo_module_update:
    image: registry.example.com/odoo:17.0-20261127
    database: odoo
    like_container: "{{ odooops_stack }}-odoo-web-blue"
    login_host: db1
    login_user: odoo
    login_password: "{{ odooops_db_password }}"
    ssl_mode: require
    timeout: 1800
"""

RETURN = r"""
image_series:
  description: Odoo series of the target image, read as text from its C(odoo/release.py) (C(version_info)).
  returned: always
  type: str
image_release_file:
  description: The C(odoo/release.py) of the target image the series was read from (null when none was found).
  returned: always
  type: str
database_series:
  description: Odoo series of the database (from base's installed version).
  returned: always
  type: str
changed_modules:
  description: Installed modules whose version differs in the image, name -> {from, to}.
  returned: always
  type: dict
missing_modules:
  description: Installed modules the image does not have.
  returned: always
  type: list
updated_modules:
  description: The modules passed to C(-u).
  returned: always
  type: list
versions_before:
  description: Installed module versions before.
  returned: always
  type: dict
versions_after:
  description: Installed module versions after the update.
  returned: when the update ran
  type: dict
exit_code:
  description: Exit status of the update (null when killed on timeout).
  returned: when the update ran
  type: int
timed_out:
  description: Whether the update was killed on O(timeout).
  returned: when the update ran
  type: bool
duration:
  description: Seconds the update container ran.
  returned: always
  type: float
log_tail:
  description: Last lines of the update's log, secrets redacted.
  returned: when the update ran
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import modules as um
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import DOCKER_HOST_SPEC, DockerError, Engine
from ansible_collections.odooops.hosting.plugins.module_utils.postgres import connection as pgc
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu


def run(module: AnsibleModule) -> dict:
    p = module.params
    engine = Engine(p["docker_host"])
    spec = um.ContainerSpec(engine, p["like_container"], p["env"], p["binds"], p["networks"], p["user"])
    conn = pgu.connect(p, dbname=p["database"])
    try:
        plan = um.plan(engine, conn, p["image"], spec, p["config_path"], p["addons_paths"], p["modules"])
        result = {k: plan[k] for k in ("image_series", "image_release_file", "database_series", "changed_modules",
                                       "missing_modules", "versions_before")}
        result.update(updated_modules=plan["to_update"], duration=0.0, changed=bool(plan["to_update"]))
        if module.check_mode or p["plan_only"] or not plan["to_update"]:
            return result
        res = um.run_update(engine, p["image"], spec, p["database"], plan["to_update"], p["config_path"],
                            p["odoo_command"], p["timeout"], p["log_lines"])
        result.update(exit_code=res["exit_code"], timed_out=res["timed_out"], duration=res["duration"],
                      log_tail=res["logs"], versions_after=um.installed_versions(conn))
    finally:
        conn.close()
    if res["timed_out"]:
        result["msg"] = f"module update did not finish within {p['timeout']} s and was killed"
    elif res["exit_code"] != 0:
        result["msg"] = f"module update failed with exit status {res['exit_code']}"
    else:
        wrong = {m: v for m, v in plan["changed_modules"].items() if result["versions_after"].get(m) != v["to"]}
        if wrong:
            detail = ", ".join(f"{m} {result['versions_after'].get(m)} != {v['to']}" for m, v in wrong.items())
            result["msg"] = f"module update exited 0 but these modules are not at the image's version: {detail}"
    return result


def main() -> None:
    spec = pgc.argument_spec()
    spec.update(
        image=dict(type="str", required=True),
        database=dict(type="str", default="odoo"),
        modules=dict(type="list", elements="str", default=["changed"]),
        like_container=dict(type="str"),
        env=dict(type="list", elements="str", default=[], no_log=False),
        networks=dict(type="list", elements="str", default=[]),
        binds=dict(type="list", elements="str", default=[]),
        user=dict(type="str"),
        config_path=dict(type="str", default="/etc/odoo/odoo.conf"),
        addons_paths=dict(type="list", elements="str", default=list(um.DEFAULT_ADDONS_PATHS)),
        odoo_command=dict(type="list", elements="str", default=[]),
        timeout=dict(type="int", default=1800),
        log_lines=dict(type="int", default=40),
        plan_only=dict(type="bool", default=False),
        **DOCKER_HOST_SPEC,
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        result = run(module)
    except (um.UpdateError, pgc.PostgresError, DockerError) as exc:
        module.fail_json(msg=str(exc))
    if "msg" in result:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
