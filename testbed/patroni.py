"""Patroni mode on the simulated db hosts: a third db host, reading the cluster, killing the leader, and
returning the hosts to "no Patroni, no etcd, no cluster" (used by the tests and bench/failover.py)."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request

from .hosts import SimHost, reset_postgres, up

DB3 = SimHost("db3", ["db"])
# what the postgres role starts in Patroni mode on a host without systemd (roles/postgres/vars/main.yml)
PATRONI_PIDFILE = "/run/odooops-patroni.pid"
ETCD_PIDFILE = "/run/odooops-etcd.pid"
DATA_DIR = "/var/lib/postgresql/15/main"
# the platform CA and a node's Patroni certificate (roles/postgres/defaults/main.yml): the REST API and etcd are
# TLS only, verified against the CA; unsafe API methods and every etcd request need a client certificate
CA_FILE = "/etc/odooops/pki/db-ca.crt"
PATRONI_CERT = "/etc/patroni/tls/patroni.crt"
PATRONI_KEY = "/etc/patroni/tls/patroni.key"

STOP_HA = f"""
set -u
start-stop-daemon --stop --quiet --pidfile {PATRONI_PIDFILE} --retry KILL/5 --remove-pidfile || true
for p in $(head -1 {DATA_DIR}/postmaster.pid 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
start-stop-daemon --stop --quiet --pidfile {ETCD_PIDFILE} --retry KILL/5 --remove-pidfile || true
rm -rf /var/lib/etcd/odooops /etc/etcd/odooops.conf.yml /etc/patroni/*.yml /var/lib/postgresql/.pgpass.patroni \
       /var/log/postgresql/patroni.log /var/log/etcd/etcd.log
"""


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def db3_up(prefix: str, network: str) -> str:
    """The third db host (etcd needs three members), on the same network and prefix as db1/db2."""
    return up([DB3], prefix=prefix, network=network)[0]


def reset(container: str) -> None:
    """Stop Patroni and etcd (by their pidfiles), forget their state, then drop the PostgreSQL cluster."""
    if _docker("inspect", "-f", "{{.State.Status}}", container, check=False).stdout.strip() == "running":
        _docker("exec", container, "bash", "-c", STOP_HA, check=False)
    reset_postgres(container)


def ip(container: str) -> str:
    out = json.loads(_docker("inspect", container).stdout)[0]
    return next(iter(out["NetworkSettings"]["Networks"].values()))["IPAddress"]


_FILES: dict[str, dict[str, str]] = {}


def node_files(container: str) -> dict[str, str]:
    """The platform CA and the node's Patroni certificate and key, copied into a private temporary directory of
    the control machine (0700/0600), cached per container. Raises OSError when the node has none yet."""
    if container not in _FILES:
        where = tempfile.mkdtemp(prefix="odooops-tls-")
        atexit.register(shutil.rmtree, where, True)  # the copies of the key go with the process
        files = {}
        for name, path in (("ca", CA_FILE), ("cert", PATRONI_CERT), ("key", PATRONI_KEY)):
            out = _docker("exec", container, "cat", path, check=False)
            if out.returncode != 0 or not out.stdout.strip():
                raise OSError(f"{container}: no {path} yet")
            files[name] = os.path.join(where, name + ".pem")
            fd = os.open(files[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(out.stdout)
        _FILES[container] = files
    return _FILES[container]


def tls_context(container: str, client_cert: bool = False) -> ssl.SSLContext:
    """Verifies a node (certificate against the platform CA, hostname = its address); with client_cert, presents
    the node's Patroni certificate."""
    files = node_files(container)
    ctx = ssl.create_default_context(cafile=files["ca"])
    if client_cert:
        ctx.load_cert_chain(files["cert"], files["key"])
    return ctx


def cluster(container: str, port: int = 8008, timeout: float = 3) -> dict:
    """GET /cluster from a member's REST API over TLS (reachable from the control machine on the docker network)."""
    try:
        with urllib.request.urlopen(f"https://{ip(container)}:{port}/cluster", timeout=timeout,
                                    context=tls_context(container)) as resp:
            return json.loads(resp.read())
    except (ssl.SSLError, urllib.error.URLError):
        _FILES.pop(container, None)  # a node converged again may have a new CA or certificate
        raise


def leader(containers: dict[str, str]) -> str | None:
    """Name of the member holding the leader lock, as the first answering member reports it."""
    for c in containers.values():
        try:
            for m in cluster(c).get("members", []):
                if m.get("role") in ("leader", "master", "primary"):
                    return m["name"]
        except OSError:
            continue
    return None


def kill_leader(container: str) -> None:
    """The primary dies: SIGKILL of Patroni and of the postmaster (no clean shutdown, the leader key stays
    until its TTL runs out)."""
    _docker("exec", container, "bash", "-c",
            f"kill -9 $(cat {PATRONI_PIDFILE}) $(head -1 {DATA_DIR}/postmaster.pid)")


def start_patroni(container: str, config: str = "/etc/patroni/15-main.yml") -> None:
    """Start Patroni again on a host whose Patroni was killed (as the role does without systemd)."""
    _docker("exec", container, "start-stop-daemon", "--start", "--background", "--make-pidfile", "--pidfile",
            PATRONI_PIDFILE, "--chuid", "postgres", "--output", "/var/log/postgresql/patroni.log", "--startas",
            "/usr/bin/patroni", "--", config)


def patch_config(container: str, settings: dict, user: str, password: str, port: int = 8008) -> dict:
    """PATCH Patroni's cluster-wide settings (ttl, loop_wait, ...) through a member's REST API (client
    certificate and basic auth, as the role does)."""
    import base64

    req = urllib.request.Request(f"https://{ip(container)}:{port}/config", data=json.dumps(settings).encode(),
                                 method="PATCH", headers={"Content-Type": "application/json"})
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=10, context=tls_context(container, client_cert=True)) as resp:
        return json.loads(resp.read())
