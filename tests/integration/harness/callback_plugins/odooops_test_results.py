# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback of the project's tests only (not part of the collection): a playbook's results as JSON."""
from __future__ import annotations

DOCUMENTATION = r"""
name: odooops_test_results
type: aggregate
short_description: A playbook's results as JSON, for the project's tests (not part of the collection)
description:
  - When the playbook ends, writes the counters of each host (those of the PLAY RECAP) and every task result that
    reported a change into the JSON file named by the environment variable E(ODOOOPS_TEST_RESULTS), so that the
    tests read them instead of parsing the human-readable output.
  - Writes nothing to the output, changes no result; does nothing when E(ODOOOPS_TEST_RESULTS) is not set.
  - Enabled for a test's run only, by the test harness (tests/integration/harness/playbook.py), which puts this
    folder in E(ANSIBLE_CALLBACK_PLUGINS) and the name in E(ANSIBLE_CALLBACKS_ENABLED).
author: odooops.hosting maintainers (@odooops)
requirements:
  - enabled in C(callbacks_enabled) (E(ANSIBLE_CALLBACKS_ENABLED))
"""

import json
import os

from ansible.playbook.task_include import TaskInclude
from ansible.plugins.callback import CallbackBase

RESULTS_ENV = "ODOOOPS_TEST_RESULTS"
# PLAY RECAP's counters, in its order: name in the recap -> key of AggregateStats.summarize()
COUNTERS = (("ok", "ok"), ("changed", "changed"), ("unreachable", "unreachable"), ("failed", "failures"),
            ("skipped", "skipped"), ("rescued", "rescued"), ("ignored", "ignored"))


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "odooops_test_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.changed_results = []

    def _record_changed(self, result):
        # "<task name as in its banner>: changed: [<host label>]", one per changed result the default stdout
        # callback shows as a "changed: [...]" line (each changed item of a loop, not the loop's summary)
        self.changed_results.append(f"{result.task.get_name().strip()}: changed: [{self.host_label(result)}]")

    def v2_runner_on_ok(self, result):
        if isinstance(result.task, TaskInclude) or not result.result.get("changed", False):
            return
        if result.task.loop and "results" in result.result:
            return  # its items were recorded one by one
        self._record_changed(result)

    def v2_runner_item_on_ok(self, result):
        if isinstance(result.task, TaskInclude) or not result.result.get("changed", False):
            return
        self._record_changed(result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get(RESULTS_ENV)
        if not path:
            return
        hosts = {}
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            hosts[host] = {name: summary[key] for name, key in COUNTERS}
        # written aside, then renamed: a reader never sees half a file
        partial = path + ".partial"
        with open(partial, "w", encoding="utf-8") as fh:
            json.dump({"stats": hosts, "changed": self.changed_results}, fh)
        os.replace(partial, path)
