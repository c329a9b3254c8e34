"""The secrets modules against real PostgreSQL and Redis: check mode -> apply -> apply again -> verify."""
from __future__ import annotations

import os

import psycopg2
import pytest
import redis

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import login_rotation as sp
from ansible_collections.odooops.hosting.plugins.module_utils.postgres import scram
from ansible_collections.odooops.hosting.plugins.module_utils.secrets import redis_acl as sr
from testbed.redis_server import RedisServer

HERE = os.path.dirname(os.path.abspath(__file__))


def can_login(pg, user: str, password: str) -> bool:
    try:
        psycopg2.connect(host="127.0.0.1", port=pg.port, dbname="postgres", user=user, password=password,
                         connect_timeout=3).close()
    except psycopg2.OperationalError:
        return False
    return True


PASSWORDS = ["plain-ascii-0123", "pässwörd with spaces", "a\u00a0b\u00adc\ufb01", "日本語パス"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_client_side_scram_verifier_is_accepted_by_postgres(pg, password):
    pg.psql(f"CREATE ROLE probe LOGIN PASSWORD '{scram.verifier(password)}'")
    assert pg.psql("SELECT rolpassword LIKE 'SCRAM-SHA-256$4096:%' FROM pg_authid WHERE rolname = 'probe'") == "t"
    assert can_login(pg, "probe", password)
    assert not can_login(pg, "probe", password + "x")
    # the stored verifier is recognised as the password's (idempotency without the old password)
    stored = pg.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'probe'")
    assert scram.matches(password, stored) and not scram.matches("other", stored)


def _setup_owner(pg, password: str) -> None:
    pg.psql(f"""CREATE ROLE odoo_owner NOLOGIN CREATEDB;
                CREATE ROLE odoo LOGIN PASSWORD '{scram.verifier(password)}' IN ROLE odoo_owner;
                ALTER ROLE odoo SET role = odoo_owner;""")


def _step(pg, fn, *args, check_mode=False, **kw):
    conn = pg.connect()
    try:
        ex = sp.Executor(conn.cursor(), check_mode)
        result = fn(ex, "odoo_owner", ["odoo", "odoo_b"], *args, **kw)
        conn.rollback() if check_mode else conn.commit()
        result["queries"] = ex.queries
        return result
    finally:
        conn.close()


def test_login_rotation_check_apply_idempotent_finalize(pg):
    _setup_owner(pg, "old-password-0001")
    # check mode: reports the change, changes nothing
    res = _step(pg, sp.prepare, "new-password-0002", check_mode=True)
    assert res["changed"] and res["login_role"] == "odoo_b"
    assert pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'odoo_b'") == "0"
    # apply: both logins work; the statements shown carry no password
    res = _step(pg, sp.prepare, "new-password-0002")
    assert res["changed"] and res["previous_role"] == "odoo" and res["login_role"] == "odoo_b"
    assert all("new-password" not in q and "SCRAM" not in q for q in res["queries"])
    assert can_login(pg, "odoo", "old-password-0001") and can_login(pg, "odoo_b", "new-password-0002")
    # apply again: no change
    assert not _step(pg, sp.prepare, "new-password-0002")["changed"]
    # objects created by the new login belong to the owner role
    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, dbname="postgres", user="odoo_b",
                            password="new-password-0002")
    with conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == "odoo_owner"
    old_session = psycopg2.connect(host="127.0.0.1", port=pg.port, dbname="postgres", user="odoo",
                                   password="old-password-0001")
    # finalize: old role revoked; its lingering session is terminated after the drain timeout
    res = _step(pg, sp.finalize, drain_timeout=1, terminate=True, poll=0.2)
    assert res["revoked_role"] == "odoo" and res["terminated_sessions"] == 1 and res["login_role"] == "odoo_b"
    assert not can_login(pg, "odoo", "old-password-0001")
    with pytest.raises(psycopg2.Error):
        old_session.cursor().execute("SELECT 1")
    assert not _step(pg, sp.finalize)["changed"]
    assert _step(pg, sp.status)["login_role"] == "odoo_b"
    # the next rotation goes back to odoo
    res = _step(pg, sp.prepare, "third-password-03")
    assert res["login_role"] == "odoo" and can_login(pg, "odoo", "third-password-03")


def test_login_rotation_abort_and_bad_input(pg):
    _setup_owner(pg, "old-password-0001")
    _step(pg, sp.prepare, "new-password-0002")
    res = _step(pg, sp.abort)
    assert res["changed"] and res["revoked_role"] == "odoo_b" and res["login_role"] == "odoo"
    assert not can_login(pg, "odoo_b", "new-password-0002") and can_login(pg, "odoo", "old-password-0001")
    assert not _step(pg, sp.abort)["changed"]
    with pytest.raises(sp.RotationError, match="invalid role name"):
        conn = pg.connect()
        try:
            sp.read_state(sp.Executor(conn.cursor()), "odoo_owner", ["odoo", "Bad;Name"])
        finally:
            conn.close()
    pg.psql("ALTER ROLE odoo_owner LOGIN")  # LOGIN without a password (Odoo's db list needs it in pg_user)
    assert _step(pg, sp.status)["login_role"] == "odoo"
    pg.psql(f"ALTER ROLE odoo_owner PASSWORD '{scram.verifier('owner-password-1')}'")
    with pytest.raises(sp.RotationError, match="must be NOLOGIN"):
        _step(pg, sp.prepare, "x" * 20)


def test_replication_role_password_in_place(pg):
    pg.psql(f"CREATE ROLE replicator LOGIN REPLICATION PASSWORD '{scram.verifier('old-repl-password')}'")
    conn = pg.connect()
    try:
        ex = sp.Executor(conn.cursor())
        assert sp.set_password(ex, "replicator", "new-repl-password")["changed"]
        conn.commit()
        assert not sp.set_password(ex, "replicator", "new-repl-password")["changed"]
        with pytest.raises(sp.RotationError, match="does not exist"):
            sp.set_password(ex, "nobody", "x")
        # check mode on a fresh host: the role is created by the task before (which did not run), nothing is sent
        dry = sp.Executor(conn.cursor(), check_mode=True)
        assert sp.set_password(dry, "nobody", "x")["changed"]
        assert dry.queries == ["ALTER ROLE nobody PASSWORD '********'"]
        # a role created without a password (roles/postgres creates it so) gets the verifier, then is left alone
        pg.psql("CREATE ROLE fresh LOGIN")
        assert sp.set_password(ex, "fresh", "fresh-password")["changed"]
        conn.commit()
        assert not sp.set_password(ex, "fresh", "fresh-password")["changed"]
    finally:
        conn.close()
    assert can_login(pg, "replicator", "new-repl-password") and not can_login(pg, "replicator", "old-repl-password")
    assert can_login(pg, "fresh", "fresh-password")
    assert pg.psql("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'fresh'") == "t"


@pytest.fixture
def acl_redis():
    server = RedisServer(users={"admin": ("admin-old-password", "~* &* +@all"),
                                "odoo": ("odoo-old-password", "~* +@all")}).start()
    yield server
    server.stop()


def _login(server, user, password) -> bool:
    try:
        redis.Redis(host="127.0.0.1", port=server.port, username=user, password=password).ping()
    except redis.exceptions.AuthenticationError:
        return False
    return True


def test_redis_acl_rotation_through_the_module(acl_redis, ansible_playbook):
    """The module itself (thin wrapper + RESP client) through ansible-playbook: check -> apply -> again."""
    run = ansible_playbook(os.path.join(HERE, "module_playbooks", "redis_acl.yml"), inventory="localhost,",
                           extra_vars={"redis_port": acl_redis.port})
    assert run.rc == 0, run.stdout + run.stderr
    assert "odoo-new-password" not in run.stdout and "admin-old-password" not in run.stdout
    assert _login(acl_redis, "odoo", "odoo-new-password") and not _login(acl_redis, "odoo", "odoo-old-password")
    # persisted into the aclfile (by hash)
    with open(acl_redis.acl_file, encoding="utf-8") as fh:
        acl = fh.read()
    assert sr.password_hash("odoo-new-password") in acl and "odoo-new-password" not in acl


def test_redis_acl_abort_and_guards(acl_redis):
    with sr.RespClient(port=acl_redis.port) as client:
        client.auth("admin", "admin-old-password")
        with pytest.raises(sr.RedisAclError, match="run the prepare step first"):
            sr.keep_only(client, "odoo", "never-added-password")
        assert sr.add_password(client, "odoo", "odoo-new-password")["changed"]
        assert _login(acl_redis, "odoo", "odoo-new-password") and _login(acl_redis, "odoo", "odoo-old-password")
        assert sr.remove_password(client, "odoo", "odoo-new-password")["changed"]
        assert not _login(acl_redis, "odoo", "odoo-new-password") and _login(acl_redis, "odoo", "odoo-old-password")
        with pytest.raises(sr.RedisAclError, match="only one"):
            sr.remove_password(client, "odoo", "odoo-old-password")
        with pytest.raises(sr.RedisAclError, match="does not exist"):
            sr.add_password(client, "ghost", "x" * 16)
    with pytest.raises(sr.RedisAclError, match="refused"), sr.RespClient(port=acl_redis.port) as client:
        client.auth("admin", "wrong")
