#!/usr/bin/env bash
# Run the test suite: stage 1 (everything not marked slow) and stage 2 (the slow scenarios, split into shards by
# test file), all at once, each pytest run on its own simulated hosts (its own ODOOOPS_TEST_PREFIX), so that the
# waits of one (Odoo starting, replication catching up, Ansible round trips) overlap the work of the others.
#   ODOOOPS_TEST_SHARDS  number of stage-2 shards (default 4; 1 runs the slow scenarios in one process)
# Every line of output is tagged with its run ([s1], [s2a], ...). pytest's exit 5 (no test collected) fails
# stage 1. A skipped test fails the suite unless tests/skip_allowlist.txt names it (with the reason), or it needs
# ../shared (schemas, beside the project in development and CI only) and that is absent.
# The last lines give each run's wall time and the sum over all runs.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
OUT=$(mktemp -d /tmp/odooops-pytest.XXXXXX)
# The Docker engine: the one that answers, else one started here (scripts/ensure-dockerd.sh) and stopped at the end,
# by its PID, like everything else the suite starts.
STATE="${ODOOOPS_STATE:-/var/tmp/odooops}"
engine=$(scripts/ensure-dockerd.sh) || { echo "$engine" >&2; exit 1; }
echo "$engine"
OWN_ENGINE=""
case "$engine" in *"started (pid "*) OWN_ENGINE=$(cat "$STATE/dockerd.pid") ;; esac
finish() {
  # ODOOOPS_TEST_KEEP_OUT=1 keeps the runs' JUnit files (their path is printed at the end)
  [ -n "${ODOOOPS_TEST_KEEP_OUT:-}" ] || rm -rf "$OUT"
  if [ -n "$OWN_ENGINE" ] && kill -0 "$OWN_ENGINE" 2>/dev/null; then
    kill "$OWN_ENGINE"
    for _ in $(seq 60); do kill -0 "$OWN_ENGINE" 2>/dev/null || break; sleep 1; done
    rm -f "$STATE/dockerd.pid"
    echo "docker engine started by this run (pid $OWN_ENGINE): stopped"
  fi
}
trap finish EXIT
SHARDS=${ODOOOPS_TEST_SHARDS:-4}
BASE_PREFIX=${ODOOOPS_TEST_PREFIX:-odooops-t-}
t0=$(date +%s)
# the machine's CPU time (all processes, /proc/stat) at the start: the summary says how busy the cores were
cpu_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; }
read -r busy0 idle0 < <(cpu_ticks)

# build the images once, before the runs start in parallel (each run's session fixture would otherwise race)
.venv/bin/python -m testbed images >/dev/null || { echo "building the test images failed" >&2; exit 1; }

run() {  # run NAME PREFIX pytest-args...: one pytest process, tagged output, its exit code and time in $OUT
  local name=$1 prefix=$2; shift 2
  local start; start=$(date +%s)
  ODOOOPS_TEST_PREFIX=$prefix .venv/bin/pytest --junitxml="$OUT/$name.xml" "$@" 2>&1 | sed -u "s/^/[$name] /"
  local rc=${PIPESTATUS[0]}
  echo "$rc $(( $(date +%s) - start ))" >"$OUT/$name.rc"
}

# stage 2's shards: slow test files, longest first, each onto the shard with the least expected time
mapfile -t slow_files < <(.venv/bin/pytest -m slow --collect-only -q "$@" 2>/dev/null | grep '::' | cut -d: -f1 | sort -u)
declare -A shard_files=()
if [ ${#slow_files[@]} -gt 0 ]; then
  while read -r shard file; do shard_files[$shard]+="$file "; done < <(
    .venv/bin/python - "$SHARDS" "${slow_files[@]}" <<'PY'
import sys
# expected minutes per slow test file, as measured in a full run on this 2-core machine (all runs at once: the
# minutes are those of a loaded machine); an unknown file counts 5
expected = {
    "demo/test_demo.py": 52, "upgrade/test_upgrade_playbook.py": 52, "odoo/test_provision.py": 20,
    "postgres/test_postgres_role.py": 18, "workflows/test_preflight_matrix.py": 17,
    "postgres/test_postgres_patroni.py": 17, "backup/test_restore_after_switchover.py": 6,
    "postgres/test_postgres_role_failover.py": 6, "edge/test_molecule_edge.py": 5,
    "postgres/test_postgres_role_leaks.py": 4, "secrets/test_rotate_stack.py": 4, "odoo/test_molecule_odoo.py": 2.5,
    "backup/test_pgbackrest_role.py": 2, "backup/test_backup_playbooks.py": 1, "backup/test_backup_sim_hosts.py": 1,
    "kubernetes/test_k8s_apply_kmock.py": 1, "backup/test_pitr_pgbackrest.py": 0.3,
}
shards = max(1, int(sys.argv[1]))
files = sys.argv[2:]
weight = {f: next((m for k, m in expected.items() if f.endswith(k)), 5) for f in files}
load = [0] * shards
for f in sorted(files, key=lambda f: -weight[f]):
    i = load.index(min(load))
    load[i] += weight[f]
    print(chr(ord("a") + i), f)
PY
  )
fi

echo "== stage 1 (not slow) and stage 2 (slow: ${#slow_files[@]} files in ${#shard_files[@]} shards), in parallel"
for s in "${!shard_files[@]}"; do echo "   s2$s: ${shard_files[$s]}"; done
pids=()
run s1 "$BASE_PREFIX" -m "not slow" "$@" & pids+=($!)
for s in "${!shard_files[@]}"; do
  # shellcheck disable=SC2086  # the file list is split on purpose
  run "s2$s" "${BASE_PREFIX}s2$s-" -m slow ${shard_files[$s]} & pids+=($!)
done
wait "${pids[@]}"

read -r busy1 idle1 < <(cpu_ticks)
busy=$(( busy1 - busy0 )) idle=$(( idle1 - idle0 ))
echo "== machine CPU during the suite: $(( busy / $(getconf CLK_TCK) )) CPU seconds busy on $(nproc) cores," \
  "$(( 100 * busy / (busy + idle + 1) ))% of their time"
.venv/bin/python - "$OUT" "$(( $(date +%s) - t0 ))" tests/skip_allowlist.txt <<'PY'
import fnmatch
import glob
import os
import sys
import xml.etree.ElementTree as ET

out, wall, allow_path = sys.argv[1], sys.argv[2], sys.argv[3]
shared = os.environ.get("ODOOOPS_SHARED", os.path.join(os.path.dirname(os.getcwd()), "shared"))
allow = []
with open(allow_path, encoding="utf-8") as fh:
    for line in fh:
        line = line.split("#", 1)[0].strip()
        if line:
            allow.append(line)
ok = True
tot = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
failed_ids, timings = [], []
print("== runs")
for rc_path in sorted(glob.glob(os.path.join(out, "*.rc"))):
    name = os.path.basename(rc_path)[:-3]
    rc, secs = open(rc_path).read().split()
    counts = {k: 0 for k in tot}
    xml_path = os.path.join(out, name + ".xml")
    if os.path.exists(xml_path):
        for suite in ET.parse(xml_path).getroot().iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
        for case in ET.parse(xml_path).getroot().iter("testcase"):
            case_id = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
            timings.append((float(case.get("time", 0)), name, case_id))
            problem = case.find("failure")
            problem = problem if problem is not None else case.find("error")
            if problem is not None:
                # why it failed: the message and the end of the traceback (CI keeps only the end of the output)
                text = (problem.get("message", "") + "\n" + (problem.text or "")).strip().splitlines()
                why = "\n".join("      | " + line[:300] for line in (text[:3] + ["..."] + text[-9:]
                                                                if len(text) > 12 else text))
                failed_ids.append(f"[{name}] {case_id}\n{why}")
            skip = case.find("skipped")
            if skip is None:
                continue
            nodeid = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
            reason = skip.get("message", "")
            # ../shared (schemas) sits beside the project in development and CI only: where it is absent, the
            # tests that need it say so and are skipped (conftest.py's shared_dir); where it exists, they run
            allowed = any(fnmatch.fnmatch(nodeid, pat) for pat in allow) or (
                reason.startswith("shared directory not found") and not os.path.isdir(shared))
            print(f"   skipped{' (allowed)' if allowed else ' (NOT on tests/skip_allowlist.txt)'}: {nodeid}: {reason}")
            ok &= allowed
    for key in tot:
        tot[key] += counts[key]
    # exit 5 (no test collected) is a failure for stage 1; a shard always has tests
    if rc != "0":
        ok = False
    print(f"   [{name}] exit {rc}, {secs} s, {counts['tests']} tests")
print("== slowest tests")
for secs, name, case_id in sorted(timings, reverse=True)[:15]:
    print(f"   {secs:7.1f} s  [{name}] {case_id}")
if failed_ids:
    print("== failed")
    for line in failed_ids:
        print("   " + line)
failed = tot["failures"] + tot["errors"]
passed = tot["tests"] - failed - tot["skipped"]
print(f"suite wall time: {wall} s")
print(f"total: {passed} passed, {failed} failed, {tot['skipped']} skipped")
if os.environ.get("ODOOOPS_TEST_KEEP_OUT"):
    print(f"JUnit files kept in {out}")
sys.exit(0 if ok and tot["tests"] > 0 else 1)
PY
