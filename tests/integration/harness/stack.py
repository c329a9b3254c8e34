"""Helpers for the tests that provision a whole stack (Odoo, Redis, the edge) on the simulated hosts:
a traffic sampler that runs beside Odoo on the stack's app network, and the removal of what a stack started.

A stack's containers carry the label org.odooops.stack=<stack>; its volumes and networks carry its name.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import time

import yaml

from testbed import hosts as tb_hosts
from tests.integration.harness.docker import docker
from tests.integration.harness.env import ROOT

SAMPLER_IMAGE = "odooops/odoo-double:17.0-a"

# Runs inside a container on the stack's app network until SIGTERM, then prints one JSON line:
# {"ok": n, "fail": n, "errors": [...]}. THREADS loops send requests at once; a request counts as good when
# good(status, body) holds. After SIGTERM no request starts; those in flight get their own TIMEOUT to finish (a
# starved machine is slow, not wrong), and one still unanswered after that counts as failed.
_SAMPLER = r"""
import json, signal, threading, time, urllib.request
URL, PERIOD, TIMEOUT, MODE, THREADS = %r, %r, %r, %r, %r
def good(status, body):
    if MODE == "health":
        return status == 200 and json.loads(body) == {"status": "pass"}
    doc = json.loads(body)
    if MODE == "slow":
        return status == 200 and doc == {"slept": 2.0}
    return status == 200 and doc["db"]["ok"] and doc["redis"]["ok"]
counts = {"ok": 0, "fail": 0}
errors = []
lock = threading.Lock()
stop = threading.Event()
def record(outcome, error=None):
    with lock:
        counts[outcome] += 1
        if error:
            errors.append(f"{time.time():.2f} {error}".strip())
def loop():
    while not stop.is_set():
        t = time.monotonic()
        try:
            with urllib.request.urlopen(URL, timeout=TIMEOUT) as r:
                if good(r.status, r.read()):
                    record("ok")
                else:
                    record("fail", "unexpected answer")
        except Exception as exc:
            body = exc.read()[:200].decode(errors="replace") if hasattr(exc, "read") else ""
            record("fail", f"{exc} {body}")
        stop.wait(max(0.0, PERIOD - (time.monotonic() - t)))
signal.signal(signal.SIGTERM, lambda *_: stop.set())
threads = [threading.Thread(target=loop, daemon=True) for _ in range(THREADS)]
for th in threads:
    th.start()
while not stop.wait(0.2):
    pass
deadline = time.monotonic() + TIMEOUT + 2
for th in threads:
    th.join(max(0.0, deadline - time.monotonic()))
for th in threads:
    if th.is_alive():
        record("fail", f"request still unanswered {TIMEOUT + 2} s after the sampler stopped")
with lock:
    print(json.dumps({**counts, "errors": errors[:10]}), flush=True)
"""

# (path, period s, timeout s, threads). The timeouts are for a starved CPU, not a budget: a request the platform
# drops is refused or reset at once (a container gone from the alias), while on a loaded 2-core CI machine an
# answered request took over 2 s (a "timed out" failure in a run where every other request passed)
MODES = {
    # /web/health every 100 ms
    "health": ("/web/health", 0.1, 10, 1),
    # the double's /odooops/ping?write=1 every 50 ms: a PostgreSQL write and a Redis PING, each with a fresh login
    "ping": ("/odooops/ping?write=1", 0.05, 15, 1),
    # 2-second requests (the double's /odooops/sleep, no database: only the connection is under test) back to
    # back in 6 loops: whichever set the alias gives them, some are always in flight on the old set when it
    # retires (each loop has an even chance per set, so all six miss it 1 time in 64), and a set taken off the
    # network while it answers (rather than drained) cuts them: a request that then never gets its answer fails
    "slow": ("/odooops/sleep?s=2", 0.0, 30, 6),
}


class TrafficSampler:
    """Continuous requests to the stack's web alias from a container on its app network (where Traefik
    reaches Odoo); stop() returns {"ok", "fail", "errors"}."""

    def __init__(self, stack: str, mode: str = "health"):
        path, period, timeout, threads = MODES[mode]
        self.name, self.timeout = f"{stack}-sampler-{mode}", timeout
        script = _SAMPLER % (f"http://{stack}-odoo-web:8069{path}", period, timeout, mode, threads)
        docker("rm", "-f", "-v", self.name, check=False)
        docker("run", "-d", "--name", self.name, "--network", f"{stack}-app", "--label", f"org.odooops.stack={stack}",
               "--entrypoint", "python3", SAMPLER_IMAGE, "-c", script)
        time.sleep(1)

    def stop(self) -> dict:
        # the sampler gives the requests in flight their timeout (+2 s) after SIGTERM: docker waits longer
        docker("stop", "-t", str(self.timeout + 10), self.name, timeout=self.timeout + 60)
        out = docker("logs", self.name).stdout.strip().splitlines()
        docker("rm", "-f", "-v", self.name, check=False)
        return json.loads(out[-1])


def remove_stack(stack: str) -> None:
    """Remove only what this stack started: its labelled containers, then its volumes and networks."""
    tb_hosts.stack_down(stack)


# with ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks, each task header is followed by a line like
# "Friday 27 November 2026  19:48:30 +0000 (0:00:01.234)       0:00:50.000 ****"
_PROFILE_LINE = re.compile(r"^\w+ (\d+ \w+ \d{4}) +(\d\d:\d\d:\d\d) ([+-]\d{4}) \(")
PROFILE_ENV = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"}


def tasks_around(output: str, errors: list[str], window: float = 15.0) -> list[str]:
    """The tasks (with their start times) that ran within `window` seconds before each sampler error, from
    a playbook output produced with PROFILE_ENV: what was happening when a request failed."""
    started = []
    task = None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line.split("]")[0][6:]
            continue
        m = _PROFILE_LINE.match(line)
        if m and task:
            at = datetime.datetime.strptime(" ".join(m.groups()), "%d %B %Y %H:%M:%S %z").timestamp()
            started.append((at, task))
            task = None
    out = []
    for err in errors:
        when = float(err.split()[0])
        out += [f"{err}: {time.strftime('%H:%M:%S', time.gmtime(at))} {name}" for at, name in started
                if when - window <= at <= when]
    return out


def local_inventory_copy(root: str, prefix: str, stack: str, audit_log: str, http_port: int, https_port: int) -> str:
    """A copy of inventories/local (without its vault) aimed at the test's own hosts, stack and edge ports."""
    inv = os.path.join(root, "inventory")
    shutil.copytree(os.path.join(ROOT, "inventories", "local"), inv, ignore=shutil.ignore_patterns("vault.yml"))
    with open(os.path.join(inv, "group_vars", "all", "test.yml"), "w", encoding="utf-8") as fh:
        yaml.safe_dump({"odooops_local_prefix": prefix, "odooops_stack": stack,
                        "odoo_healthcheck_start_period": "5s", "odoo_rollout_timeout": 120,
                        # sessions in Redis (session_redis's settings file): the double's ping then reaches Redis
                        "odoo_session_redis": True,
                        "rotate_secrets_audit_log": audit_log}, fh)
    # group_vars/app of the copy sets the demo's edge: overridden at the same level, with this test's own ports
    with open(os.path.join(inv, "group_vars", "app", "test.yml"), "w", encoding="utf-8") as fh:
        yaml.safe_dump({"redis_image_build": True, "redis_image": "odooops/redis:local",
                        "redis_image_build_base": "odooops/debian:bookworm",
                        "traefik_publisher_build_base": "odooops/debian:bookworm",
                        "odoo_drain_image_build_base": "odooops/debian:bookworm", "traefik_bind_address": "127.0.0.1",
                        "traefik_http_port": http_port, "traefik_https_port": https_port,
                        "traefik_sites": [{"host": "localhost"}]}, fh)
    return inv
