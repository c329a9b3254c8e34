# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker engine option of the modules that talk to the Engine API (module_utils/odoo/engine.Engine)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  docker_host:
    description: The Docker engine's unix socket on the managed host.
    type: str
    default: unix:///var/run/docker.sock
"""
