# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: preload
type: aggregate
short_description: Import the collection's controller-side plugins once, before the task workers fork
description:
  - Ansible runs each task of each host in a worker process forked from the controller's main process, and a
    plugin that the main process has not imported yet is imported again by every worker that needs it.
  - The connection of C(inventories/local) (M(odooops.hosting.sim_host), built on community.docker's C(docker_api)
    connection and its Docker client) costs about 0.2 s of CPU to import, so that every task on a simulated host,
    even a C(debug) or C(set_fact) that never connects, paid it again. This callback imports the collection's
    connection, action, filter, test and lookup plugins in the main process when the run starts; the workers
    inherit them. It prints nothing and changes no result.
  - Enabled by the project's C(ansible.cfg) (C(callbacks_enabled)); a run without it behaves the same, only
    slower. A plugin that fails to import here is reported as a warning and left to the worker, as before.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
requirements:
  - enabled in C(callbacks_enabled) of ansible.cfg (or C(ANSIBLE_CALLBACKS_ENABLED))
"""

import importlib
import os

from ansible.plugins.callback import CallbackBase

COLLECTION_PACKAGE = "ansible_collections.odooops.hosting.plugins"
KINDS = ("connection", "action", "filter", "test", "lookup")


def plugin_modules(plugins_dir: str) -> list[str]:
    """The Python module names of the collection's controller-side plugins found under plugins_dir."""
    names = []
    for kind in KINDS:
        folder = os.path.join(plugins_dir, kind)
        if not os.path.isdir(folder):
            continue
        for entry in sorted(os.listdir(folder)):
            stem, ext = os.path.splitext(entry)
            if ext == ".py" and not stem.startswith("_"):
                names.append(f"{COLLECTION_PACKAGE}.{kind}.{stem}")
    return names


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "odooops.hosting.preload"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        plugins_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for name in plugin_modules(plugins_dir):
            try:
                importlib.import_module(name)
            except Exception as exc:  # left to the worker, which reports it where it matters
                self._display.warning(f"odooops.hosting.preload: {name} not preloaded: {exc}")
