#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_check_user
short_description: Keep the Odoo user that health and upgrade smoke checks log in as
description:
  - Creates, updates (password, groups, active) or archives an Odoo user through Odoo's own ORM, as an
    administrator would script it - C(odoo shell -d <database>) in a one-shot container of the stack's image with
    the environment, files, mounts, networks and user of O(like_container) - never by writing C(res_users) with SQL.
  - The script, which holds the password, is put into the one-shot container as a 0600 file owned by the container's
    user and fed to C(odoo shell) on its standard input; the password is never in a command line, an environment
    variable, the module's output or the returned log. The container is removed when it ends.
  - Least rights by default - C(base.group_portal) only, the group the smoke checks need to log in (a portal user
    holds no back-office access and no internal-user seat). Groups the user gained elsewhere are removed.
  - Idempotent - the password is compared with the stored hash (C(_crypt_context().verify)); a second run with the
    same values reports no change.
  - In check mode the script runs and its transaction is rolled back - C(changed) says what would change.
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
  like_container:
    description: A container of the stack (the serving web container) whose image, environment, odoo.conf, libpq
      files, mounts, networks, user and entrypoint the one-shot container reuses. It may be stopped.
    type: str
    required: true
  image:
    description: Image of the one-shot container (default that of O(like_container)).
    type: str
  database:
    description: The Odoo database.
    type: str
    default: odoo
  login:
    description: Login of the check user.
    type: str
    required: true
  password:
    description: Its password (at least 12 characters; a generated secret, rotated by rotate_secrets.yml).
    type: str
  name:
    description: Display name of the user (only set when it is created).
    type: str
    default: Health check (odooops)
  groups:
    description: XML ids of the user's groups (their implied groups come with them).
    type: list
    elements: str
    default: [base.group_portal]
  state:
    description: C(present) creates or updates the user; C(absent) archives it (Odoo never deletes a user that
      has logged in).
    type: str
    choices: [present, absent]
    default: present
  config_path:
    description: odoo.conf inside the container.
    type: str
    default: /etc/odoo/odoo.conf
  odoo_command:
    description: Odoo's command (default the entrypoint of O(like_container), else C(odoo)); for example
      C([python3, /opt/odoo/odoo-bin]) for an image that runs Odoo from a source checkout.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds C(odoo shell) may take (it loads the registry) before it is killed.
    type: int
    default: 600
"""

EXAMPLES = r"""
- name: The smoke checks' user (portal rights only)
  odooops.hosting.odoo_check_user:
    like_container: "{{ odoo_web_set.containers | first }}"
    database: odoo
    login: odooops-check
    password: "{{ odooops_check_password }}"
"""

RETURN = r"""
action:
  description: C(created), C(updated), C(archived) or C(unchanged).
  returned: always
  type: str
fields:
  description: Fields written (C(password) among them when it changed; never its value).
  returned: always
  type: list
groups:
  description: Database ids of the user's groups afterwards (with implied groups).
  returned: when O(state=present)
  type: list
duration:
  description: Seconds the one-shot container ran.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import check_user as ocu
from ansible_collections.odooops.hosting.plugins.module_utils.odoo import modules as um
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import DOCKER_HOST_SPEC, DockerError, Engine


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            like_container=dict(type="str", required=True),
            image=dict(type="str"),
            database=dict(type="str", default="odoo"),
            login=dict(type="str", required=True),
            password=dict(type="str", no_log=True),
            name=dict(type="str", default="Health check (odooops)"),
            groups=dict(type="list", elements="str", default=["base.group_portal"]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            config_path=dict(type="str", default="/etc/odoo/odoo.conf"),
            odoo_command=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=600),
            **DOCKER_HOST_SPEC,
        ),
        required_if=[("state", "present", ["password"])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        ocu.validate(p["login"], p["password"] or "", p["groups"], p["state"])
        # a missing like_container is refused by ContainerSpec (UpdateError: "reference container ... does not exist")
        result = ocu.ensure(Engine(p["docker_host"]), p["like_container"], p["database"], p["login"],
                            p["password"] or "", p["name"], p["groups"], p["state"],
                            commit=not module.check_mode, image=p["image"],
                            config_path=p["config_path"], odoo_command=p["odoo_command"], timeout=p["timeout"])
    except (ocu.CheckUserError, um.UpdateError, DockerError) as exc:
        module.fail_json(msg=str(exc))
    result.pop("id", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
