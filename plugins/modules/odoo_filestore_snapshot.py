#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_filestore_snapshot
short_description: Hard-link snapshot of an Odoo filestore, and the swap back
description:
  - The filestore half of the pre-upgrade snapshot (M(odooops.hosting.odoo_db_snapshot) is the database half).
    Odoo's filestore files are content-addressed and never rewritten in place, so a tree of hard links
    C(<root>/<snapshot>) is a faithful copy that costs no data; C(restored) renames C(<root>/<database>) to
    C(<database>__failed_<timestamp>) and the snapshot back to C(<root>/<database>).
  - Either O(path) (the filestore directory on this host, C(<data_dir>/filestore)) or O(volume) (the Docker
    volume holding Odoo's data directory; the module then works through a one-shot helper container that
    mounts it, so it works wherever only the Docker engine sees the files).
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
  database:
    description: The Odoo database whose filestore it is.
    type: str
    required: true
  snapshot:
    description: Name of the snapshot directory (default C(<database>__pre_upgrade), as the database snapshot).
    type: str
  state:
    description: What to do.
    type: str
    choices: [present, restored, absent]
    default: present
  path:
    description: The filestore root on this host (C(<data_dir>/filestore)).
    type: path
  volume:
    description: Docker volume holding Odoo's data directory.
    type: str
  volume_subpath:
    description: The filestore root inside O(volume).
    type: str
    default: filestore
  helper_image:
    description:
      - Image of the helper container (needs C(sh), GNU C(cp), C(find), C(mktemp)); the Odoo image does.
      - The volume is mounted at C(/var/lib/odoo) in it (a new, empty volume takes the image's owner of that
        directory). A copy is made in a C(mktemp -d) work directory (0700, random name) that is removed
        whatever happens.
    type: str
  helper_user:
    description: The Odoo C(uid:gid) (numeric, not root) the helper container runs as; the filestore's owner.
    type: str
    default: "101:101"
  replace:
    description: Replace an existing snapshot.
    type: bool
    default: false
  keep_failed:
    description: Keep the swapped-out filestore (renamed) when restoring.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Snapshot the filestore in the Odoo data volume
  odooops.hosting.odoo_filestore_snapshot:
    database: odoo
    volume: "{{ odooops_stack }}-odoo-data"
    helper_image: "{{ odoo_image }}"

- name: Swap it back
  odooops.hosting.odoo_filestore_snapshot:
    database: odoo
    volume: "{{ odooops_stack }}-odoo-data"
    helper_image: "{{ odoo_image }}"
    state: restored
"""

RETURN = r"""
path:
  description: Where the snapshot (present, absent) or the live filestore (restored) is.
  returned: always
  type: str
files:
  description: Number of files in the snapshot.
  returned: when state is present
  type: int
failed_path:
  description: Where the swapped-out filestore was kept.
  returned: when state is restored
  type: str
duration:
  description: Seconds the operation took.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import DOCKER_HOST_SPEC, DockerError, Engine
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.filestore import VolumeFilestore
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import snapshot as snap


def run(module: AnsibleModule) -> dict:
    p = module.params
    db, name, state, check = p["database"], p["snapshot"], p["state"], module.check_mode
    if p["path"]:
        if state == "present":
            return snap.create_fs_snapshot(p["path"], db, name, check, p["replace"])
        if state == "restored":
            return snap.restore_fs_snapshot(p["path"], db, name, check, p["keep_failed"])
        return {**snap.drop_fs_snapshot(p["path"], db, name, check), "duration": 0.0}
    fs = VolumeFilestore(Engine(p["docker_host"]), p["volume"], p["helper_image"], p["volume_subpath"],
                         user=p["helper_user"])
    if state == "present":
        return fs.create(db, name, check, p["replace"])
    if state == "restored":
        return fs.restore(db, name, check, p["keep_failed"])
    return {**fs.drop(db, name, check), "duration": 0.0}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            database=dict(type="str", required=True),
            snapshot=dict(type="str"),
            state=dict(type="str", choices=["present", "restored", "absent"], default="present"),
            path=dict(type="path"),
            volume=dict(type="str"),
            volume_subpath=dict(type="str", default="filestore"),
            helper_image=dict(type="str"),
            helper_user=dict(type="str", default="101:101"),
            **DOCKER_HOST_SPEC,
            replace=dict(type="bool", default=False),
            keep_failed=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("path", "volume")],
        required_one_of=[("path", "volume")],
        required_by={"volume": ("helper_image",)},
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except (snap.SnapshotError, DockerError, OSError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
