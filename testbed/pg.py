"""Real PostgreSQL clusters on loopback, on free ports, run as the postgres user.

A cluster is an initdb'd data directory with its own socket directory; it is started with pg_ctl and
stopped with pg_ctl (which signals the postmaster PID recorded in postmaster.pid).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from .procs import ensure_user, free_port, run

PG_VERSION = os.environ.get("ODOOOPS_PG_VERSION", "15")
PG_BIN = f"/usr/lib/postgresql/{PG_VERSION}/bin"
ROOT = os.environ.get("ODOOOPS_PG_ROOT", "/var/tmp/odooops-pg")

BASE_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "hot_standby": "on",
    "wal_log_hints": "on",
    "wal_keep_size": "'256MB'",
    "fsync": "off",  # test speed only; never in the product's templates
    "full_page_writes": "on",
    "shared_buffers": "'32MB'",
    "max_connections": "100",
    "log_min_messages": "warning",
}


class PgCluster:
    """One PostgreSQL cluster (primary or standby)."""

    def __init__(self, name: str, base: str | None = None, port: int | None = None):
        ensure_user("postgres", "/var/lib/postgresql")
        os.makedirs(ROOT, exist_ok=True)
        os.chmod(ROOT, 0o755)
        self.name = name
        self.base = base or tempfile.mkdtemp(prefix=f"{name}-", dir=ROOT)
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.logfile = os.path.join(self.base, "postgres.log")
        self.port = port or free_port()
        os.makedirs(self.sockdir, exist_ok=True)
        shutil.chown(self.base, "postgres", "postgres")
        shutil.chown(self.sockdir, "postgres", "postgres")

    # -- lifecycle -------------------------------------------------------------------------------
    def init(self, settings: dict | None = None, hba: list[str] | None = None) -> PgCluster:
        run([f"{PG_BIN}/initdb", "-D", self.datadir, "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], user="postgres")
        self.write_settings({**BASE_SETTINGS, **(settings or {})})
        lines = hba or [
            "local all all trust",
            "host all postgres 127.0.0.1/32 trust",
            "host replication postgres 127.0.0.1/32 trust",
            "host all all 127.0.0.1/32 scram-sha-256",
            "host replication all 127.0.0.1/32 scram-sha-256",
        ]
        with open(os.path.join(self.datadir, "pg_hba.conf"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        return self

    def write_settings(self, settings: dict) -> None:
        """Per-node settings, kept in a file pg_rewind does not overwrite (conf.d include)."""
        settings = {**settings, "port": str(self.port), "unix_socket_directories": f"'{self.sockdir}'",
                    "cluster_name": f"'{self.name}'"}
        path = os.path.join(self.datadir, "postgresql.conf")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        marker = "# --- testbed ---\n"
        text = text.split(marker)[0] + marker + "".join(f"{k} = {v}\n" for k, v in settings.items())
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)

    def start(self, timeout: int = 60) -> PgCluster:
        run([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t", str(timeout), "start"],
            user="postgres")
        return self

    def stop(self, mode: str = "fast") -> None:
        if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            run([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-w", "-t", "60", "stop", "-m", mode],
                user="postgres", check=False)

    def kill(self) -> None:
        """SIGKILL the postmaster (an emergency: the host died)."""
        pid = self.postmaster_pid()
        if pid:
            os.kill(pid, 9)

    def postmaster_pid(self) -> int | None:
        try:
            with open(os.path.join(self.datadir, "postmaster.pid"), encoding="utf-8") as fh:
                return int(fh.readline().strip())
        except (OSError, ValueError):
            return None

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def is_running(self) -> bool:
        res = run([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "status"], user="postgres", check=False)
        return res.returncode == 0

    # -- replication ------------------------------------------------------------------------------
    def make_standby(self, name: str, slot: str | None = None, settings: dict | None = None,
                     port: int | None = None) -> PgCluster:
        """A new cluster built from this one with pg_basebackup (-R), started. port: this cluster's own port
        makes a standby reachable only through its socket directory (set listen_addresses to '')."""
        standby = PgCluster(name, port=port)
        slot = slot or name
        args = [f"{PG_BIN}/pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                "-D", standby.datadir, "-R", "-X", "stream", "-c", "fast", "--no-sync", "-C", "-S", slot]
        run(args, user="postgres")
        standby.write_settings({**BASE_SETTINGS, **(settings or {})})
        with open(os.path.join(standby.datadir, "postgresql.auto.conf"), "a", encoding="utf-8") as fh:
            fh.write(f"primary_conninfo = 'host=127.0.0.1 port={self.port} user=postgres "
                     f"application_name={name}'\n")
        return standby.start()

    # -- access -----------------------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        dsn = f"host=127.0.0.1 port={self.port} dbname={dbname} user={user}"
        return dsn + (f" password={password}" if password else "")

    def psql(self, sql: str, dbname: str = "postgres", check: bool = True) -> str:
        """Run SQL over the unix socket as postgres; returns unaligned tuples-only output."""
        res = run([f"{PG_BIN}/psql", "-h", self.sockdir, "-p", str(self.port), "-U", "postgres", "-d", dbname,
                   "-XAtq", "-v", "ON_ERROR_STOP=1", "-f", "-"], user="postgres", check=False, input=sql)
        if check and res.returncode != 0:
            raise subprocess.CalledProcessError(res.returncode, "psql", res.stdout, res.stderr)
        return res.stdout.strip()

    def connect(self, dbname: str = "postgres", **kw):
        import psycopg2  # imported late: the harness CLI works without it

        return psycopg2.connect(host="127.0.0.1", port=self.port, dbname=dbname, user=kw.pop("user", "postgres"),
                                **kw)
