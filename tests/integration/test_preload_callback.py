"""The preload callback (plugins/callback/preload.py): the collection's plugins are imported once by the controller's
main process, so that the worker that runs a task inherits them instead of importing them again.

A task's action runs in that worker: a throwaway action plugin reports whether the sim_host connection module
(which no task of this play uses: localhost, connection local) is already in the worker's sys.modules. It is, with
the project's ansible.cfg; it is not with the callback left out, which is what makes the first answer mean
something.
"""
from __future__ import annotations

import os
import subprocess
import textwrap

from ansible_collections.odooops.hosting.plugins.callback.preload import plugin_modules
from tests.integration.harness.env import ROOT

CONNECTION = "ansible_collections.odooops.hosting.plugins.connection.sim_host"

ACTION = textwrap.dedent('''
    import sys
    from ansible.plugins.action import ActionBase

    class ActionModule(ActionBase):
        def run(self, tmp=None, task_vars=None):
            return {"changed": False, "preloaded": "CONNECTION" in sys.modules}
'''.replace("CONNECTION", CONNECTION))

PLAY = textwrap.dedent('''
    - hosts: localhost
      gather_facts: false
      tasks:
        - name: Is the connection plugin already in this worker?
          probe_modules:
          register: probe
        - name: Answer
          ansible.builtin.debug:
            msg: "PRELOADED={{ probe.preloaded }}"
''')


def worker_has_connection(tmp_path, callbacks: str | None) -> bool:
    (tmp_path / "action").mkdir(exist_ok=True)
    (tmp_path / "action" / "probe_modules.py").write_text(ACTION)
    (tmp_path / "play.yml").write_text(PLAY)
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
           "ANSIBLE_ACTION_PLUGINS": str(tmp_path / "action"), "ANSIBLE_NOCOLOR": "1"}
    if callbacks is not None:
        env["ANSIBLE_CALLBACKS_ENABLED"] = callbacks
    res = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          str(tmp_path / "play.yml")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "preload" not in res.stderr.lower(), res.stderr  # no plugin failed to import
    return "PRELOADED=True" in res.stdout


def test_workers_inherit_the_collections_plugins(tmp_path):
    assert worker_has_connection(tmp_path, None) is True  # the project's ansible.cfg enables it


def test_without_the_callback_each_worker_imports_again(tmp_path):
    assert worker_has_connection(tmp_path, "ansible.posix.timer") is False  # another callback only


def test_plugin_modules_lists_the_controller_side_plugins():
    names = plugin_modules(os.path.join(ROOT, "plugins"))
    assert CONNECTION in names
    assert "ansible_collections.odooops.hosting.plugins.action.preflight" in names
    assert "ansible_collections.odooops.hosting.plugins.filter.odoo_conf" in names
    assert not [n for n in names if ".modules." in n or ".module_utils." in n or ".doc_fragments." in n]
