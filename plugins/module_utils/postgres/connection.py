# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection spec shared by the PostgreSQL modules of odooops.hosting, and their base class.

The pure part (argument spec, connection parameters, LSN arithmetic, exceptions) has no Ansible
dependency and is unit-tested; ``PostgresModuleBase`` wraps AnsibleModule for the thin modules.
Secrets: ``login_password`` is passed to libpq as a keyword (never on a command line, never returned).
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace

try:
    import psycopg2
    import psycopg2.extras  # noqa: F401 - used by callers through psycopg2.extras
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    psycopg2 = None
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = exc


class PostgresError(Exception):
    """A PostgreSQL operation could not be done; the message says what to do about it. The domain errors of the
    collection's PostgreSQL work (backup, restore, upgrade, rotation) are subclasses of it."""


MAINTENANCE_DB = "postgres"
SSL_MODES = ["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]


def argument_spec() -> dict:
    """The connection options of every module that talks to PostgreSQL (documented by the odooops.hosting.postgres
    fragment). The server: O(login_host) when set (one host, a socket directory, or a comma-separated host list,
    of which the server that accepts writes is used), else O(login_unix_socket), else libpq's default socket."""
    return dict(
        login_user=dict(type="str", default="postgres", aliases=["login"]),
        login_password=dict(type="str", default="", no_log=True),
        login_host=dict(type="str", default=""),
        login_port=dict(type="int", default=5432, aliases=["port"]),
        login_db=dict(type="str", default=MAINTENANCE_DB),
        login_unix_socket=dict(type="str", default=""),
        ssl_mode=dict(type="str", default="prefer", choices=SSL_MODES),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"]),
        connect_timeout=dict(type="int", default=5),
    )


def _pgpass_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@dataclass
class PgConn:
    """Where and how to connect, from the module options (from_params). The password goes to libpq as a keyword,
    or to the client tools through a 0600 passfile: never on a command line, never in a result."""
    host: str = ""
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    unix_socket: str = ""
    dbname: str = MAINTENANCE_DB
    sslmode: str = "prefer"
    sslrootcert: str | None = None
    bin_dir: str | None = None
    connect_timeout: int = 5
    application_name: str = "odooops.hosting"

    @classmethod
    def from_params(cls, params: dict, application_name: str = "odooops.hosting") -> PgConn:
        return cls(host=params.get("login_host") or "", port=int(params.get("login_port") or 5432),
                   user=params.get("login_user") or "postgres", password=params.get("login_password") or "",
                   unix_socket=params.get("login_unix_socket") or "", dbname=params.get("login_db") or MAINTENANCE_DB,
                   sslmode=params.get("ssl_mode") or "prefer", sslrootcert=params.get("ca_cert"),
                   bin_dir=params.get("pg_bin_dir"), connect_timeout=int(params.get("connect_timeout") or 5),
                   application_name=application_name)

    @property
    def effective_host(self) -> str:
        """The one precedence rule: login_host when set, else login_unix_socket ('' = libpq's default socket)."""
        return self.host or self.unix_socket

    @property
    def is_host_list(self) -> bool:
        return "," in self.effective_host

    def pinned(self, host: str | None, port: int | None = None) -> PgConn:
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

    def kwargs(self, dbname: str | None = None) -> dict:
        """psycopg2.connect() keywords; a host list asks for the server that accepts writes."""
        kw = {"dbname": dbname or self.dbname, "user": self.user, "port": self.port, "sslmode": self.sslmode,
              "connect_timeout": self.connect_timeout, "application_name": self.application_name}
        if self.effective_host:
            kw["host"] = self.effective_host
            if self.is_host_list:
                kw["target_session_attrs"] = "read-write"
        if self.password:
            kw["password"] = self.password
        if self.sslrootcert:
            kw["sslrootcert"] = self.sslrootcert
        return kw

    def connect(self, dbname: str | None = None, autocommit: bool = True):
        """A psycopg2 connection; with a host list, to the server that accepts writes. Aim the rest of the work
        at that server with reached(conn).

        With a host list the writable server is found through the maintenance database `postgres`, which every
        server has: a standby listed first that lacks `dbname` (not replayed yet) would answer a startup FATAL,
        and libpq stops at a FATAL instead of trying the next host."""
        dbname = dbname or self.dbname
        if self.is_host_list and dbname != MAINTENANCE_DB:
            probe = connect(self.kwargs(MAINTENANCE_DB))
            try:
                server = self.reached(probe)
            finally:
                probe.close()
            return connect(server.kwargs(dbname), autocommit)
        return connect(self.kwargs(dbname), autocommit)

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
        raise PostgresError(f"{name} not found (looked in {', '.join(candidates) or 'PATH'}); "
                            "install postgresql-client")

    @contextlib.contextmanager
    def env(self, dbname: str | None = None):
        """Environment for the client tools: connection in PG* variables, password in a 0600 passfile."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGDATABASE=dbname or self.dbname, PGUSER=self.user, PGPORT=str(self.port),
                   PGSSLMODE=self.sslmode, PGAPPNAME=self.application_name,
                   PGCONNECT_TIMEOUT=str(self.connect_timeout))
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


def connect_params(params: dict, host: str | None = None, port: int | None = None) -> dict:
    """psycopg2.connect() keywords from module params, optionally aimed at one node (host, port)."""
    return PgConn.from_params(params).pinned(host, port).kwargs()


def connect(kw: dict, autocommit: bool = True):
    """Open a connection; libpq errors become PostgresError naming the target (never the password)."""
    if not HAS_PSYCOPG2:
        raise PostgresError(f"psycopg2 is required on the host running the module: {PSYCOPG2_IMPORT_ERROR}")
    try:
        conn = psycopg2.connect(**kw)
    except psycopg2.Error as exc:
        where = f"{kw.get('host', 'local socket')}:{kw.get('port')}"
        raise PostgresError(f"cannot connect to PostgreSQL at {where} (database {kw.get('dbname')}) as "
                            f"{kw.get('user')}: {first_line(exc)}") from exc
    conn.autocommit = autocommit
    return conn


def first_line(exc: Exception) -> str:
    """A server error without its statement context (which could hold a verifier or other data)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database_exists(conn, name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def query(conn, sql: str, args: tuple | dict | None = None) -> list[dict]:
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, args)
        return [dict(r) for r in cur.fetchall()] if cur.description else []


def scalar(conn, sql: str, args: tuple | dict | None = None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
        return row[0] if row else None


def execute(conn, sql: str, args: tuple | dict | None = None) -> None:
    """A statement without result rows (CHECKPOINT, ALTER SYSTEM...)."""
    with conn.cursor() as cur:
        cur.execute(sql, args)


# -- LSN arithmetic ------------------------------------------------------------------------------
def lsn_to_int(lsn: str | None) -> int | None:
    """'16/B374D848' -> byte position; None stays None."""
    if lsn is None or lsn == "":
        return None
    try:
        hi, lo = str(lsn).split("/")
        return (int(hi, 16) << 32) + int(lo, 16)
    except ValueError as exc:
        raise PostgresError(f"not an LSN: {lsn!r} (expected like 0/3000060)") from exc


def int_to_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


# -- local commands as the cluster's OS user ------------------------------------------------------
def as_user_cmd(cmd: list[str], user: str = "postgres") -> list[str]:
    """PostgreSQL's tools refuse to run as root: wrap with runuser when we are root."""
    if os.geteuid() == 0 and user != "root":
        return ["runuser", "-u", user, "--", *cmd]
    return list(cmd)


def subprocess_runner(cmd: list[str], env: dict | None = None, timeout: float | None = 600) -> tuple[int, str, str]:
    """Default command runner (modules pass AnsibleModule.run_command-like callables in tests too)."""
    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return 124, exc.stdout or "", f"timed out after {timeout} s"
    return proc.returncode, proc.stdout, proc.stderr


def os_user_home(user: str) -> str:
    return pwd.getpwnam(user).pw_dir


class PostgresModuleBase:
    """Wraps AnsibleModule for the PostgreSQL modules: library check, spec merge, one error exit."""

    def __init__(self, module_spec: dict, **kwargs):
        from ansible.module_utils.basic import AnsibleModule, missing_required_lib

        spec = argument_spec()
        spec.update(module_spec)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        if not HAS_PSYCOPG2:
            self.module.fail_json(msg=missing_required_lib("psycopg2"), exception=str(PSYCOPG2_IMPORT_ERROR))
        self.params = self.module.params

    def runner(self, cmd: list[str], env: dict | None = None, timeout: float | None = 600) -> tuple[int, str, str]:
        return subprocess_runner(cmd, env=env, timeout=timeout)

    def execute(self, func) -> None:
        """Call func(self) -> result dict; domain errors become one fail_json with an actionable message."""
        try:
            result = func(self)
        except PostgresError as exc:
            self.module.fail_json(msg=str(exc), changed=getattr(exc, "changed", False))
        self.module.exit_json(**result)
