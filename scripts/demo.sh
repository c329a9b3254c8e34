#!/usr/bin/env bash
# make demo: the whole platform on this machine, on the embedded default inventory (inventories/local).
#   hosts + S3 -> secrets -> provision -> backup -> rehearsal of the upgrade on an anonymised staging copy
#   -> upgrade (success, then a failure that rolls back) -> switchover -> DR drill
# Idempotent: a second run converges the same platform again. Secrets stay in the vault file
# (inventories/local/group_vars/all/vault.yml, encrypted with .odooops/vault-pass): never on a command line,
# never printed. 'make demo-down' removes the simulated hosts and the demo's stacks.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
# The demo's own containers and ports. A second platform beside it (the test of this script runs one) sets
# ODOOOPS_DEMO_PREFIX and the two ports; the defaults are those of inventories/local.
PREFIX=${ODOOOPS_DEMO_PREFIX:-odooops-}
HTTP_PORT=${ODOOOPS_DEMO_HTTP_PORT:-8069}
HTTPS_PORT=${ODOOOPS_DEMO_HTTPS_PORT:-8443}
INV=inventories/local
VAULT=(--vault-password-file .odooops/vault-pass)
UPGRADE_TO=odooops/odoo-double:17.0-b
APPROVAL=CHG-4242
URL=http://127.0.0.1:$HTTP_PORT
REPORT=.odooops/demo-report.jsonl    # one JSON line per step: what the demo saw (read by tests/integration/demo)
EXTRA=()
if [[ "$PREFIX" != odooops- || "$HTTP_PORT" != 8069 || "$HTTPS_PORT" != 8443 ]]; then
  # not the default platform: its own hosts, network, stack, scratch directory and ports (no secret in here)
  stack=${PREFIX%-}
  mkdir -p .odooops
  printf '{"odooops_local_prefix": "%s", "odooops_stack": "%s", "odooops_http_port": %s, "traefik_https_port": %s,
  "odooops_drill_work_dir": "/var/lib/docker/volumes/%s-drill-scratch"}\n' \
    "$PREFIX" "$stack" "$HTTP_PORT" "$HTTPS_PORT" "$stack" >.odooops/demo-vars.json
  EXTRA=(-e @.odooops/demo-vars.json)
fi

t0=$(date +%s)
current=""
step_t0=0
timings=()
step() {
  end_step
  current="$1"; step_t0=$(date +%s)
  echo; echo "== $current"
}
end_step() {
  if [[ -n "$current" ]]; then timings+=("$(printf '%5d s  %s' $(( $(date +%s) - step_t0 )) "$current")"); fi
  current=""
}
on_error() {
  local rc=$?
  echo; echo "!! demo FAILED (exit $rc) at step: ${current:-?}" >&2
  echo "!! the hosts stay up for inspection; 'make demo-down' removes them" >&2
  exit "$rc"
}
trap on_error ERR
play() { ansible-playbook -i "$INV" "${VAULT[@]}" "${EXTRA[@]}" "$@"; }
psql_on() { docker exec -u postgres "$PREFIX$1" psql -XAtq -d postgres -c "$2" 2>/dev/null; }
primary() {  # the db host whose PostgreSQL accepts writes
  local h
  for h in db1 db2; do [[ "$(psql_on "$h" 'SELECT pg_is_in_recovery()' || true)" == f ]] && { echo "$h"; return; }; done
  echo none
}
health() { curl -fsS --max-time 10 "$URL/web/health"; }
# readiness as a user sees it: the login page of the configured database, served through the edge
serving() {
  local code body
  body=$(curl -sS --max-time 20 -o - -w '\n%{http_code}' "$URL/web/login" 2>/dev/null) || true
  code=${body##*$'\n'}
  if [[ "$code" == 200 && "$body" == *'name="login"'* ]]; then echo true; else echo false; fi
}
# the last upgrade's figures from its audit record: what users lived (issue goals: the window at most the module
# update's own time + 20 s, a rollback at most 5 s); prints a line, and "window=.. update=.. rollback=.." for record
upgrade_figures() {
  tail -1 .odooops/upgrades.jsonl | python -c '
import json, sys
st = json.load(sys.stdin).get("stages") or {}
w, u, r = st.get("maintenance_window"), st.get("update"), st.get("rollback")
if r is None:
    print(f"maintenance window {w} s = the module update {u} s + {round(w - u, 1)} s (goal: + 20 s at most)",
          file=sys.stderr)
else:
    print(f"maintenance window {w} s; users back {r} s after the failure (goal: 5 s at most)", file=sys.stderr)
print(f"window={json.dumps(w)} update={json.dumps(u)} rollback={json.dumps(r)}")'
}
record() {  # record STEP KEY=JSONVALUE...: a line of the demo's report
  local step=$1; shift
  local fields="\"step\": \"$step\", \"serving\": $(serving)"
  for kv in "$@"; do fields+=", \"${kv%%=*}\": ${kv#*=}"; done
  echo "{$fields}" >>"$REPORT"
}

# ---------------------------------------------------------------------------------------------------------------
step "1. simulated hosts db1, db2, app1 and object storage on the LAN"
# hosts created before app1 shared /var/lib/docker/volumes with the engine are re-created once
if docker inspect "${PREFIX}app1" >/dev/null 2>&1 && ! docker inspect -f '{{range .Mounts}}{{.Destination}} {{end}}' \
     "${PREFIX}app1" | grep -q /var/lib/docker/volumes; then
  echo "re-creating the demo's hosts (app1 lacks the /var/lib/docker/volumes mount)"
  python -m testbed hosts down --prefix "$PREFIX" --network "${PREFIX}lan"
fi
python -m testbed hosts up --prefix "$PREFIX" --network "${PREFIX}lan"
python -m testbed s3 up --prefix "$PREFIX" --network "${PREFIX}lan"
mkdir -p .odooops; : >"$REPORT"
record hosts

# ---------------------------------------------------------------------------------------------------------------
step "2. secrets: vault password file and encrypted vault (playbooks/secrets_init.yml)"
# the first run creates the password file; later runs need it to read the existing vault
if [[ -f .odooops/vault-pass ]]; then play playbooks/secrets_init.yml; else ansible-playbook -i "$INV" playbooks/secrets_init.yml; fi
stat -c '%a %n' .odooops/vault-pass
echo "$(head -c 14 "$INV/group_vars/all/vault.yml")...  $INV/group_vars/all/vault.yml (encrypted, gitignored)"
echo "-- Ansible reaches every host (playbooks/ping.yml)"
play playbooks/ping.yml
record secrets

# ---------------------------------------------------------------------------------------------------------------
step "3. provision: db tier, app host (networks, Redis, Odoo web + cron, edge) (playbooks/provision.yml)"
LOG=$(mktemp /tmp/odooops-demo-provision.XXXXXX)
play playbooks/provision.yml | tee "$LOG"
# the PLAY RECAP's changed counts: a rerun of a converged platform changes nothing
changed=$(sed -n 's/.*: ok=[0-9]* *changed=\([0-9]*\).*/\1/p' "$LOG" | awk '{s+=$1} END {print s+0}')
# per host, as JSON: {"app1": 0, "db1": 0, ...}
changed_by_host=$(sed -n 's/^\([a-z0-9_-]*\) *: ok=[0-9]* *changed=\([0-9]*\).*/"\1": \2/p' "$LOG" | paste -sd, -)
rm -f "$LOG"
echo "Odoo: $URL  /web/health -> $(health); login page served: $(serving); provision changed $changed task(s)"
record provision "changed=$changed" "changed_by_host={$changed_by_host}"

# ---------------------------------------------------------------------------------------------------------------
step "4. backup to the LAN's S3, encrypted, Object Lock (playbooks/backup.yml)"
# the playbook does not create buckets: the control node creates it (Object Lock on) through the published port
S3_PORT=$(docker port "${PREFIX}s3" 5000/tcp | head -1 | sed 's/.*://')
BUCKET=$(sed -n 's/^odooops_backup_bucket: *//p' "$INV/group_vars/all/backup.yml")
S3_PORT="$S3_PORT" BUCKET="$BUCKET" python - <<'EOF'
import os
import boto3
from testbed.s3 import ACCESS_KEY, REGION, SECRET_KEY  # moto's test credentials (moto checks none)
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{os.environ['S3_PORT']}", region_name=REGION,
                  aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
bucket = os.environ["BUCKET"]
if bucket in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    print(f"bucket {bucket}: exists")
else:
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    print(f"bucket {bucket}: created with Object Lock")
EOF
play playbooks/backup.yml
record backup

# ---------------------------------------------------------------------------------------------------------------
step "5. rehearsal: the upgrade to $UPGRADE_TO on a neutralised, anonymised staging copy (playbooks/rehearse.yml)"
play playbooks/rehearse.yml -e "upgrade_image=$UPGRADE_TO" -e "upgrade_approval_ref=$APPROVAL"
rehearsal=$(ls -t .odooops/rehearsal-*.json | head -1)
echo "rehearsal report: $rehearsal"
record rehearsal "outcome=$(python -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["outcome"]))' "$rehearsal")"

# ---------------------------------------------------------------------------------------------------------------
step "6. governed upgrade to $UPGRADE_TO, approval $APPROVAL (playbooks/upgrade.yml)"
play playbooks/upgrade.yml -e "upgrade_image=$UPGRADE_TO" -e "upgrade_approval_ref=$APPROVAL"
echo "Odoo after the upgrade: /web/health -> $(health); login page served: $(serving)"
figures=$(upgrade_figures)
# shellcheck disable=SC2086  # three KEY=VALUE words
record upgrade "outcome=$(tail -1 .odooops/upgrades.jsonl | python -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["outcome"]))')" $figures

step "6b. an upgrade whose module update fails (the double's ODOO_DOUBLE_FAIL_UPDATE): expected to roll back"
AUDIT=.odooops/upgrades.jsonl
# (a failing command in an if condition neither stops the script nor fires the ERR trap)
if play playbooks/upgrade.yml -e "upgrade_image=$UPGRADE_TO" -e "upgrade_approval_ref=$APPROVAL" \
     -e '{"upgrade_modules": ["all"], "upgrade_update_env": ["ODOO_DOUBLE_FAIL_UPDATE=1"]}'; then rc=0; else rc=$?; fi
outcome=$(tail -1 "$AUDIT" | python -c 'import json,sys; r=json.load(sys.stdin); print(r["outcome"], r.get("rollback_verified"))')
if [[ $rc -ne 0 && "$outcome" == "rolled_back True" ]]; then
  echo "upgrade.yml failed (exit $rc) and ROLLED BACK as expected (audit: $outcome)"
else
  echo "!! unexpected: upgrade.yml exit $rc, audit outcome '$outcome' (expected a failure, rolled_back True)" >&2
  false
fi
echo "Odoo still serving: /web/health -> $(health); login page served: $(serving)"
figures=$(upgrade_figures)
# shellcheck disable=SC2086  # three KEY=VALUE words
record upgrade_failing "exit=$rc" "outcome=\"${outcome% *}\"" "rollback_verified=$( [[ ${outcome#* } == True ]] && echo true || echo false)" $figures

# ---------------------------------------------------------------------------------------------------------------
step "7. PostgreSQL switchover (playbooks/failover.yml -e mode=switchover)"
p=$(primary)
standbys=$( [[ $p != none ]] && psql_on "$p" "SELECT count(*) FROM pg_stat_replication" || echo 0)
if [[ ! -f playbooks/failover.yml ]]; then
  echo "SKIPPED: playbooks/failover.yml is not in this checkout"
elif [[ "${standbys:-0}" -lt 1 ]]; then
  echo "!! unexpected: no standby streaming from the primary ($p) after provision.yml" >&2
  false
else
  echo "primary before: $p ($standbys standby(s) streaming)"
  play playbooks/failover.yml -e mode=switchover
  after=$(primary)
  echo "primary after: $after;  Odoo: /web/health -> $(health); login page served: $(serving)"
  record switchover "primary_before=\"$p\"" "primary_after=\"$after\""
fi

# ---------------------------------------------------------------------------------------------------------------
step "8. DR drill: restore the latest backup into scratch, check it, report RPO/RTO (playbooks/dr_drill.yml)"
play playbooks/dr_drill.yml
drill=$(ls -t .odooops/reports/drills/*.json 2>/dev/null | head -1)
record drill "report=\"$drill\""
end_step

echo
echo "== demo done in $(( $(date +%s) - t0 )) s (hosts stay up; 'make demo-down' removes them)"
printf '   %s\n' "${timings[@]}"
echo "   Odoo: $URL"
