# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Platform baseline: PostgreSQL signals and business checks captured before an upgrade, compared after.

Business checks come from the inventory, each ``{name, sql, expect | unchanged | min | max, tolerance_pct}``:
the query returns one value (first column of the first row), e.g. the number of products with a price,
of open POS sessions, of stock quants. Queries run in a READ ONLY transaction.
"""
from __future__ import annotations

import datetime
import os

from . import upgrade_pg as pgu


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


def run_business_checks(conn, checks: list[dict]) -> dict:
    out = {}
    for c in checks or []:
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute(c["sql"])
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


def capture(conn_admin, conn_db, database: str, checks: list[dict], long_tx_seconds: float = 0) -> dict:
    validate_checks(checks)
    return {"captured": datetime.datetime.now(datetime.UTC).isoformat(), "database": database,
            "postgres": pg_signals(conn_admin, database, long_tx_seconds),
            "business": run_business_checks(conn_db, checks)}


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
