#!/usr/bin/env bash
# Start a Docker engine if none answers on the default socket.
# The engine we start is recorded in ${ODOOOPS_STATE:-/var/tmp/odooops}/dockerd.pid, so that only what we started
# is ever stopped (by that PID); an engine that already answered is left alone.
set -euo pipefail
STATE="${ODOOOPS_STATE:-/var/tmp/odooops}"
mkdir -p "$STATE"
if docker info >/dev/null 2>&1; then
  echo "docker engine: already answering"; exit 0
fi
command -v dockerd >/dev/null || { echo "dockerd missing: run scripts/bootstrap.sh" >&2; exit 1; }
# no systemd on containers/CI machines: start it ourselves. Networks get /24s from 172.16.0.0/12 (4096 of them)
# instead of the default pools' 31: the parallel test runs each make a LAN and three networks per stack.
nohup dockerd --default-address-pool base=172.16.0.0/12,size=24 >"$STATE/dockerd.log" 2>&1 &
echo $! >"$STATE/dockerd.pid"
for _ in $(seq 60); do
  if docker info >/dev/null 2>&1; then echo "docker engine: started (pid $(cat "$STATE/dockerd.pid"))"; exit 0; fi
  sleep 1
done
echo "dockerd did not answer within 60 s; see $STATE/dockerd.log" >&2
exit 1
