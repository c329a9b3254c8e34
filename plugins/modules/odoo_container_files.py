#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_container_files
short_description: Put several files into a container in one call, writing only those that differ
description:
  - Compares each file of O(files) with what the container holds at its C(dest) (content, mode, owner) and writes
    those that differ, one tar archive per target directory, through the Docker Engine API. The container may be
    created and not started.
  - The odoo role gives its web, cron and one-off containers their configuration (C(odoo.conf) 0600 owned by the
    container's user, the libpq service file, CA and session files) with it. One module call per container, where a
    loop of community.docker.docker_container_copy_into made one per file.
  - Contents are never returned or shown; the diff lists destination, mode, owner and a hash prefix.
  - The target directories must exist in the container (the image makes them).
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.docker_engine
  - odooops.hosting.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  container:
    description: Name or ID of the container.
    type: str
    required: true
  files:
    description: The files.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path of the file in the container.
        type: str
        required: true
      mode:
        description: Its mode, as an octal string (C(0600)).
        type: str
        required: true
      content:
        description: Its content (text). Exactly one of O(files[].content) and O(files[].src).
        type: str
      src:
        description: A file on the managed host whose content it gets (relative paths under O(src_dir)).
        type: str
  src_dir:
    description: Directory on the managed host that relative O(files[].src) paths are in.
    type: path
  owner_id:
    description: UID that owns the files in the container.
    type: int
    default: 0
  group_id:
    description: GID of the files in the container.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Odoo's configuration into a created web container
  odooops.hosting.odoo_container_files:
    container: shop-odoo-web-0a1b2c3d4e-0
    src_dir: /etc/odooops/shop/odoo
    owner_id: 101
    group_id: 101
    files:
      - {src: odoo.conf, dest: /etc/odoo/odoo.conf, mode: "0600"}
      - {content: "[odoo]\nhost=db1\n", dest: /etc/odoo/pg_service.conf, mode: "0644"}
  no_log: true
"""

RETURN = r"""
changed_files:
  description: The destinations written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import container_files
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import DOCKER_HOST_SPEC, DockerError, Engine


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type="str", required=True),
            files=dict(type="list", elements="dict", required=True, options=dict(
                dest=dict(type="str", required=True), mode=dict(type="str", required=True),
                content=dict(type="str", no_log=True), src=dict(type="str"))),
            src_dir=dict(type="path"),
            owner_id=dict(type="int", default=0), group_id=dict(type="int", default=0),
            **DOCKER_HOST_SPEC,
        ),
        supports_check_mode=True,
    )
    p = module.params

    def read_src(path: str) -> bytes:
        if not path.startswith("/"):
            if not p["src_dir"]:
                raise container_files.FilesError(f"src {path!r} is relative and no src_dir was given")
            path = os.path.join(p["src_dir"], path)
        with open(path, "rb") as fh:
            return fh.read()

    try:
        wanted = container_files.wanted_files(p["files"], p["owner_id"], p["group_id"], read_src)
        result = container_files.sync(Engine(p["docker_host"]), p["container"], wanted, module.check_mode,
                                      time.time())
    except (container_files.FilesError, DockerError, OSError) as exc:
        module.fail_json(msg=f"files into {p['container']}: {exc}", changed_files=[])
    diff = result.pop("diff")
    module.exit_json(**result, **({"diff": diff} if module._diff else {}))


if __name__ == "__main__":
    main()
