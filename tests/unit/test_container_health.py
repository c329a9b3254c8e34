"""odoo_container_health's wait (plugins/module_utils/odoo/container_health.py), on a scripted sequence of inspect
answers and a fake clock: it stops as soon as every container has a final answer, and reports what is not healthy."""
from __future__ import annotations

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import container_health as ch


def info(status="running", health=None, output=""):
    st = {"Status": status}
    if health:
        st["Health"] = {"Status": health, "Log": [{"Output": output}] if output else []}
    return {"State": st}


class Script:
    """inspect answers per name, one per round; the last one repeats. A fake clock advanced by sleep."""

    def __init__(self, answers: dict):
        self.answers, self.rounds, self.now = answers, {}, 0.0

    def inspect(self, name):
        seq = self.answers[name]
        i = self.rounds.get(name, 0)
        self.rounds[name] = i + 1
        return seq[min(i, len(seq) - 1)]

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def run(answers, timeout=60):
    s = Script(answers)
    return ch.wait(s.inspect, list(answers), timeout, 0.5, clock=s.clock, sleep=s.sleep), s


def test_waits_through_starting_until_healthy():
    res, s = run({"w0": [info(health="starting")] * 3 + [info(health="healthy")],
                  "w1": [info(health="starting"), info(health="healthy")]})
    assert res["unhealthy"] == [] and res["waited"] == 1.5 and s.rounds["w0"] == 4


def test_unhealthy_and_exited_end_the_wait_at_once_and_are_reported():
    res, _s = run({"w0": [info(health="unhealthy", output="curl: (7) Failed to connect\n")],
                   "w1": [info(status="exited", health="starting")]})
    assert res["waited"] == 0 and res["unhealthy"] == ["w0", "w1"]
    assert res["containers"]["w0"]["last_check"] == "curl: (7) Failed to connect"
    assert res["containers"]["w1"]["state"] == "exited"


def test_a_container_that_stays_starting_is_given_up_at_the_timeout():
    res, _s = run({"w0": [info(health="healthy")], "w1": [info(health="starting")]}, timeout=10)
    assert res["waited"] == 10 and res["unhealthy"] == ["w1"]


def test_missing_container_and_one_without_health_check_are_not_healthy():
    res, _s = run({"gone": [None], "plain": [info()]})
    assert res["waited"] == 0 and res["unhealthy"] == ["gone", "plain"]
    assert res["containers"]["gone"]["state"] == "missing" and res["containers"]["plain"]["health"] == "none"
