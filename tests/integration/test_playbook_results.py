"""The tests read a playbook's results from the harness's JSON callback (harness/callback_plugins), not from the
PLAY RECAP text: on a real local run, the callback's counters are the recap's, and every changed result is listed
(each changed loop item, a handler), while the output users read is untouched."""
from __future__ import annotations

import re

from tests.integration.harness.playbook import run_playbook

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Only says something
      ansible.builtin.debug:
        msg: hello
    - name: Changes something
      ansible.builtin.command: "true"
      notify: A handler
    - name: One of two items changes
      ansible.builtin.command: "true"
      changed_when: item == 'b'
      loop: [a, b]
    - name: Fails, ignored
      ansible.builtin.command: "false"
      ignore_errors: true
    - name: Skipped
      ansible.builtin.debug:
        msg: never
      when: false
  handlers:
    - name: A handler
      ansible.builtin.command: "true"
"""


def recap_from_text(stdout: str) -> dict:
    line = next(line for line in stdout.splitlines() if line.startswith("localhost "))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def test_results_come_from_the_callback_and_match_the_recap(tmp_path):
    playbook = tmp_path / "results.yml"
    playbook.write_text(PLAYBOOK)
    run = run_playbook(str(playbook), "-c", "local", inventory="localhost,")
    assert run.rc == 0, run.stdout + run.stderr
    assert run.recap() == {"localhost": recap_from_text(run.stdout)}
    # the ignored failure counts as changed and ignored (command reports changed), not as ok
    assert run.recap()["localhost"] == {"ok": 5, "changed": 4, "unreachable": 0, "failed": 0, "skipped": 1,
                                        "rescued": 0, "ignored": 1}
    assert run.changed() == 4
    assert run.changed_tasks() == ["Changes something: changed: [localhost]",
                                   "One of two items changes: changed: [localhost]",
                                   "A handler: changed: [localhost]"]
    assert "odooops_test_results" not in run.stdout + run.stderr  # silent: the output is the stdout callback's


def test_a_killed_run_has_no_results(tmp_path):
    playbook = tmp_path / "sleep.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                        "    - ansible.builtin.command: sleep 30\n")
    run = run_playbook(str(playbook), "-c", "local", inventory="localhost,", kill_when=lambda: True)
    assert run.rc == -9 and run.recap() == {} and run.changed() == 0 and run.changed_tasks() == []
