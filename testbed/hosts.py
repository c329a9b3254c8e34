"""Simulated VMs: containers from the host image on a user-defined Docker network.

Ansible reaches them through odooops.hosting.sim_host (community.docker.docker_api; no SSH). App hosts get the
engine's socket mounted so that the roles running on them drive Docker as they would on a real VM. Names are
`<prefix><host>`; the demo uses prefix "odooops-", the tests their own prefix, so both can coexist.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field

from .images import HOST_IMAGE

DEFAULT_PREFIX = "odooops-"
DEFAULT_NETWORK = "odooops-lan"


@dataclass
class SimHost:
    name: str
    groups: list[str]
    extra_args: list[str] = field(default_factory=list)


DEFAULT_HOSTS = [
    SimHost("db1", ["db"]),
    SimHost("db2", ["db"]),
    # an app VM runs its own Docker engine: the engine's socket, and its volumes where a VM has them
    # (/var/lib/docker/volumes), so that tasks on the host can read a volume's mountpoint as on a VM
    SimHost("app1", ["app"], ["-v", "/var/run/docker.sock:/var/run/docker.sock",
                              "-v", "/var/lib/docker/volumes:/var/lib/docker/volumes"]),
]


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def ensure_network(network: str = DEFAULT_NETWORK) -> None:
    if _docker("network", "inspect", network, check=False).returncode != 0:
        _docker("network", "create", "--label", "org.odooops.testbed=1", network)


def container_state(name: str) -> str | None:
    res = _docker("inspect", "-f", "{{.State.Status}}", name, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def up(hosts: list[SimHost] | None = None, prefix: str = DEFAULT_PREFIX, network: str = DEFAULT_NETWORK,
       image: str = HOST_IMAGE) -> list[str]:
    """Start (or keep) one container per host; idempotent. Returns the container names."""
    ensure_network(network)
    names = []
    for host in hosts or DEFAULT_HOSTS:
        cname = prefix + host.name
        state = container_state(cname)
        if state == "running":
            pass
        elif state is not None:
            _docker("start", cname)
        else:
            # NET_ADMIN: fencing with iptables, as on a VM; no --privileged.
            # --init: a real init reaps killed children (a SIGKILLed postmaster must not look alive)
            _docker("run", "-d", "--init", "--name", cname, "--hostname", host.name, "--network", network,
                    "--network-alias", host.name, "--cap-add", "NET_ADMIN",
                    "--label", "org.odooops.testbed=1", "--label", f"org.odooops.prefix={prefix}",
                    "--label", f"org.odooops.groups={','.join(host.groups)}",
                    *host.extra_args, image)
        names.append(cname)
    return names


def down(prefix: str = DEFAULT_PREFIX, network: str | None = None) -> list[str]:
    """Remove the simulated hosts with this prefix (only containers the test bed labelled)."""
    res = _docker("ps", "-aq", "--filter", "label=org.odooops.testbed=1",
                  "--filter", f"label=org.odooops.prefix={prefix}")
    ids = res.stdout.split()
    if ids:
        _docker("rm", "-f", "-v", *ids)
    if network:
        _docker("network", "rm", network, check=False)
    return ids


STACK_NETWORKS = ("ingress", "app", "data", "db")
STACK_VOLUMES = ("odoo-data", "redis-data", "redis-conf", "traefik-dynamic", "traefik-certs", "traefik-acme",
                 "drill-scratch")


def stack_down(stack: str) -> list[str]:
    """Remove what the roles started for one stack on this machine's engine: its labelled containers, the named
    volumes they mounted (and the drill's scratch volume), its networks. Nothing of another stack: names are
    matched exactly, never as a prefix."""
    ids = _docker("ps", "-aq", "--filter", f"label=org.odooops.stack={stack}").stdout.split()
    volumes = {f"{stack}-{name}" for name in STACK_VOLUMES}
    if ids:
        mounts = _docker("inspect", "-f", '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}',
                         *ids, check=False).stdout.split()
        volumes |= {name for name in mounts if name.startswith(stack + "-")}
        _docker("rm", "-f", "-v", *ids, check=False)
    for vol in sorted(volumes):
        _docker("volume", "rm", vol, check=False)
    for net in STACK_NETWORKS:
        _docker("network", "rm", f"{stack}-{net}", check=False)
    return ids


RESET_POSTGRES = r"""
set -u
for c in $(pg_lsclusters --no-header 2>/dev/null | awk '{print $1"/"$2}'); do
  pg_dropcluster --stop "${c%/*}" "${c#*/}" || true
done
rm -rf /etc/postgresql/*/main /var/lib/postgresql/*/main /var/lib/postgresql/.pgpass \
       /etc/ansible/facts.d/odooops_postgres.fact
iptables -S INPUT 2>/dev/null | grep -q odooops-fence && iptables -F INPUT || true
"""


def reset_postgres(container: str) -> None:
    """Return a simulated db host to "no PostgreSQL cluster": what a test that converged, failed over or fenced
    it leaves must not leak into the next test module (a synchronous primary without its standby blocks
    every write of whoever comes next)."""
    state = _docker("inspect", "-f", "{{.State.Status}}", container, check=False).stdout.strip()
    if state == "paused":
        _docker("unpause", container, check=False)
    elif state in ("exited", "created"):
        _docker("start", container, check=False)
    elif not state:
        return
    _docker("exec", container, "bash", "-c", RESET_POSTGRES, check=False)


def status(prefix: str = DEFAULT_PREFIX) -> list[dict]:
    res = _docker("ps", "-a", "--filter", f"label=org.odooops.prefix={prefix}", "--format", "{{json .}}")
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def s3_up(prefix: str = DEFAULT_PREFIX, network: str = DEFAULT_NETWORK, host_port: int | None = None) -> dict:
    """Object storage on the simulated LAN: a moto (+ stunnel TLS) container reachable as "s3".

    Hosts use http://s3:5000 (or https://s3:443, self-signed); the control node uses the port
    published on 127.0.0.1. Idempotent: an existing container is kept (its published port reported).
    """
    import urllib.request

    from .images import S3_IMAGE
    from .procs import free_port, wait_for

    ensure_network(network)
    cname = prefix + "s3"
    state = container_state(cname)
    if state is None:
        port = host_port or free_port()
        _docker("run", "-d", "--name", cname, "--hostname", "s3", "--network", network, "--network-alias", "s3",
                "-p", f"127.0.0.1:{port}:5000", "--label", "org.odooops.testbed=1",
                "--label", f"org.odooops.prefix={prefix}", S3_IMAGE)
    elif state != "running":
        _docker("start", cname)
    mapping = _docker("port", cname, "5000/tcp").stdout.split()[0]
    port = int(mapping.rsplit(":", 1)[1])
    # docker-proxy accepts connections before moto answers: wait for an HTTP answer
    wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200, 90,
             interval=0.5, what=f"S3 container {cname}")
    return {"container": cname, "endpoint": f"http://127.0.0.1:{port}", "lan_endpoint": "http://s3:5000",
            "lan_tls_endpoint": "https://s3:443"}
