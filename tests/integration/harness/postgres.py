"""Helpers of the PostgreSQL tier's tests: the postgres role's test playbook and its secrets, commands on the
simulated db hosts, an impostor certificate, and a continuous writer through libpq multi-host settings."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import psycopg2

# the postgres role on the simulated db hosts
PLAYBOOK = "tests/integration/postgres/playbooks/role_postgres.yml"


def sh(container: str, *cmd: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    args = ["docker", "exec"]
    for key in env or {}:
        args += ["-e", key]  # value passed through the environment, never in argv
    return subprocess.run([*args, container, *cmd], capture_output=True, text=True, check=check,
                          env={**os.environ, **(env or {})})


def lan_subnet(network: str) -> str:
    out = subprocess.run(["docker", "network", "inspect", network], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]["IPAM"]["Config"][0]["Subnet"]


def secrets_file(directory, secrets: dict) -> str:
    """Secrets reach ansible-playbook as `-e @file` (0600), never in its process arguments."""
    path = os.path.join(str(directory), "secrets.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(secrets, fh)
    return path


SERVER_CERT = "/etc/postgresql/15/main/server.crt"
SERVER_KEY = "/etc/postgresql/15/main/server.key"

IMPOSTOR_SCRIPT = r"""set -e
d=$(mktemp -d); cd "$d"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt \
  -subj "/CN=impostor CA" -days 2 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr \
  -subj "/CN=$1" 2>/dev/null
printf 'subjectAltName=%s\n' "$2" > ext
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out srv.crt 2>/dev/null
cp -p "$3" "$3.real"; cp -p "$4" "$4.real"
cat srv.crt > "$3"; cat srv.key > "$4"
rm -rf "$d"
"""


class ImpostorCertificate:
    """The db host presents a certificate for its own names, issued by another CA (an impostor on its address).

    Same names, same key type: only the issuer differs, so only a client that verifies the CA can tell.
    """

    def __init__(self, container: str, name: str):
        self.container, self.name = container, name

    def _reload(self) -> None:
        sh(self.container, "pg_ctlcluster", "15", "main", "reload")

    def __enter__(self):
        sans = sh(self.container, "openssl", "x509", "-in", SERVER_CERT, "-noout", "-ext", "subjectAltName").stdout
        san = ",".join(x.strip().replace("IP Address:", "IP:") for x in sans.splitlines()[1].split(","))
        sh(self.container, "sh", "-c", IMPOSTOR_SCRIPT, "impostor", self.name, san, SERVER_CERT, SERVER_KEY)
        self._reload()
        return self

    def __exit__(self, *exc):
        sh(self.container, "sh", "-c", f"cat {SERVER_CERT}.real > {SERVER_CERT} && cat {SERVER_KEY}.real > {SERVER_KEY}"
                                       f" && rm -f {SERVER_CERT}.real {SERVER_KEY}.real")
        self._reload()


class Writer(threading.Thread):
    """Inserts numbered rows as fast as it can, one commit each, through a libpq multi-host DSN.

    `acked` holds every id whose COMMIT returned successfully: those must survive any switchover or
    failover. Reconnects on error, like an application server would.
    """

    def __init__(self, dsn: str, table: str = "ledger", start: int = 1):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.table = table
        self.acked: list[int] = []
        self.errors = 0
        self.stop_event = threading.Event()
        self.gaps: list[float] = []  # seconds between consecutive acknowledged commits
        self._next = start

    def run(self):
        conn = None
        last_ok = None
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = psycopg2.connect(self.dsn)
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"insert into {self.table}(id) values (%s)", (self._next,))
                self.acked.append(self._next)
                now = time.monotonic()
                if last_ok is not None:
                    self.gaps.append(now - last_ok)
                last_ok = now
                self._next += 1
            except psycopg2.Error:
                self.errors += 1
                self._next += 1  # the outcome of that id is unknown: never reuse it
                try:
                    if conn is not None:
                        conn.close()
                except psycopg2.Error:
                    pass
                conn = None
                time.sleep(0.05)
            time.sleep(0.002)
        if conn is not None:
            conn.close()

    def wait_acked(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.acked)
        while len(self.acked) < start + count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"writer acknowledged only {len(self.acked) - start} of {count} new rows")
            time.sleep(0.02)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(30)


def multi_host_dsn(*clusters) -> str:
    hosts = ",".join("127.0.0.1" for _unused in clusters)
    ports = ",".join(str(c.port) for c in clusters)
    return (f"host={hosts} port={ports} dbname=postgres user=postgres target_session_attrs=read-write "
            f"connect_timeout=2 keepalives=1 keepalives_idle=1 keepalives_interval=1 keepalives_count=3 "
            f"tcp_user_timeout=3000")
