#!/usr/bin/env bash
# One idempotent set-up for `make demo` and `make test` on a fresh Debian 12 / Ubuntu machine, as root:
#   1. Debian packages (skipped when already installed)
#   2. a Python venv in .venv with pinned packages (skipped when requirements.txt is unchanged)
#   3. the Ansible collections we depend on, from the PyPI `ansible` 12.x wheel (Galaxy is not needed),
#      and this collection linked into .collections as odooops.hosting
#   4. a Docker engine (started if none answers)
#   5. the locally built images (rebuilt only when their build context changes)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE="${ODOOOPS_STATE:-/var/tmp/odooops}"
mkdir -p "$STATE"
t0=$(date +%s)
step() { printf '[bootstrap %3ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

# 1. packages ---------------------------------------------------------------------------------------
PKGS=(docker.io debootstrap postgresql-15 postgresql-client-15 redis-server pgbackrest stunnel4
      etcd-server patroni python3-venv python3-dev make git iproute2 iptables openssl curl ca-certificates)
# kubectl (for `kubectl kustomize` checks of the GitOps tree): Debian's client only where none exists
command -v kubectl >/dev/null || PKGS+=(kubernetes-client)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$STATE/apt.log" 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$STATE/apt.log" 2>&1 \
    || { tail -30 "$STATE/apt.log" >&2; exit 1; }
else
  step "apt: all packages present"
fi
# Debian's postinst may start the packaged services where systemd runs; the platform runs its own.
id postgres >/dev/null 2>&1 || useradd -r -m -d /var/lib/postgresql postgres

# 2. venv -------------------------------------------------------------------------------------------
PY=${PYTHON:-python3}
REQ_HASH=$(cat requirements.txt | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.req-hash 2>/dev/null)" != "$REQ_HASH" ]; then
  step "venv: installing pinned requirements"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q -U 'pip>=24' >"$STATE/pip.log" 2>&1
  .venv/bin/pip install -q -r requirements.txt >>"$STATE/pip.log" 2>&1 || { grep -v 'is ignored' "$STATE/pip.log" | tail -30 >&2; exit 1; }
  echo "$REQ_HASH" > .venv/.req-hash
else
  step "venv: up to date"
fi

# 3. collections ------------------------------------------------------------------------------------
# The `ansible` package in requirements.txt is the community bundle: its collections live in the venv's
# site-packages/ansible_collections and are found there. Ours is linked into ./.collections.
# an installed copy of this collection in the user's collections path would shadow the working tree
STALE="$HOME/.ansible/collections/ansible_collections/odooops/hosting"
if [ -e "$STALE" ] && [ ! -L "$STALE" ]; then
  mv "$STALE" "$STALE.shadowing-$(date +%s)"
  step "collections: moved aside an installed copy of odooops.hosting in ~/.ansible that shadowed this tree"
fi
mkdir -p .collections/ansible_collections/odooops
ln -sfn "$ROOT" .collections/ansible_collections/odooops/hosting
step "collections: $(.venv/bin/ansible-galaxy collection list 2>/dev/null | grep -cE '^(community\.(docker|postgresql|general)|ansible\.posix|amazon\.aws|kubernetes\.core) ') dependencies present, odooops.hosting linked"

# 4. docker engine ----------------------------------------------------------------------------------
# (`make test` sets ODOOOPS_BOOTSTRAP_ENGINE=0: scripts/run-tests.sh starts the engine itself when none answers,
# and stops the one it started at its end; it builds the images too)
if [ "${ODOOOPS_BOOTSTRAP_ENGINE:-1}" != 0 ]; then
  step "$(scripts/ensure-dockerd.sh)"
else
  step "docker engine: left to scripts/run-tests.sh"
fi

# 5. images -----------------------------------------------------------------------------------------
if [ "${ODOOOPS_SKIP_IMAGES:-0}" != 1 ] && [ "${ODOOOPS_BOOTSTRAP_ENGINE:-1}" != 0 ]; then
  .venv/bin/python -m testbed images | while read -r line; do step "$line"; done
fi
step "done"
