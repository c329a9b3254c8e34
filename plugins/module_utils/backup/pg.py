# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connection for the backup modules (psycopg2 + the pg_dump/pg_restore client tools).

Option names follow community.postgresql (login_host, login_port, login_user, login_password, ...).
To be merged into the PostgreSQL engineer's common connection spec once it exists.

Passwords reach the client tools through a temporary 0600 pgpass file (PGPASSFILE), never argv.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from dataclasses import dataclass, replace

MAINTENANCE_DB = "postgres"


class PgError(Exception):
    """PostgreSQL could not be reached or a client tool is missing."""


def pg_argument_spec() -> dict:
    """Same option names as postgres_common.postgres_common_argument_spec (minus login_db), plus pg_bin_dir."""
    return dict(
        login_user=dict(type="str", default="postgres", aliases=["login"]),
        login_password=dict(type="str", default="", no_log=True),
        login_host=dict(type="str", default=""),
        login_port=dict(type="int", default=5432),
        login_unix_socket=dict(type="str", default=""),
        ssl_mode=dict(type="str", default="prefer",
                      choices=["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"]),
        connect_timeout=dict(type="int", default=10),
        pg_bin_dir=dict(type="path"),
    )


def _pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@dataclass
class PgConn:
    host: str = ""
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    unix_socket: str = ""
    sslmode: str = "prefer"
    sslrootcert: str | None = None
    bin_dir: str | None = None
    connect_timeout: int = 10

    @classmethod
    def from_params(cls, params: dict) -> PgConn:
        return cls(host=params.get("login_host") or "", port=int(params.get("login_port") or 5432),
                   user=params.get("login_user") or "postgres", password=params.get("login_password") or "",
                   unix_socket=params.get("login_unix_socket") or "", sslmode=params.get("ssl_mode") or "prefer",
                   sslrootcert=params.get("ca_cert"), bin_dir=params.get("pg_bin_dir"),
                   connect_timeout=int(params.get("connect_timeout") or 10))

    @property
    def effective_host(self) -> str:
        return self.host or self.unix_socket

    @property
    def is_host_list(self) -> bool:
        return "," in self.effective_host

    def pinned(self, host: str | None, port: int | None) -> PgConn:
        """The same settings aimed at one server: the host:port a connection actually reached.

        With a host list, libpq picks the server per connection; a later connection (or a client tool) given the
        list again may land elsewhere, or stop at a standby that has not replayed what the first one did yet (a
        startup FATAL ends libpq's walk through the list). Every further connection and client tool of one
        operation is aimed at the server its first connection reached. A host starting with '/' is a socket
        directory and stays one (libpq's rule)."""
        if not host:
            return self
        return replace(self, host=str(host), port=int(port or self.port), unix_socket="")

    def reached(self, conn) -> PgConn:
        """pinned() to the server of an open psycopg2 connection (conn.info.host / conn.info.port)."""
        info = getattr(conn, "info", None)
        return self.pinned(getattr(info, "host", None), getattr(info, "port", None))

    def connect(self, dbname: str = "postgres", autocommit: bool = True):
        """A psycopg2 connection; with a host list, to the server that accepts writes. Aim the rest of the work
        at that server with reached(conn).

        With a host list the writable server is found through the maintenance database `postgres`, which every
        server has: a standby listed first that lacks `dbname` (not replayed yet) would answer a startup FATAL,
        and libpq stops at a FATAL instead of trying the next host."""
        if self.is_host_list and dbname != MAINTENANCE_DB:
            probe = self._connect(MAINTENANCE_DB, True)
            try:
                server = self.reached(probe)
            finally:
                probe.close()
            return server._connect(dbname, autocommit)
        return self._connect(dbname, autocommit)

    def _connect(self, dbname: str, autocommit: bool):
        try:
            import psycopg2
        except ImportError as exc:
            raise PgError("psycopg2 is required on the host running this module") from exc
        kw = dict(dbname=dbname, user=self.user, port=self.port, sslmode=self.sslmode,
                  application_name="odooops-backup", connect_timeout=self.connect_timeout)
        if self.effective_host:
            kw["host"] = self.effective_host
            if self.is_host_list:  # a host list: the primary
                kw["target_session_attrs"] = "read-write"
        if self.password:
            kw["password"] = self.password
        if self.sslrootcert:
            kw["sslrootcert"] = self.sslrootcert
        try:
            conn = psycopg2.connect(**kw)
        except psycopg2.Error as exc:
            raise PgError(f"cannot connect to PostgreSQL {self.effective_host or 'socket'}:{self.port} as "
                          f"{self.user}: {str(exc).strip()}") from exc
        conn.autocommit = autocommit
        return conn

    def tool(self, name: str) -> str:
        """Path of pg_dump/pg_restore/psql: pg_bin_dir, else the newest Debian PostgreSQL, else PATH."""
        candidates = []
        if self.bin_dir:
            candidates.append(os.path.join(self.bin_dir, name))
        else:
            dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
            candidates += [os.path.join(d, name) for d in dirs]
            found = shutil.which(name)
            if found:
                candidates.append(found)
        for path in candidates:
            if os.access(path, os.X_OK):
                return path
        raise PgError(f"{name} not found (looked in {', '.join(candidates) or 'PATH'}); install postgresql-client")

    @contextlib.contextmanager
    def env(self, dbname: str):
        """Environment for the client tools: connection in PG* variables, password in a 0600 pgpass file."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGDATABASE=dbname, PGUSER=self.user, PGPORT=str(self.port), PGSSLMODE=self.sslmode,
                   PGAPPNAME="odooops-backup", PGCONNECT_TIMEOUT=str(self.connect_timeout))
        if self.effective_host:
            env["PGHOST"] = self.effective_host
            if self.is_host_list:
                env["PGTARGETSESSIONATTRS"] = "read-write"
        if self.sslrootcert:
            env["PGSSLROOTCERT"] = self.sslrootcert
        tmpdir = tempfile.mkdtemp(prefix="odooops-pgpass-")
        try:
            passfile = os.path.join(tmpdir, "pgpass")
            fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                if self.password:
                    fh.write(f"*:*:*:{_pgpass_escape(self.user)}:{_pgpass_escape(self.password)}\n")
            env["PGPASSFILE"] = passfile
            yield env
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _version_key(path: str):
    try:
        return float(path.split("/")[-2])
    except ValueError:
        return 0.0


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database_exists(conn, name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None
