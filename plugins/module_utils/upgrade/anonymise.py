# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Neutralise and anonymise an Odoo database copy (staging, rehearsal) - never production.

Neutralise: scheduled actions, outgoing and incoming mail servers off, payment providers disabled,
shipping carriers out of production mode, ``database.is_neutralized`` set (as Odoo's own
``odoo neutralize`` does), on the tables that exist.

Anonymise: partners' names, e-mails, phones, addresses and users' logins (except technical users) get
values derived from HMAC-SHA256(key, table:column:id): deterministic (the same key gives the same
staging data every rehearsal, so tests and bug reports line up) and not reversible without the key.
Values are computed here and sent as data (COPY-like batch), so the key never reaches the server.
"""
from __future__ import annotations

import hashlib
import hmac

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu

DEFAULT_KEEP_LOGINS = ["admin", "__system__", "default", "public", "portaltemplate"]

# table -> column -> kind
PERSONAL_FIELDS = {
    "res_partner": {"name": "name", "complete_name": "name", "display_name": "name", "email": "email",
                    "email_normalized": "email", "phone": "phone", "mobile": "phone", "phone_sanitized": "phone",
                    "street": "street", "street2": "blank", "city": "city", "zip": "zip", "vat": "blank",
                    "website": "blank", "comment": "blank"},
    "res_users": {"login": "login", "signature": "blank"},
    "crm_lead": {"partner_name": "name", "contact_name": "name", "email_from": "email", "email_normalized": "email",
                 "phone": "phone", "mobile": "phone", "street": "street", "city": "city"},
    "mail_message": {"email_from": "email", "author_guest_id": None},
    "mail_mail": {"email_to": "email", "email_cc": "blank"},
}


class AnonymiseError(Exception):
    pass


def pseudonym(key: bytes, table: str, column: str, rid: int, kind: str):
    h = hmac.new(key, f"{table}:{column}:{rid}".encode(), hashlib.sha256).hexdigest()
    digits = str(int(h[:12], 16)).zfill(10)[-10:]
    if kind == "name":
        return f"Partner {h[:8]}"
    if kind == "email":
        return f"anon-{h[:12]}@example.invalid"
    if kind == "phone":
        return f"+99 {digits[:3]} {digits[3:6]} {digits[6:]}"
    if kind == "street":
        return f"{int(h[:4], 16) % 200 + 1} Anonymous Street"
    if kind == "city":
        return f"Town {h[:4]}"
    if kind == "zip":
        return f"{int(h[:5], 16) % 100000:05d}"
    if kind == "login":
        return f"user-{h[:12]}"
    return None  # blank


def _update_table(conn, key: bytes, table: str, fields: dict, keep_logins: list[str]) -> int:
    s = pgu.psycopg2.sql
    cols = pgu.columns(conn, table)
    fields = {c: k for c, k in fields.items() if c in cols and k is not None}
    if not fields or "id" not in cols:
        return 0
    where = s.SQL("")
    args: tuple = ()
    if table == "res_users":
        where = s.SQL(" WHERE login <> ALL(%s) AND login NOT LIKE '\\_\\_%%'")
        args = (list(keep_logins),)
    # only rows that still hold a value somewhere: NULLs stay NULL
    ids = [r[0] for r in pgu.query(conn, s.SQL("SELECT id FROM {}").format(pgu.ident(table)) + where, args)]
    if not ids:
        return 0
    names = sorted(fields)
    tmp = f"odooops_anon_{table}"
    pgu.query(conn, s.SQL("CREATE TEMP TABLE {} (id int PRIMARY KEY, {}) ON COMMIT DROP").format(
        pgu.ident(tmp), s.SQL(", ").join(s.SQL("{} text").format(pgu.ident(c)) for c in names)))
    rows = [(rid, *[pseudonym(key, table, c, rid, fields[c]) for c in names]) for rid in ids]
    from psycopg2.extras import execute_values
    with conn.cursor() as cur:
        execute_values(cur, s.SQL("INSERT INTO {} VALUES %s").format(pgu.ident(tmp)).as_string(conn), rows,
                       page_size=1000)
    # keep NULLs NULL (no invented data), change only what differs (idempotent)
    sets = s.SQL(", ").join(s.SQL("{c} = CASE WHEN t.{c} IS NULL THEN NULL ELSE a.{c} END").format(
        c=pgu.ident(c)) for c in names)
    differs = s.SQL(" OR ").join(s.SQL("(t.{c} IS NOT NULL AND t.{c}::text IS DISTINCT FROM a.{c})").format(
        c=pgu.ident(c)) for c in names)
    with conn.cursor() as cur:
        cur.execute(s.SQL("UPDATE {t} t SET {sets} FROM {tmp} a WHERE t.id = a.id AND ({differs})").format(
            t=pgu.ident(table), sets=sets, tmp=pgu.ident(tmp), differs=differs))
        return cur.rowcount


def anonymise(conn, key: bytes, keep_logins: list[str] | None = None) -> dict:
    if not key or len(key) < 16:
        raise AnonymiseError("the anonymisation key must be at least 16 bytes")
    keep = list(DEFAULT_KEEP_LOGINS) + [k for k in keep_logins or [] if k not in DEFAULT_KEEP_LOGINS]
    out = {}
    for table, fields in PERSONAL_FIELDS.items():
        if pgu.table_exists(conn, table):
            out[table] = _update_table(conn, key, table, fields, keep)
    return out


NEUTRALISE = [
    ("ir_cron", "active", "UPDATE ir_cron SET active = false WHERE active"),
    ("ir_mail_server", "active", "UPDATE ir_mail_server SET active = false WHERE active"),
    ("fetchmail_server", "active", "UPDATE fetchmail_server SET active = false WHERE active"),
    ("payment_provider", "state", "UPDATE payment_provider SET state = 'disabled' WHERE state <> 'disabled'"),
    ("payment_acquirer", "state", "UPDATE payment_acquirer SET state = 'disabled' WHERE state <> 'disabled'"),
    ("delivery_carrier", "prod_environment",
     "UPDATE delivery_carrier SET prod_environment = false WHERE prod_environment"),
    ("ir_config_parameter", "key",
     "INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true') "
     "ON CONFLICT (key) DO UPDATE SET value = 'true' WHERE ir_config_parameter.value IS DISTINCT FROM 'true'"),
]


def neutralise(conn) -> dict:
    out = {}
    for table, column, sql in NEUTRALISE:
        if pgu.table_exists(conn, table) and column in pgu.columns(conn, table):
            if table == "ir_config_parameter" and not _has_unique_key(conn):
                sql = ("INSERT INTO ir_config_parameter (key, value) SELECT 'database.is_neutralized', 'true' "
                       "WHERE NOT EXISTS (SELECT 1 FROM ir_config_parameter WHERE key = 'database.is_neutralized' "
                       "AND value = 'true')")
            with conn.cursor() as cur:
                cur.execute(sql)
                out[table] = cur.rowcount
    return out


def _has_unique_key(conn) -> bool:
    return bool(pgu.scalar(conn, "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                                 "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'ir_config_parameter'::regclass "
                                 "AND i.indisunique AND i.indnatts = 1 AND a.attname = 'key'"))


def run(conn, do_neutralise: bool, do_anonymise: bool, key: bytes | None, keep_logins: list[str] | None,
        check_mode: bool) -> dict:
    """All in one transaction; rolled back in check mode (the counts say what would change)."""
    conn.autocommit = False
    try:
        result = {"neutralised": neutralise(conn) if do_neutralise else {},
                  "anonymised": anonymise(conn, key, keep_logins) if do_anonymise else {}}
        if check_mode:
            conn.rollback()
        else:
            conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.autocommit = True
    result["changed"] = any(result["neutralised"].values()) or any(result["anonymised"].values())
    return result
