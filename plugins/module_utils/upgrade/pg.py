# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connection for the upgrade modules (snapshot, baseline, neutralise).

One shared argument spec (documented by the doc fragment ``odooops.hosting.upgrade_pg``) and a
connect() that never puts the password anywhere but into libpq's in-process connection parameters.
"""
from __future__ import annotations

import re

try:
    import psycopg2
    import psycopg2.extensions
    import psycopg2.sql

    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module with missing_required_lib
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = exc

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")


class PgError(Exception):
    """A PostgreSQL-side problem a person can act on."""


def pg_argument_spec() -> dict:
    return dict(
        login_host=dict(type="str", default=""),
        login_port=dict(type="int", default=5432),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", default="", no_log=True),
        login_unix_socket=dict(type="str", default=""),
        login_db=dict(type="str", default="postgres"),
        ssl_mode=dict(type="str", default="prefer",
                      choices=["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
        ca_cert=dict(type="path"),
        connect_timeout=dict(type="int", default=5),
    )


def connection_params(params: dict, dbname: str | None = None) -> dict:
    out = {
        "dbname": dbname or params.get("login_db") or "postgres",
        "user": params.get("login_user") or "postgres",
        "port": params.get("login_port") or 5432,
        "sslmode": params.get("ssl_mode") or "prefer",
        "connect_timeout": params.get("connect_timeout") or 5,
        "application_name": "odooops-upgrade",
    }
    host = params.get("login_unix_socket") or params.get("login_host")
    if host:
        out["host"] = host
        if "," in host:  # a host list: the server that accepts writes
            out["target_session_attrs"] = "read-write"
    if params.get("login_password"):
        out["password"] = params["login_password"]
    if params.get("ca_cert"):
        out["sslrootcert"] = params["ca_cert"]
    return out


def connect(params: dict, dbname: str | None = None, autocommit: bool = True):
    if not HAS_PSYCOPG2:
        raise PgError(f"psycopg2 is required on the target: {PSYCOPG2_IMPORT_ERROR}")
    kw = connection_params(params, dbname)
    if kw.get("target_session_attrs") and kw["dbname"] != "postgres":
        # a host list: find the writable server through `postgres`, which every server has (a standby listed
        # first that lacks the database answers a startup FATAL, and libpq does not try the next host)
        probe = connect(params, "postgres")
        try:
            server = pinned(params, probe)
        finally:
            probe.close()
        return connect(server, dbname, autocommit)
    try:
        conn = psycopg2.connect(**kw)
    except psycopg2.Error as exc:
        # libpq messages never contain the password
        raise PgError(f"cannot connect to PostgreSQL database {dbname or params.get('login_db')!r}: "
                      f"{str(exc).strip()}") from exc
    conn.autocommit = autocommit
    return conn


def pinned(params: dict, conn) -> dict:
    """The module params aimed at the server an open connection reached (conn.info.host/port): a second
    connection of the same operation given a host list again could land on another server, or stop at a standby
    that has not replayed the first one's work yet."""
    info = getattr(conn, "info", None)
    host = getattr(info, "host", None)
    if not host:
        return params
    return {**params, "login_host": host, "login_unix_socket": "",
            "login_port": int(getattr(info, "port", None) or params.get("login_port") or 5432)}


def check_ident(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not IDENT_RE.match(name):
        raise PgError(f"invalid {what} {name!r}: use letters, digits, _ $ - (at most 63 characters)")
    return name


def ident(name: str):
    return psycopg2.sql.Identifier(name)


def query(conn, sql, args=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else []


def scalar(conn, sql, args=None):
    rows = query(conn, sql, args)
    return rows[0][0] if rows else None


def table_exists(conn, table: str) -> bool:
    return bool(scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",)))


def columns(conn, table: str) -> set[str]:
    rows = query(conn, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                       "AND table_name = %s", (table,))
    return {r[0] for r in rows}
