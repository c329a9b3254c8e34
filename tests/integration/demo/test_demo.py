"""`make demo` as a new user runs it: from a fresh copy of the tree (no .odooops/, no vault, no hosts of its own),
twice in a row, on its own prefix and ports so that it runs beside the other tests and a user's demo.

Asserts every step's outcome from what the demo saw (its report, .odooops/demo-report.jsonl) and, independently,
from the platform itself: the login page through the edge, which db host accepts writes, the upgrade audit, the
drill's report. The second run must pass too, and its provision must change nothing.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pytest

from testbed import hosts as tb_hosts
from testbed.procs import free_port
from tests.integration.harness.env import ROOT, TEST_PREFIX, TEST_PREFIX_VAR
from tests.integration.harness.stack import remove_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(5400)]

PREFIX = TEST_PREFIX + "demo-"
STACK = PREFIX.rstrip("-")
# one `make demo`: about 11 min on a quiet 2-core machine; CI runs it while the rest of the suite loads the cores
RUN_TIMEOUT = int(os.environ.get("ODOOOPS_DEMO_RUN_TIMEOUT", "2700"))


def fresh_copy(dest: str) -> str:
    """The tree as a clone has it (tracked files, and new files git does not ignore), plus the shared venv."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = os.path.join(ROOT, rel)
        if not os.path.lexists(src):  # deleted in the working tree
            continue
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    os.symlink(os.path.join(ROOT, ".venv"), os.path.join(dest, ".venv"))
    assert not os.path.exists(os.path.join(dest, ".odooops"))
    return dest


def psql(host: str, sql: str) -> str:
    res = subprocess.run(["docker", "exec", "-u", "postgres", PREFIX + host, "psql", "-XAtq", "-d", "postgres",
                          "-c", sql], check=False, capture_output=True, text=True, timeout=60)
    return res.stdout.strip() if res.returncode == 0 else ""


def login_page(port: int) -> tuple[int, str]:
    res = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}",
                          f"http://127.0.0.1:{port}/web/login"], check=False, capture_output=True, text=True,
                         timeout=30)
    body, _sep, code = res.stdout.rpartition("\n")
    return int(code or 0), body


@pytest.fixture(scope="module")
def demo_tree(tmp_path_factory):
    tree = fresh_copy(str(tmp_path_factory.mktemp("demo") / "odooops"))
    ports = {"ODOOOPS_DEMO_HTTP_PORT": str(free_port()), "ODOOOPS_DEMO_HTTPS_PORT": str(free_port())}
    yield tree, ports
    tb_hosts.down(prefix=PREFIX, network=PREFIX + "lan")
    remove_stack(STACK)
    remove_stack(STACK + "-rehearsal")  # rehearse.yml's staging stack
    for rest in subprocess.run(["docker", "ps", "-aq", "--filter", f"name=^{STACK}"], check=False, capture_output=True,
                               text=True).stdout.split():
        subprocess.run(["docker", "rm", "-f", "-v", rest], check=False, capture_output=True)
    subprocess.run(["docker", "network", "rm", PREFIX + "lan"], check=False, capture_output=True)


def run_demo(tree: str, ports: dict) -> tuple[str, dict]:
    env = {**os.environ, "ODOOOPS_DEMO_PREFIX": PREFIX, **ports}
    env.pop(TEST_PREFIX_VAR, None)
    # `make test` exports ODOOOPS_BOOTSTRAP_ENGINE=0 (the suite owns the engine): a user's `make demo` has no such
    # variable, and its bootstrap checks the engine and the images itself
    env.pop("ODOOOPS_BOOTSTRAP_ENGINE", None)
    # the output goes to a file as it comes: when a run overruns, the failure says which step it had reached
    log_path = os.path.join(tree, ".odooops-demo-run.log")
    with open(log_path, "w+", encoding="utf-8") as log:
        proc = subprocess.Popen(["make", "demo"], cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            log.seek(0)
            out = log.read()
            steps = [line.strip() for line in out.splitlines() if line.startswith("== ")]
            pytest.fail(f"make demo did not finish within {RUN_TIMEOUT} s; steps started: {steps}\n{out[-4000:]}")
        log.seek(0)
        out = log.read()
    res = subprocess.CompletedProcess(["make", "demo"], proc.returncode, out, "")
    if res.returncode != 0:
        # the step and Ansible's fatal lines first: CI shows only the head of a failure's message
        # (with the YAML callback a fatal line ends at "=>": its msg follows on the next lines)
        key = [line.strip()[:400] for line in out.splitlines()
               if line.startswith(("!! demo FAILED", "fatal:", "failed:")) or "FAILED!" in line
               or line.lstrip().startswith(("msg:", "[ERROR]:"))]
        pytest.fail(f"make demo failed (exit {res.returncode}): {' / '.join(key[-6:])}\n{out[-6000:]}")
    with open(os.path.join(tree, ".odooops", "demo-report.jsonl"), encoding="utf-8") as fh:
        steps = {r["step"]: r for r in map(json.loads, fh)}
    return out, steps


def check_run(tree: str, ports: dict, out: str, steps: dict) -> None:
    assert list(steps) == ["hosts", "secrets", "provision", "backup", "rehearsal", "upgrade", "upgrade_failing",
                           "switchover", "drill"], out[-3000:]
    # Odoo served the login page through the edge after every step from provision on
    for name in list(steps)[2:]:
        assert steps[name]["serving"] is True, f"Odoo did not serve /web/login after step {name}: {steps[name]}"
    assert steps["rehearsal"]["outcome"] == "success"
    assert steps["upgrade"]["outcome"] == "success"
    failing = steps["upgrade_failing"]
    assert failing["exit"] != 0 and failing["outcome"] == "rolled_back" and failing["rollback_verified"] is True
    # the figures users lived are reported (measured, never asserted against a time: the machines are shared)
    assert 0 < steps["upgrade"]["update"] < steps["upgrade"]["window"] and steps["upgrade"]["rollback"] is None
    assert failing["rollback"] > 0 and failing["window"] > 0, failing
    sw = steps["switchover"]
    assert {sw["primary_before"], sw["primary_after"]} == {"db1", "db2"}, sw
    # independently: the new primary accepts writes, the other one replays, and streams from it
    assert psql(sw["primary_after"], "SELECT pg_is_in_recovery()") == "f"
    assert psql(sw["primary_before"], "SELECT pg_is_in_recovery()") == "t"
    assert int(psql(sw["primary_after"], "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) >= 1
    # the audit trail holds the good upgrade and the rolled-back one, in that order
    with open(os.path.join(tree, ".odooops", "upgrades.jsonl"), encoding="utf-8") as fh:
        audit = [json.loads(line) for line in fh if line.strip()]
    assert [a["outcome"] for a in audit[-2:]] == ["success", "rolled_back"], audit[-2:]
    # the drill PASSED with its checks, the restore among them, after the switchover
    with open(os.path.join(tree, steps["drill"]["report"]), encoding="utf-8") as fh:
        report = json.load(fh)
    assert report["passed"] is True, report["checks"]
    names = {c["name"] for c in report["checks"]}
    assert all(c["ok"] for c in report["checks"]) and len(names) >= 5, report["checks"]
    assert "DR drill of" in out and "PASSED" in out
    code, body = login_page(int(ports["ODOOOPS_DEMO_HTTP_PORT"]))
    assert code == 200 and 'name="login"' in body


def test_make_demo_twice_from_a_fresh_clone(demo_tree):
    tree, ports = demo_tree
    out, steps = run_demo(tree, ports)
    check_run(tree, ports, out, steps)
    out2, steps2 = run_demo(tree, ports)
    check_run(tree, ports, out2, steps2)
    # the second provision changes nothing: on the app host no new web set and no downgrade of what upgrade.yml
    # rolled out; on the db tier, after the first run's switchover, the same state as failover.yml recorded
    print(f"second provision.yml: changed tasks per host {steps2['provision']['changed_by_host']}")
    assert set(steps2["provision"]["changed_by_host"]) == {"app1", "db1", "db2"}, steps2["provision"]
    assert all(n == 0 for n in steps2["provision"]["changed_by_host"].values()), steps2["provision"]
    # the switchover went back: the second run's primary is the first run's standby
    assert steps2["switchover"]["primary_after"] == steps["switchover"]["primary_before"]
