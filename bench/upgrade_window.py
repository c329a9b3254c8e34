#!/usr/bin/env python3
"""Benchmark (not a test): the upgrade as users live it, through playbooks/upgrade.yml on the embedded default.

  make demo && .venv/bin/python bench/upgrade_window.py          # 2 rounds (about 6 minutes on a quiet machine)
  BENCH_ROUNDS=1 ODOOOPS_DEMO_PREFIX=odooops-da- .venv/bin/python bench/upgrade_window.py

Needs the platform `make demo` leaves up (the simulated hosts db1, db2, app1 and S3 of inventories/local, the
vault, a backup in S3); it changes nothing else. bench/rollback.py measures the same steps at the module level,
without Ansible; this one measures what an operator and the shop's users see.

Each round:
  - a good upgrade of the serving release with `-u stock,point_of_sale` (the double's realistic per-module
    times): the maintenance window against the module update's own time (goal: the update + 20 s at most);
  - a failing upgrade (`-u all`, the double told to fail after some modules are committed): the time from the
    failure to users back on the previous version (goal: 5 s at most), and its window.
Baseline, once, in the same run: the latest backup restored with playbooks/restore.yml into a new database (not
swapped in, no Odoo restarted: a lower bound of a recovery by restore), the ratio printed against the rollback.
Figures come from the audit records' stage marks (the playbook's own clock) and wall clocks around the runs.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = os.environ.get("ODOOOPS_DEMO_PREFIX", "odooops-")
AUDIT = os.path.join(ROOT, ".odooops", "upgrades.jsonl")
VARS = os.path.join(ROOT, ".odooops", "demo-vars.json")


def play(*args: str) -> tuple[int, float, str]:
    cmd = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "inventories/local",
           "--vault-password-file", ".odooops/vault-pass"]
    if PREFIX != "odooops-" and os.path.exists(VARS):
        cmd += ["-e", "@" + VARS]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""))
    start = time.monotonic()
    res = subprocess.run(cmd + list(args), cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return res.returncode, time.monotonic() - start, res.stdout[-2500:]


def last_audit() -> dict:
    with open(AUDIT, encoding="utf-8") as fh:
        return json.loads(fh.read().splitlines()[-1])


def serving_image() -> str:
    """The image of the stack's serving web set (the simulated hosts share this machine's Docker engine)."""
    stack = PREFIX.rstrip("-")
    out = subprocess.run(["docker", "ps", "--filter", f"label=org.odooops.stack={stack}", "--filter",
                          "label=org.odooops.odoo-role=web", "--format", "{{.Image}}"],
                         capture_output=True, text=True, check=False).stdout.split()
    if not out:
        raise SystemExit(f"no Odoo web container of stack {stack}: run `make demo` first "
                         f"(ODOOOPS_DEMO_PREFIX={PREFIX})")
    return out[0]


def upgrade(image: str, *extra: str) -> dict:
    rc, wall, out = play("playbooks/upgrade.yml", "-e", f"upgrade_image={image}", "-e", "upgrade_approval_ref=CHG-4242",
                         *extra)
    rec = last_audit()
    return {"rc": rc, "wall": round(wall, 1), "outcome": rec["outcome"], "stages": rec.get("stages") or {},
            "tail": out}


def main() -> None:
    if not os.path.exists(os.path.join(ROOT, ".odooops", "vault-pass")):
        raise SystemExit("no .odooops/vault-pass: run `make demo` first")
    image = serving_image()
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    good, bad = [], []
    for i in range(rounds):
        g = upgrade(image, "-e", '{"upgrade_modules": ["stock", "point_of_sale"]}')
        if g["rc"] != 0 or g["outcome"] != "success":
            raise SystemExit(f"round {i + 1}: the good upgrade did not succeed ({g['outcome']}):\n{g['tail']}")
        b = upgrade(image, "-e", '{"upgrade_modules": ["all"], "upgrade_update_env": ["ODOO_DOUBLE_FAIL_UPDATE=1"]}')
        if b["rc"] == 0 or b["outcome"] != "rolled_back":
            raise SystemExit(f"round {i + 1}: the failing upgrade was not rolled back ({b['outcome']}):\n{b['tail']}")
        good.append(g)
        bad.append(b)
        print(f"round {i + 1}: good {json.dumps(g['stages'])}", flush=True)
        print(f"round {i + 1}: failing {json.dumps(b['stages'])}", flush=True)

    target = "odoo_bench_restore_" + time.strftime("%H%M%S")
    rc, restore_wall, out = play("playbooks/restore.yml", "-e", f"odooops_restore_target={target}")
    if rc != 0:
        raise SystemExit(f"restore.yml failed:\n{out}")
    for host in ("db1", "db2"):  # the copy is dropped on the primary (whichever it is after the demo's switchover)
        subprocess.run(["docker", "exec", "-u", "postgres", PREFIX + host, "psql", "-XAtq", "-c",
                        f"DROP DATABASE IF EXISTS {target} WITH (FORCE)"], capture_output=True, check=False)

    med = statistics.median
    window = med(g["stages"]["maintenance_window"] for g in good)
    update = med(g["stages"]["update"] for g in good)
    rollback = med(b["stages"]["rollback"] for b in bad)
    print()
    print(f"Upgrade as users live it (playbooks/upgrade.yml on inventories/local, image {image}, "
          f"median of {rounds} round(s))")
    keys = ["maintenance", "snapshot", "update", "verify", "open", "maintenance_window", "after_window"]
    print("  good upgrade, stages (s): " + ", ".join(
        f"{k} {med(g['stages'].get(k, 0) for g in good):.1f}" for k in keys))
    print("  failing upgrade, stages (s): " + ", ".join(
        f"{k} {med(b['stages'].get(k, 0) for b in bad):.1f}"
        for k in ["maintenance", "snapshot", "update", "rollback", "rolled_back", "maintenance_window"]))
    print(f"  maintenance window {window:.1f} s = the module update {update:.1f} s + {window - update:.1f} s "
          f"(goal: + 20 s at most): {'met' if window - update <= 20 else 'NOT met'}")
    print(f"  rollback (failure -> users back on the previous version) {rollback:.1f} s (goal: 5 s at most): "
          f"{'met' if rollback <= 5 else 'NOT met'}")
    print(f"  restore of the latest backup into a new database (restore.yml, wall) {restore_wall:.1f} s: "
          f"restore / rollback {restore_wall / rollback:.1f}x")
    print(f"  whole runs (wall, median): good upgrade {med(g['wall'] for g in good):.1f} s, "
          f"failing upgrade {med(b['wall'] for b in bad):.1f} s")


if __name__ == "__main__":
    sys.exit(main())
