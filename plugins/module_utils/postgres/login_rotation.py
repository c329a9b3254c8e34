# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two-phase rotation of PostgreSQL login roles that share one owner role, and in-place password changes.

The platform's pattern (docs/secrets.md): an owner role (NOLOGIN) owns Odoo's databases and objects; two
login roles (``odoo`` and ``odoo_b``) are members of it with ``ALTER ROLE ... SET role = owner``, so whatever
either creates belongs to the owner. Exactly one of them is *active* (the one the apps use).

* ``prepare``  (phase 1): the inactive login role gets LOGIN and the new password; both roles work now.
* the apps are rolled (blue/green) onto the new role and password;
* ``finalize`` (phase 2): the old role loses LOGIN and its password; its sessions drain, and after a timeout
  are terminated if asked.
* ``abort``: the rollout failed; the prepared role is revoked again, the old one stays untouched.

Which role is active (and which is pending) is kept in the owner role's comment, so the state lives with
the database and every step is idempotent. Passwords are sent as SCRAM verifiers computed here
(module_utils/postgres/scram.py): no plain password reaches the server. Plain Python raising RotationError.
"""
from __future__ import annotations

import re
import time

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import scram
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import (
    PgConn,
    PostgresError,
)

ROLE_RE = re.compile(r"^[a-z_][a-z0-9_$]{0,62}$")
MARK = "odooops-rotation"
REDACTED = "********"


class RotationError(PostgresError):
    """A rotation step that cannot be done; the message says why and what to do."""


def quote_ident(name: str) -> str:
    if not ROLE_RE.match(name or ""):
        raise RotationError(f"invalid role name {name!r}: use lower-case letters, digits and _ (max 63)")
    return '"' + name + '"'


def parse_mark(comment: str | None) -> dict:
    """'odooops-rotation active=odoo pending=odoo_b' -> {"active": "odoo", "pending": "odoo_b"}."""
    out = {"active": None, "pending": None}
    if comment and comment.startswith(MARK):
        for item in comment[len(MARK):].split():
            key, _sep, value = item.partition("=")
            if key in out and value:
                out[key] = value
    return out


def render_mark(active: str | None, pending: str | None) -> str:
    return " ".join([MARK] + [f"{k}={v}" for k, v in (("active", active), ("pending", pending)) if v])


class Executor:
    """Runs (or, in check mode, only records) statements; keeps a redacted log for the result."""

    def __init__(self, cursor, check_mode: bool = False):
        self.cursor = cursor
        self.check_mode = check_mode
        self.queries: list[str] = []

    def fetch(self, sql: str, params: tuple = ()) -> list[tuple]:
        self.cursor.execute(sql, params)
        return self.cursor.fetchall()

    def run(self, sql: str, params: tuple = (), shown: str | None = None) -> None:
        self.queries.append(shown or sql)
        if not self.check_mode:
            self.cursor.execute(sql, params)


def role_info(ex: Executor, name: str, owner: str) -> dict | None:
    rows = ex.fetch(
        "SELECT r.rolcanlogin, r.rolpassword,"
        " (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0),"
        " pg_has_role(r.oid, o.oid, 'MEMBER') AS member,"
        " (SELECT count(*) FROM pg_stat_activity a WHERE a.usename = r.rolname) AS sessions"
        " FROM pg_authid r LEFT JOIN pg_authid o ON o.rolname = %s WHERE r.rolname = %s", (owner, name))
    if not rows:
        return None
    canlogin, password, config, member, sessions = rows[0]
    return {"name": name, "login": bool(canlogin), "password": password, "member": bool(member),
            "set_role": f"role={owner}" in (config or []), "sessions": int(sessions)}


def read_state(ex: Executor, owner: str, logins: list[str]) -> dict:
    if len(logins) != 2 or logins[0] == logins[1] or owner in logins:
        raise RotationError("login_roles must be two distinct roles, different from the owner role")
    for name in [owner, *logins]:
        quote_ident(name)
    rows = ex.fetch("SELECT rolcanlogin AND rolpassword IS NOT NULL, shobj_description(oid, 'pg_authid') "
                    "FROM pg_authid WHERE rolname = %s", (owner,))
    if not rows:
        raise RotationError(f"owner role {owner!r} does not exist: create it first (roles/postgres does)")
    if rows[0][0]:
        # LOGIN without a password is tolerated: Odoo's database list reads pg_user, which shows LOGIN roles only
        raise RotationError(f"owner role {owner!r} can log in with a password: it must be NOLOGIN, or LOGIN "
                            "without a password (it only owns the objects)")
    mark = parse_mark(rows[0][1])
    roles = {name: role_info(ex, name, owner) for name in logins}
    active = mark["active"] if mark["active"] in logins else None
    if active and not (roles[active] and roles[active]["login"]):
        active = None
    if active is None:
        can = [n for n in logins if roles[n] and roles[n]["login"]]
        active = can[0] if can else None
    pending = mark["pending"] if mark["pending"] in logins and mark["pending"] != active else None
    if pending and not (roles[pending] and roles[pending]["login"]):
        pending = None
    return {"owner": owner, "roles": roles, "active": active, "pending": pending, "comment": rows[0][1]}


def _public(state: dict) -> dict:
    """State for results and diffs: no password verifiers."""
    return {"active_role": state["active"], "pending_role": state["pending"],
            "roles": {n: ({k: v for k, v in r.items() if k != "password"} if r else None)
                      for n, r in state["roles"].items()}}


def _set_mark(ex: Executor, owner: str, active: str | None, pending: str | None) -> None:
    mark = render_mark(active, pending)
    ex.run(f"COMMENT ON ROLE {quote_ident(owner)} IS %s", (mark,), f"COMMENT ON ROLE {owner} IS '{mark}'")


def _revoke(ex: Executor, name: str) -> None:
    ex.run(f"ALTER ROLE {quote_ident(name)} NOLOGIN PASSWORD NULL")


def prepare(ex: Executor, owner: str, logins: list[str], new_password: str,
            iterations: int = scram.DEFAULT_ITERATIONS) -> dict:
    """Phase 1: the inactive login role can log in with ``new_password``; the active one is untouched."""
    before = read_state(ex, owner, logins)
    active = before["active"]
    target = before["pending"] or (logins[1] if active == logins[0] else logins[0])
    role = before["roles"][target]
    if role and role["sessions"] and not role["login"]:
        raise RotationError(f"role {target!r} is revoked but still has {role['sessions']} session(s): finish the "
                            "previous rotation (finalize with terminate) before starting a new one")
    ident = quote_ident(target)
    verifier = None if role and scram.matches(new_password, role["password"]) else scram.verifier(
        new_password, iterations=iterations)
    if role is None:
        ex.run(f"CREATE ROLE {ident} LOGIN PASSWORD %s IN ROLE {quote_ident(owner)}", (verifier,),
               f"CREATE ROLE {target} LOGIN PASSWORD '{REDACTED}' IN ROLE {owner}")
    else:
        if verifier:
            ex.run(f"ALTER ROLE {ident} LOGIN PASSWORD %s", (verifier,),
                   f"ALTER ROLE {target} LOGIN PASSWORD '{REDACTED}'")
        elif not role["login"]:
            ex.run(f"ALTER ROLE {ident} LOGIN")
        if not role["member"]:
            ex.run(f"GRANT {quote_ident(owner)} TO {ident}")
    if role is None or not role["set_role"]:
        ex.run(f"ALTER ROLE {ident} SET role = {quote_ident(owner)}")
    if before["pending"] != target:
        _set_mark(ex, owner, active, target)
    after = {**before, "pending": target}
    return {"changed": bool(ex.queries), "login_role": target, "previous_role": active,
            "before": _public(before), "after": _public(after)}


def finalize(ex: Executor, owner: str, logins: list[str], drain_timeout: float = 0, terminate: bool = False,
             poll: float = 0.5) -> dict:
    """Phase 2: the pending role becomes active; the old one is revoked, drained and (optionally) cut."""
    before = read_state(ex, owner, logins)
    pending, old = before["pending"], before["active"]
    if pending is None:
        # nothing prepared: already finalized (idempotent) - but make sure the inactive role stays revoked
        other = [n for n in logins if n != old and before["roles"][n] and before["roles"][n]["login"]]
        if other:
            raise RotationError(f"both {old!r} and {other[0]!r} can log in and none is pending: run prepare "
                                "again before finalize")
        return {"changed": False, "login_role": old, "revoked_role": None, "terminated_sessions": 0,
                "remaining_sessions": 0, "before": _public(before), "after": _public(before)}
    if old:
        _revoke(ex, old)
    _set_mark(ex, owner, pending, None)
    terminated = remaining = 0
    if old and not ex.check_mode:
        ex.cursor.connection.commit()
        deadline = time.monotonic() + max(0.0, drain_timeout)
        remaining = _sessions(ex, old)
        while remaining and time.monotonic() < deadline:
            time.sleep(poll)
            remaining = _sessions(ex, old)
        if remaining and terminate:
            ex.queries.append(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{old}'")
            terminated = len(ex.fetch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s "
                                      "AND pid <> pg_backend_pid()", (old,)))
            remaining = 0
    after = {**before, "active": pending, "pending": None}
    return {"changed": True, "login_role": pending, "revoked_role": old, "terminated_sessions": terminated,
            "remaining_sessions": remaining, "before": _public(before), "after": _public(after)}


def _sessions(ex: Executor, role: str) -> int:
    return int(ex.fetch("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,))[0][0])


def abort(ex: Executor, owner: str, logins: list[str], terminate: bool = True) -> dict:
    """The rollout failed: revoke the prepared role again; the active role keeps working."""
    before = read_state(ex, owner, logins)
    pending, active = before["pending"], before["active"]
    if pending is None:
        return {"changed": False, "login_role": active, "revoked_role": None, "before": _public(before),
                "after": _public(before)}
    if active is None:
        raise RotationError(f"no other login role is active: aborting would leave no role able to log in; "
                            f"finalize the rotation to {pending!r} instead")
    _revoke(ex, pending)
    _set_mark(ex, owner, active, None)
    if terminate and not ex.check_mode:
        ex.fetch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (pending,))
    after = {**before, "pending": None}
    return {"changed": True, "login_role": active, "revoked_role": pending, "before": _public(before),
            "after": _public(after)}


def status(ex: Executor, owner: str, logins: list[str]) -> dict:
    state = read_state(ex, owner, logins)
    return {"changed": False, "login_role": state["active"], "before": _public(state), "after": _public(state)}


def set_password(ex: Executor, role: str, password: str, iterations: int = scram.DEFAULT_ITERATIONS) -> dict:
    """In place: ``role`` (which must exist) gets ``password`` (e.g. the replication role). Idempotent."""
    ident = quote_ident(role)
    rows = ex.fetch("SELECT rolpassword, rolcanlogin, rolreplication FROM pg_authid WHERE rolname = %s", (role,))
    if not rows:
        if ex.check_mode:
            # check mode: the task that creates the role (before this one) did not run; its password would be set
            ex.queries.append(f"ALTER ROLE {role} PASSWORD '{REDACTED}'")
            return {"changed": True, "role": role}
        raise RotationError(f"role {role!r} does not exist: create it first (roles/postgres does)")
    if scram.matches(password, rows[0][0]):
        return {"changed": False, "role": role}
    ex.run(f"ALTER ROLE {ident} PASSWORD %s", (scram.verifier(password, iterations=iterations),),
           f"ALTER ROLE {role} PASSWORD '{REDACTED}'")
    return {"changed": True, "role": role}


# -- connection: the collection's one (postgres/connection.py, fragment odooops.hosting.postgres) ------------------
def connect(params: dict):
    """A psycopg2 connection (autocommit off) from the module params; PostgresError when it fails."""
    return PgConn.from_params(params, "odooops-secrets").connect(autocommit=False)
