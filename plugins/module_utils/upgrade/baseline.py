# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Platform baseline: PostgreSQL signals and business checks captured before an upgrade, compared after.

Business checks come from the inventory, each ``{name, sql, expect | unchanged | min | max, tolerance_pct}``:
the query returns one value (first column of the first row), e.g. the number of products with a price,
of open POS sessions, of stock quants.

Least privilege: each check is exactly one statement (sql_guard refuses a ``;`` outside literals, identifiers
and comments before any check runs), run in its own READ ONLY transaction with a statement timeout, on a
connection of a dedicated role (``checks_connection``) that is a member of ``pg_read_all_data`` only: no
superuser, no ``pg_execute_server_program`` (so no ``COPY ... TO PROGRAM``), no write privilege. The role has a
login only while the checks run: a one-time password, sent as a SCRAM verifier computed here, expires with the
run and is removed after it.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import secrets

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import scram, sql_guard
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu

DEFAULT_CHECK_ROLE = "odooops_checks"
DEFAULT_STATEMENT_TIMEOUT = 60  # seconds, per check
ROLE_COMMENT = "odooops.hosting business checks (platform_baseline): pg_read_all_data only"
# roles that reach the server's files or programs, or write: the checks role must be in none of them
DANGEROUS_ROLES = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files",
                   "pg_write_all_data", "pg_signal_backend", "pg_checkpoint")


class BaselineError(Exception):
    """A check is malformed or its query failed."""


def pg_signals(conn, database: str, long_tx_seconds: float = 0) -> dict:
    out: dict = {}
    rows = pgu.query(conn, "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
                           "WHERE backend_type = 'client backend' GROUP BY 1")
    out["connections"] = {"total": sum(r[1] for r in rows), "by_state": {r[0]: r[1] for r in rows}}
    out["max_connections"] = int(pgu.scalar(conn, "SHOW max_connections"))
    row = pgu.query(conn, "SELECT count(*), count(*) FILTER (WHERE NOT granted) FROM pg_locks")[0]
    out["locks"] = {"total": row[0], "waiting": row[1]}
    rows = pgu.query(conn, "SELECT pid, application_name, state, datname, "
                           "extract(epoch FROM now() - xact_start)::float FROM pg_stat_activity "
                           "WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() "
                           "AND backend_type = 'client backend' AND now() - xact_start > %s * interval '1 second' "
                           "ORDER BY xact_start", (long_tx_seconds,))
    out["long_transactions"] = [{"pid": r[0], "application_name": r[1], "state": r[2], "database": r[3],
                                 "xact_seconds": round(r[4], 1)} for r in rows]
    out["in_recovery"] = bool(pgu.scalar(conn, "SELECT pg_is_in_recovery()"))
    rows = pgu.query(conn, "SELECT application_name, state, sync_state, "
                           "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint, "
                           "coalesce(extract(epoch FROM replay_lag), 0)::float FROM pg_stat_replication") \
        if not out["in_recovery"] else []
    out["replication"] = [{"application_name": r[0], "state": r[1], "sync_state": r[2], "lag_bytes": int(r[3]),
                           "replay_lag_seconds": round(r[4], 3)} for r in rows]
    out["db_size_bytes"] = pgu.scalar(conn, "SELECT pg_database_size(%s)", (database,))
    try:
        data_dir = pgu.scalar(conn, "SHOW data_directory")
        st = os.statvfs(data_dir)
        out["data_dir"] = data_dir
        out["data_dir_free_bytes"] = st.f_bavail * st.f_frsize
    except Exception:  # not a superuser, or not on the db host: the disk gate then says "unknown"
        out["data_dir_free_bytes"] = None
    has_pss = pgu.scalar(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
    if has_pss:
        rows = pgu.query(conn, "SELECT left(query, 200), calls, round(mean_exec_time::numeric, 2)::float "
                               "FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 5")
        out["slow_statements"] = [{"query": r[0], "calls": r[1], "mean_ms": r[2]} for r in rows]
    else:
        out["slow_statements"] = None
    return out


def write_counter(conn, database: str) -> int:
    """Rows inserted, updated or deleted in database so far, as PostgreSQL's statistics count them (each session
    flushes its counts within a second or so): read before an upgrade opens, and again after a failure, the
    difference is what a swap back to the snapshot would discard."""
    value = pgu.scalar(conn, "SELECT (tup_inserted + tup_updated + tup_deleted)::bigint FROM pg_stat_database "
                             "WHERE datname = %s", (database,))
    return int(value or 0)


def validate_checks(checks: list[dict]) -> None:
    names = set()
    for c in checks or []:
        name = c.get("name")
        if not name or not c.get("sql"):
            raise BaselineError(f"business check {c!r}: name and sql are required")
        if name in names:
            raise BaselineError(f"business check {name!r} is declared twice")
        names.add(name)
        kinds = [k for k in ("expect", "unchanged", "min", "max") if k in c]
        if not kinds:
            raise BaselineError(f"business check {name!r}: give expect, unchanged, min or max")
        if not isinstance(c["sql"], str):
            raise BaselineError(f"business check {name!r}: sql must be a string")
        try:
            sql_guard.single_statement(c["sql"])
        except sql_guard.SqlGuardError as exc:
            raise BaselineError(f"business check {name!r} refused: {exc}") from exc


def run_business_checks(conn, checks: list[dict], statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT) -> dict:
    """Every check (validated first: nothing runs when one is refused), each in its own READ ONLY transaction
    with ``statement_timeout`` seconds (0: none) and standard_conforming_strings on (as sql_guard lexes)."""
    validate_checks(checks)
    timeout_ms = max(int(float(statement_timeout or 0) * 1000), 0)
    out = {}
    for c in checks or []:
        sql = sql_guard.single_statement(c["sql"])
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT set_config('statement_timeout', %s, true), "
                            "set_config('standard_conforming_strings', 'on', true)", (f"{timeout_ms}ms",))
                cur.execute(sql)
                row = cur.fetchone() if cur.description else None
            conn.rollback()
        except pgu.psycopg2.Error as exc:
            conn.rollback()
            raise BaselineError(f"business check {c['name']!r}: query failed: {str(exc).strip()}") from exc
        finally:
            conn.autocommit = True
        value = row[0] if row else None
        if hasattr(value, "is_integer") or type(value).__name__ == "Decimal":
            value = float(value)
            value = int(value) if value.is_integer() else value
        out[c["name"]] = value
    return out


def capture(conn_admin, conn_db, database: str, checks: list[dict], long_tx_seconds: float = 0,
            statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT) -> dict:
    validate_checks(checks)
    return {"captured": datetime.datetime.now(datetime.UTC).isoformat(), "database": database,
            "postgres": pg_signals(conn_admin, database, long_tx_seconds),
            "business": run_business_checks(conn_db, checks, statement_timeout) if conn_db is not None else {}}


def inspect_check_role(admin, role: str) -> dict | None:
    """None when ``role`` does not exist; else {superuser, comment, others, dangerous}."""
    rows = pgu.query(admin, "SELECT r.rolsuper, shobj_description(r.oid, 'pg_authid'), "
                            "array(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid "
                            "WHERE m.member = r.oid AND b.rolname <> 'pg_read_all_data' ORDER BY 1)::text[], "
                            "array(SELECT d FROM unnest(%s::text[]) d WHERE pg_has_role(r.oid, d, 'USAGE') "
                            "ORDER BY 1)::text[] FROM pg_roles r WHERE r.rolname = %s", (list(DANGEROUS_ROLES), role))
    if not rows:
        return None
    return dict(zip(("superuser", "comment", "others", "dangerous"), rows[0], strict=True))


def prepare_check_role(admin, role: str, password: str, valid_seconds: int = 900) -> None:
    """Create ``role`` or reset the one this collection made (through ``admin``, a superuser connection): LOGIN
    with a SCRAM verifier of ``password`` valid ``valid_seconds``, no superuser/createdb/createrole/replication/
    bypassrls, member of pg_read_all_data. Refuses, before changing it, a role it did not make (another role's
    login must never be taken over) or one that is a superuser or a member of any other role."""
    pgu.check_ident(role, "checks role")
    found = inspect_check_role(admin, role)
    if found is not None:
        if found["comment"] != ROLE_COMMENT:
            raise BaselineError(f"role {role!r} exists and was not made for the business checks: name another "
                                f"checks role (platform_baseline only manages roles commented {ROLE_COMMENT!r})")
        bad = sorted(set(found["others"]) | set(found["dangerous"]))
        if found["superuser"] or bad:
            raise BaselineError(f"checks role {role!r} is " + ("a superuser" if found["superuser"] else
                                                               "a member of " + ", ".join(bad))
                                + ": it must be a member of pg_read_all_data only")
    verifier = scram.verifier(password)
    until = pgu.scalar(admin, "SELECT (now() + %s * interval '1 second')::text", (int(valid_seconds),))
    attrs = ("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT 2 "
             "PASSWORD {pw} VALID UNTIL {until}")
    lit = pgu.psycopg2.sql.Literal
    with admin.cursor() as cur:
        cur.execute(psql_format(("ALTER" if found else "CREATE") + " ROLE {role} WITH " + attrs, role=role,
                                pw=lit(verifier), until=lit(until)))
        cur.execute(psql_format("COMMENT ON ROLE {role} IS {c}", role=role, c=lit(ROLE_COMMENT)))
        cur.execute(psql_format("GRANT pg_read_all_data TO {role}", role=role))
        for setting in ("default_transaction_read_only = on", "standard_conforming_strings = on"):
            cur.execute(psql_format("ALTER ROLE {role} SET " + setting, role=role))


def revoke_login(admin, role: str) -> None:
    with admin.cursor() as cur:
        cur.execute(psql_format("ALTER ROLE {role} WITH NOLOGIN PASSWORD NULL", role=role))


def psql_format(template: str, **idents):
    """A psycopg2 Composed statement: str values become quoted identifiers, Composable ones are kept."""
    sql = pgu.psycopg2.sql
    return sql.SQL(template).format(**{k: v if isinstance(v, sql.Composable) else sql.Identifier(v)
                                       for k, v in idents.items()})


@contextlib.contextmanager
def checks_connection(admin, params: dict, dbname: str, role: str = DEFAULT_CHECK_ROLE):
    """A connection to ``dbname`` as the checks role, on the server ``admin`` reached (the same host, port or
    socket as ``params``); the role's login is removed when the block ends. The one-time password lives only in
    this process (libpq's connection parameters); the server gets its SCRAM verifier."""
    password = secrets.token_urlsafe(32)
    prepare_check_role(admin, role, password)
    try:
        conn = pgu.connect({**pgu.pinned(params, admin), "login_user": role, "login_password": password},
                           dbname=dbname)
    except pgu.PostgresError as exc:
        revoke_login(admin, role)
        raise BaselineError(f"the checks role {role!r} cannot connect ({exc}); pg_hba must admit it with "
                            f"scram-sha-256 (roles/postgres adds 'local all {role} scram-sha-256')") from exc
    try:
        yield conn
    finally:
        conn.close()
        revoke_login(admin, role)


def compare_business(checks: list[dict], baseline: dict, current: dict) -> list[dict]:
    """Each check against its expectation; returns [{name, ok, value, baseline, reason}]."""
    out = []
    for c in checks or []:
        name = c["name"]
        value, before = current.get(name), (baseline or {}).get(name)
        reasons = []
        if "expect" in c and str(value) != str(c["expect"]):
            reasons.append(f"expected {c['expect']!r}, got {value!r}")
        if c.get("unchanged"):
            tol = float(c.get("tolerance_pct", 0))
            if isinstance(value, (int, float)) and isinstance(before, (int, float)):
                allowed = abs(before) * tol / 100
                if abs(value - before) > allowed:
                    reasons.append(f"was {before!r} before the upgrade, now {value!r}"
                                   + (f" (tolerance {tol:g} %)" if tol else ""))
            elif value != before:
                reasons.append(f"was {before!r} before the upgrade, now {value!r}")
        if "min" in c and (value is None or value < c["min"]):
            reasons.append(f"{value!r} is below the minimum {c['min']!r}")
        if "max" in c and (value is None or value > c["max"]):
            reasons.append(f"{value!r} is above the maximum {c['max']!r}")
        out.append({"name": name, "ok": not reasons, "value": value, "baseline": before,
                    "reason": "; ".join(reasons) or "as expected"})
    return out


def compare_response_times(baseline: dict, current: dict, max_ratio: float, min_ms: float = 200) -> list[dict]:
    """Checks present in both health results: slower than max_ratio x baseline (and above min_ms) fails."""
    out = []
    for name, before in ((baseline or {}).get("checks") or {}).items():
        now = ((current or {}).get("checks") or {}).get(name)
        if not now or before.get("elapsed_ms") is None or now.get("elapsed_ms") is None:
            continue
        limit = max(before["elapsed_ms"] * max_ratio, min_ms)
        out.append({"name": f"response time {name}", "ok": now["elapsed_ms"] <= limit, "value": now["elapsed_ms"],
                    "baseline": before["elapsed_ms"],
                    "reason": f"{now['elapsed_ms']} ms vs {before['elapsed_ms']} ms before (limit {limit:.0f} ms)"})
    return out
