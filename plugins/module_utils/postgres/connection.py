# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection spec shared by the PostgreSQL modules of odooops.hosting, and their base class.

The pure part (argument spec, connection parameters, LSN arithmetic, exceptions) has no Ansible
dependency and is unit-tested; ``PostgresModuleBase`` wraps AnsibleModule for the thin modules.
Secrets: ``login_password`` is passed to libpq as a keyword (never on a command line, never returned).
"""
from __future__ import annotations

import os
import pwd
import subprocess

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
    """A PostgreSQL operation could not be done; the message says what to do about it."""


def postgres_common_argument_spec() -> dict:
    """Options every PostgreSQL module accepts (documented by the odooops.hosting.postgres fragment)."""
    return dict(
        login_user=dict(type="str", default="postgres", aliases=["login"]),
        login_password=dict(type="str", default="", no_log=True),
        login_host=dict(type="str", default=""),
        login_port=dict(type="int", default=5432),
        login_db=dict(type="str", default="postgres"),
        login_unix_socket=dict(type="str", default=""),
        ssl_mode=dict(type="str", default="prefer",
                      choices=["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
        ca_cert=dict(type="path", aliases=["ssl_rootcert"]),
        connect_timeout=dict(type="int", default=5),
    )


def connect_params(params: dict, host: str | None = None, port: int | None = None) -> dict:
    """psycopg2.connect() keywords from module params; host/port override (used per node)."""
    kw = {
        "user": params.get("login_user") or "postgres",
        "dbname": params.get("login_db") or "postgres",
        "port": int(port if port is not None else params.get("login_port") or 5432),
        "connect_timeout": int(params.get("connect_timeout") or 5),
        "sslmode": params.get("ssl_mode") or "prefer",
        "application_name": "odooops.hosting",
    }
    target = host if host is not None else (params.get("login_host") or params.get("login_unix_socket"))
    if target:
        kw["host"] = target
    if params.get("login_password"):
        kw["password"] = params["login_password"]
    if params.get("ca_cert"):
        kw["sslrootcert"] = params["ca_cert"]
    return kw


def connect(kw: dict, autocommit: bool = True):
    """Open a connection; libpq errors become PostgresError naming the target (never the password)."""
    if not HAS_PSYCOPG2:
        raise PostgresError(f"psycopg2 is required on the host running the module: {PSYCOPG2_IMPORT_ERROR}")
    try:
        conn = psycopg2.connect(**kw)
    except psycopg2.Error as exc:
        where = f"{kw.get('host', 'local socket')}:{kw.get('port')}"
        raise PostgresError(f"cannot connect to PostgreSQL at {where} as {kw.get('user')}: "
                            f"{str(exc).strip()}") from exc
    conn.autocommit = autocommit
    return conn


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

    def __init__(self, argument_spec: dict, **kwargs):
        from ansible.module_utils.basic import AnsibleModule, missing_required_lib

        spec = postgres_common_argument_spec()
        spec.update(argument_spec)
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
