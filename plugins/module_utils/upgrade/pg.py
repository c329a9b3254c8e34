# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL helpers of the upgrade modules (snapshot, baseline, neutralise, module update).

The connection is the collection's one (plugins/module_utils/postgres/connection.py, documented by the
odooops.hosting.postgres fragment): connect() takes the module params, pinned() aims them at the server an open
connection reached. The password only goes into libpq's in-process connection parameters.
"""
from __future__ import annotations

import re

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import PgConn, PostgresError

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
APPLICATION = "odooops-upgrade"


def connect(params: dict, dbname: str | None = None, autocommit: bool = True):
    """A connection from the module params (a host list: the server that accepts writes)."""
    return PgConn.from_params(params, APPLICATION).connect(dbname, autocommit)


def pinned(params: dict, conn) -> dict:
    """The module params aimed at the server an open connection reached (conn.info.host/port): a second
    connection of the same operation given a host list again could land on another server, or stop at a standby
    that has not replayed the first one's work yet."""
    base = PgConn.from_params(params)
    server = base.reached(conn)
    if server is base:  # the connection does not say where it went
        return params
    return {**params, "login_host": server.host, "login_unix_socket": "", "login_port": server.port}


def check_ident(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not IDENT_RE.match(name):
        raise PostgresError(f"invalid {what} {name!r}: use letters, digits, _ $ - (at most 63 characters)")
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
