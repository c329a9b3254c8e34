# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: sim_host
short_description: Reach the simulated VMs of the embedded default through the Docker API
description:
  - The connection of C(inventories/local), whose db1, db2 and app1 are containers standing in for VMs, reached
    through the Docker engine's API as the community.docker.docker_api connection does, which this plugin extends.
  - On a busy engine, the short C(id -u && id -g) exec that precedes a file transfer sometimes comes back with no
    output, and the transfer fails as if the host were unreachable. This plugin asks again (up to five times,
    with a short back-off) before it gives up with the same error. Nothing else differs.
  - Real hosts use SSH; nothing in the roles depends on this plugin.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - community.docker.docker.api_documentation
  - community.docker.docker.var_names
options:
  remote_user:
    type: str
    description: User the commands run as inside the container.
    vars:
      - name: ansible_user
      - name: ansible_docker_user
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    cli:
      - name: user
    keyword:
      - name: remote_user
  remote_addr:
    type: str
    description: Name of the container standing in for the host.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_docker_host
  container_timeout:
    type: integer
    default: 10
    description: Seconds to wait for output once a command runs in the container.
    env:
      - name: ANSIBLE_TIMEOUT
      - name: ANSIBLE_DOCKER_TIMEOUT
    ini:
      - key: timeout
        section: defaults
      - key: timeout
        section: docker_connection
    vars:
      - name: ansible_docker_timeout
    cli:
      - name: timeout
  extra_env:
    type: dict
    description: Extra environment variables for the commands run in the container (as Ansible variables only).
    vars:
      - name: ansible_docker_extra_env
  working_dir:
    type: string
    description: Directory the commands run in.
    env:
      - name: ANSIBLE_DOCKER_WORKING_DIR
    ini:
      - key: working_dir
        section: docker_connection
    vars:
      - name: ansible_docker_working_dir
  privileged:
    type: boolean
    default: false
    description: Run the commands with extended privileges.
    env:
      - name: ANSIBLE_DOCKER_PRIVILEGED
    ini:
      - key: privileged
        section: docker_connection
    vars:
      - name: ansible_docker_privileged
"""

import time

from ansible.utils.display import Display

from ansible_collections.community.docker.plugins.connection.docker_api import Connection as DockerApiConnection

display = Display()

ID_ATTEMPTS = 5


def parse_ids(output) -> tuple[int, int] | None:
    """(uid, gid) from the output of `id -u && id -g`, or None when it is not two numbers."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    parts = (output or "").split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


class Connection(DockerApiConnection):
    """community.docker.docker_api, with the user/group lookup before a file transfer asked again when the
    engine answers it with nothing."""

    transport = "odooops.hosting.sim_host"

    def put_file(self, in_path, out_path):
        if self.actual_user not in self.ids:
            for attempt in range(ID_ATTEMPTS):
                dummy, out, dummy = self.exec_command(b"id -u && id -g")
                ids = parse_ids(out)
                if ids:
                    self.ids[self.actual_user] = ids
                    break
                display.vvv(f"sim_host: no user/group ids on attempt {attempt + 1} ({out!r}), asking again",
                            host=self.get_option("remote_addr"))
                time.sleep(0.2 * (2 ** attempt))
        # the parent transfers the file (and reports the engine's error itself if every attempt came back empty)
        super().put_file(in_path, out_path)
