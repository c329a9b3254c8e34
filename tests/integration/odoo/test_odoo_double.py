"""The Odoo test double (tests/odoo_double) against real PostgreSQL and Redis: the contract other areas rely on."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time

import pytest

from tests.integration.harness.odoo_double import DB_PASSWORD, http

pytestmark = pytest.mark.integration

MODULE_ROWS = "SELECT name, state, coalesce(latest_version, '') FROM ir_module_module ORDER BY name"


def rpc(run, path: str, params: dict):
    status, body = http(run.url(path), json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1,
                                                   "params": params}).encode(),
                        {"Content-Type": "application/json"})
    return status, json.loads(body) if status == 200 else body


def test_install_creates_schema_data_and_filestore(double, odoo_pg):
    run = double()
    res = run.run("-d", "shop", "-i", "point_of_sale", "--without-demo=all", "--stop-after-init")
    assert res.returncode == 0, res.stderr
    # the database is created by the login role acting as the owner role (ALTER ROLE ... SET role)
    assert odoo_pg.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'") == "odoo_owner"
    installed = dict(line.split("|")[::2] for line in odoo_pg.psql(
        "SELECT name, state, latest_version FROM ir_module_module WHERE state = 'installed'", "shop").splitlines())
    # point_of_sale and its dependencies, with the versions of variant a's manifests
    assert installed["point_of_sale"] == "17.0.1.0.1" and installed["stock"] == "17.0.1.1"
    assert {"base", "web", "product", "account"} <= set(installed)
    assert odoo_pg.psql("SELECT count(*) FROM ir_module_module WHERE state = 'uninstalled'", "shop") != "0"
    counts = odoo_pg.psql("SELECT (SELECT count(*) FROM res_partner WHERE email IS NOT NULL), "
                          "(SELECT count(*) FROM res_users WHERE active), (SELECT count(*) FROM product_template), "
                          "(SELECT count(*) FROM stock_quant), (SELECT count(*) FROM pos_session), "
                          "(SELECT count(*) FROM ir_cron WHERE active), (SELECT count(*) FROM ir_mail_server)", "shop")
    partners, users, products, quants, sessions, crons, mail = map(int, counts.split("|"))
    # active users: admin only, as in a new Odoo database (__system__ is inactive; no health-check user built in)
    assert partners > 20 and users == 1 and products > 0 and quants == products and sessions == 1
    assert crons > 0 and mail == 1
    assert odoo_pg.psql("SELECT count(*) FROM ir_config_parameter WHERE key = 'database.uuid'", "shop") == "1"
    # the filestore: <data_dir>/filestore/<db>/<sha1[:2]>/<sha1>, matching ir_attachment
    fname, checksum = odoo_pg.psql("SELECT store_fname, checksum FROM ir_attachment", "shop").split("|")
    with open(os.path.join(run.data_dir, "filestore", "shop", fname), "rb") as fh:
        assert hashlib.sha1(fh.read()).hexdigest() == checksum == fname.split("/")[1]
    # the password never reaches the log
    assert DB_PASSWORD not in res.stderr + res.stdout


def module_rows(odoo_pg, db: str = "shop") -> dict:
    return {n: (st, v) for n, st, v in (line.split("|") for line in odoo_pg.psql(MODULE_ROWS, db).splitlines())}


def asset_files(run, db: str = "shop") -> set[str]:
    root = os.path.join(run.data_dir, "filestore", db)
    return {os.path.relpath(os.path.join(d, f), root) for d, _dirnames, fs in os.walk(root) for f in fs}


def test_update_commits_per_module_and_failures_leave_it_partly_done(double, odoo_pg):
    """As Odoo 18's load_module_graph: -u marks the modules 'to upgrade', then commits after each module it
    updates, writing regenerated assets to the filestore; a failure in a later module leaves the earlier ones
    committed (only a snapshot brings the database back)."""
    run = double()
    assert run.run("-d", "shop", "-i", "point_of_sale,sale_management", "--stop-after-init").returncode == 0
    before, files_before = module_rows(odoo_pg), asset_files(run)
    assert before["base"] == ("installed", "17.0.1.3")  # the manifest says 1.3: stored adapted, as Odoo does
    run.set_variant("b")
    failed = run.run("-d", "shop", "-u", "stock,sale_management,point_of_sale", "--stop-after-init",
                     env={"ODOO_DOUBLE_FAIL_UPDATE": "1"})
    assert failed.returncode == 255, failed.stderr
    after = module_rows(odoo_pg)
    # graph order: stock and sale_management (depth 4) committed at the new versions, point_of_sale (depth 5,
    # the last) failed: its row was rolled back but stays marked 'to upgrade'
    assert after["stock"] == ("installed", "17.0.1.2") and after["sale_management"] == ("installed", "17.0.1.1")
    assert after["point_of_sale"] == ("to upgrade", "17.0.1.0.1")
    assert {k: v for k, v in after.items() if k not in ("stock", "sale_management", "point_of_sale")} == \
        {k: v for k, v in before.items() if k not in ("stock", "sale_management", "point_of_sale")}
    # the filestore gained asset files (also the failed module's: written before its rollback, as in Odoo)
    assert len(asset_files(run) - files_before) == 3
    assert odoo_pg.psql("SELECT count(*) FROM ir_attachment WHERE name LIKE '/web/assets/%'", "shop") == "2"
    assert "Loading module point_of_sale (3/3)" in failed.stderr
    assert "update failed (ODOO_DOUBLE_FAIL_UPDATE)" in failed.stderr
    # the knob naming a module fails there; as a marker file in <data_dir>/.double/
    os.makedirs(os.path.join(run.data_dir, ".double"))
    marker = os.path.join(run.data_dir, ".double", "odoo_double_fail_update")
    with open(marker, "w") as fh:
        fh.write("sale_management")
    odoo_pg.psql("UPDATE ir_module_module SET latest_version = '17.0.1.0' WHERE name = 'sale_management'", "shop")
    assert run.run("-d", "shop", "-u", "all", "--stop-after-init").returncode == 255
    os.remove(marker)
    rows = module_rows(odoo_pg)
    # the modules below it in the graph were committed, it and those after it are left marked
    assert rows["base"][0] == rows["product"][0] == "installed"
    assert rows["sale_management"] == ("to upgrade", "17.0.1.0") and rows["point_of_sale"][0] == "to upgrade"
    # a good -u all finishes the job: every module at its manifest's version, none left 'to upgrade'
    done = run.run("-d", "shop", "-u", "all", "--stop-after-init")
    assert done.returncode == 0, done.stderr
    rows = module_rows(odoo_pg)
    assert rows["point_of_sale"] == ("installed", "17.0.1.0.2") and rows["sale_management"] == ("installed", "17.0.1.1")
    assert not [n for n, (st, _unused) in rows.items() if st == "to upgrade"]
    # -u of a list updates only those
    run.set_variant("a")
    assert run.run("-d", "shop", "-u", "stock", "--stop-after-init").returncode == 0
    assert module_rows(odoo_pg)["stock"] == ("installed", "17.0.1.1")
    assert module_rows(odoo_pg)["point_of_sale"] == ("installed", "17.0.1.0.2")


def test_update_takes_time_per_module(double, odoo_pg):
    run = double()
    assert run.run("-d", "shop", "-i", "point_of_sale,sale_management", "--stop-after-init").returncode == 0
    t0 = time.monotonic()
    assert run.run("-d", "shop", "-u", "all", "--stop-after-init",
                   env={"ODOO_DOUBLE_UPDATE_SECONDS": "0.5"}).returncode == 0
    modules = int(odoo_pg.psql("SELECT count(*) FROM ir_module_module WHERE state = 'installed'", "shop"))
    assert modules >= 8 and time.monotonic() - t0 >= modules * 0.5


def test_hanging_update_is_killed_after_its_first_module(double, odoo_pg):
    run = double()
    assert run.run("-d", "shop", "-i", "stock", "--stop-after-init").returncode == 0
    before = module_rows(odoo_pg)
    run.set_variant("b")
    with pytest.raises(subprocess.TimeoutExpired):
        run.run("-d", "shop", "-u", "all", "--stop-after-init", timeout=4, env={"ODOO_DOUBLE_HANG_UPDATE": "1"})
    time.sleep(0.5)  # the killed client's backend rolls back the module it was in
    after = module_rows(odoo_pg)
    # base was committed (its row rewritten), the module it hung in (web) and the others are only marked
    assert after["base"] == ("installed", "17.0.1.3")
    assert after["web"] == ("to upgrade", before["web"][1]) and after["stock"] == ("to upgrade", "17.0.1.1")


def test_server_routes(double, odoo_pg):
    run = double()
    assert run.run("-d", "shop", "-i", "base", "--stop-after-init").returncode == 0
    run.start("-d", "shop")
    assert http(run.url("/web/health")) == (200, b'{"status": "pass"}')
    status, body = http(run.url("/web/login"))
    assert status == 200 and b"oe_login_form" in body
    status, answer = rpc(run, "/web/session/authenticate", {"db": "shop", "login": "admin", "password": "admin"})
    assert answer["result"]["uid"] == 2
    # as a real database: no other user built in (the collection makes the smoke checks' one, test_check_user.py)
    status, answer = rpc(run, "/web/session/authenticate", {"db": "shop", "login": "check", "password": "check"})
    assert answer["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    status, answer = rpc(run, "/web/session/authenticate", {"db": "shop", "login": "admin", "password": "nope"})
    assert answer["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    status, answer = rpc(run, "/web/webclient/version_info", {})
    assert answer["result"]["server_version_info"][:2] == [17, 0]
    # list_db = False: the database manager's list is refused
    assert "error" in rpc(run, "/web/database/list", {})[1]
    # a page that writes through PostgreSQL
    status, body = http(run.url("/odooops/ping?write=1"))
    assert status == 200 and json.loads(body)["db"]["user"] == "odoo_owner"
    assert odoo_pg.psql("SELECT count(*) FROM ir_config_parameter WHERE key = 'odoo_double.ping'", "shop") == "1"
    # attachments go to the filestore
    status, body = http(run.url("/odooops/attach?name=note.txt"), b"retail data")
    stored = json.loads(body)
    assert os.path.exists(os.path.join(run.data_dir, "filestore", "shop", stored["store_fname"]))
    # broken-release marker file: the registry cannot load the database while present; the process still runs,
    # so /web/health passes (as real Odoo), and every request on the database fails
    os.makedirs(os.path.join(run.data_dir, ".double"), exist_ok=True)
    marker = os.path.join(run.data_dir, ".double", "odoo_double_broken")
    open(marker, "w").close()
    assert http(run.url("/web/health"))[0] == 200
    assert http(run.url("/web/login"))[0] == 500
    assert http(run.url("/odooops/ping"))[0] == 503
    status, _unused = rpc(run, "/web/session/authenticate", {"db": "shop", "login": "admin", "password": "admin"})
    assert status == 404
    os.remove(marker)
    assert http(run.url("/web/login"))[0] == 200
    # database down: /web/health still passes (as real Odoo) unless db_server_status is asked for
    odoo_pg.stop()
    assert http(run.url("/web/health"))[0] == 200
    assert http(run.url("/web/health?db_server_status=1"))[0] == 500
    assert http(run.url("/web/login"))[0] == 500
    assert http(run.url("/odooops/ping"))[0] == 503
    odoo_pg.start()
    assert http(run.url("/web/login"))[0] == 200
    assert DB_PASSWORD not in run.stop()


def test_cron_container_runs_crons(double, odoo_pg):
    run = double(extra_conf={"max_cron_threads": 1, "db_name": "shop"})
    assert run.run("-i", "base", "--stop-after-init").returncode == 0
    assert odoo_pg.psql("SELECT count(*) FROM ir_cron WHERE lastcall IS NOT NULL", "shop") == "0"
    run.start()
    deadline = time.monotonic() + 10
    while odoo_pg.psql("SELECT count(*) FROM ir_cron WHERE lastcall IS NOT NULL", "shop") == "0":
        assert time.monotonic() < deadline, "cron never ran"
        time.sleep(0.3)


def test_cron_threads_run_out_of_a_pool_below_odoo_18s_need(double, odoo_pg):
    """As Odoo 18's cron threads: one connection each held for LISTEN cron_trigger, two more per job. 2 threads with
    db_maxconn 4 (the embedded default's old setting) log Odoo's PoolError; with 8 (3 x 2 + 2, the role's rule)
    every round runs."""
    run = double(extra_conf={"max_cron_threads": 2, "db_name": "shop", "db_maxconn": 4})
    assert run.run("-i", "base", "--stop-after-init").returncode == 0
    run.start()
    time.sleep(3)
    out = run.stop()
    assert "psycopg2.pool.PoolError: The Connection Pool Is Full" in out, out[-2000:]
    run2 = double(extra_conf={"max_cron_threads": 2, "db_name": "shop", "db_maxconn": 8})
    odoo_pg.psql("UPDATE ir_cron SET lastcall = NULL", "shop")
    run2.start()
    deadline = time.monotonic() + 10
    while odoo_pg.psql("SELECT count(*) FROM ir_cron WHERE lastcall IS NULL", "shop") != "0":
        assert time.monotonic() < deadline, "cron never ran"
        time.sleep(0.3)
    time.sleep(2)
    out = run2.stop()
    assert "PoolError" not in out, out[-2000:]


def test_server_creates_a_named_database_like_odoo(double, odoo_pg):
    run = double(extra_conf={"db_name": "fresh"})
    run.start()
    assert odoo_pg.psql("SELECT state FROM ir_module_module WHERE name = 'base'", "fresh") == "installed"
    assert http(run.url("/web/login"))[0] == 200


def test_dbfilter_per_host(double, odoo_pg):
    # With a dbfilter, Odoo lists the databases owned by current_user through pg_user, which shows only roles
    # with LOGIN: the owner role must carry LOGIN (without a password, so nobody can log in as it).
    odoo_pg.psql("ALTER ROLE odoo_owner LOGIN")
    run = double(extra_conf={"dbfilter": "^%d$", "proxy_mode": "True"})
    for db in ("alpha", "beta"):
        assert run.run("-d", db, "-i", "base", "--stop-after-init").returncode == 0
    run.start()
    for db in ("alpha", "beta"):
        status, body = http(run.url("/odooops/ping"), headers={"Host": f"{db}.shops.example"})
        assert status == 200 and json.loads(body)["db"]["name"] == db
        status, body = http(run.url("/odooops/ping"), headers={"X-Forwarded-Host": f"{db}.shops.example"})
        assert json.loads(body)["db"]["name"] == db
    assert http(run.url("/odooops/ping"), headers={"Host": "gamma.shops.example"})[0] == 503


def test_libpq_host_list_finds_the_primary(double, odoo_pg, pg_factory):
    standby = odoo_pg.make_standby("standby")
    pg_factory.track(standby)
    # libpq does not try the next host after a FATAL at startup ("database does not exist" on a standby that
    # has not replayed the CREATE DATABASE yet): create it first and wait for the standby, as Odoo would need too
    odoo_pg.psql("CREATE DATABASE shop OWNER odoo_owner")
    deadline = time.monotonic() + 10
    while standby.psql("SELECT count(*) FROM pg_database WHERE datname = 'shop'") != "1":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    run = double(env={"PGHOST": "127.0.0.1,127.0.0.1", "PGPORT": f"{standby.port},{odoo_pg.port}",
                      "PGTARGETSESSIONATTRS": "read-write", "PGCONNECT_TIMEOUT": "2"})
    assert run.run("-d", "shop", "-i", "base", "--stop-after-init").returncode == 0
    run.start("-d", "shop")
    status, body = http(run.url("/odooops/ping?write=1"))
    assert status == 200 and json.loads(body)["db"]["in_recovery"] is False


def test_ping_uses_redis_with_acl_user(double, odoo_pg, redis_server):
    redis_server.client().acl_setuser("odoo", enabled=True, passwords=["+redis-odoo-pw"], keys=["session:*"],
                                      commands=["+@all"])
    # as Camptocamp's session_redis addon is configured: its environment, the ACL user in the URL
    run = double(env={"ODOO_SESSION_REDIS": "1", "ODOO_SESSION_REDIS_PREFIX": "shop",
                      "ODOO_SESSION_REDIS_URL": f"redis://odoo:redis-odoo-pw@127.0.0.1:{redis_server.port}/0"})
    assert run.run("-d", "shop", "-i", "base", "--stop-after-init").returncode == 0
    run.start("-d", "shop")
    status, body = http(run.url("/odooops/ping"))
    assert status == 200 and json.loads(body)["redis"]["ok"] is True
    # sessions land in Redis
    rpc(run, "/web/session/authenticate", {"db": "shop", "login": "admin", "password": "admin"})
    assert redis_server.client().keys("session:shop:*")
    redis_server.client().acl_setuser("odoo", enabled=True, reset_passwords=True, passwords=["+other"])
    status, body = http(run.url("/odooops/ping"))
    assert status == 503 and json.loads(body)["redis"]["ok"] is False
    assert b"redis-odoo-pw" not in body


def test_redis_options_in_odoo_conf_are_ignored(double, odoo_pg, redis_server):
    """Odoo reads no redis_* option: without the addon's environment, sessions stay on the filesystem."""
    run = double(extra_conf={"redis_host": "127.0.0.1", "redis_port": redis_server.port})
    assert run.run("-d", "shop", "-i", "base", "--stop-after-init").returncode == 0
    run.start("-d", "shop")
    status, body = http(run.url("/odooops/ping"))
    assert status == 200 and json.loads(body)["redis"] == {"configured": False}


def test_crash_and_slow_start_knobs(double, odoo_pg):
    run = double()
    res = run.run(env={"ODOO_DOUBLE_CRASH": "1"}, timeout=10)
    assert res.returncode != 0
    run.start(env={"ODOO_DOUBLE_SLOW_START": "2"}, wait=False)
    time.sleep(1)
    with pytest.raises(OSError):
        http(run.url("/web/health"), timeout=1)
    time.sleep(2)
    assert http(run.url("/web/health"))[0] == 200


REQUEST_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\d+) INFO (\S+) werkzeug: 127\.0\.0\.1 - - "
                          r"\[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\] \"(\w+) (\S+) HTTP/1\.1\" (\d{3}) - "
                          r"(\d+) (\d+\.\d{3}) (\d+\.\d{3})$")


def test_request_log_line_as_odoo(double, odoo_pg):
    """One werkzeug line per request at log_level info, with PerfFilter's figures (SQL queries, SQL time, the
    rest); none at log_level warn."""
    run = double()
    assert run.run("-d", "shop", "-i", "base", "--stop-after-init").returncode == 0
    run.start("-d", "shop")
    assert http(run.url("/web/login"))[0] == 200
    assert http(run.url("/nope"))[0] == 404
    rpc(run, "/web/session/authenticate", {"db": "shop", "login": "admin", "password": "admin"})
    out = run.stop()
    lines = [REQUEST_LINE.match(line) for line in out.splitlines() if " werkzeug: " in line]
    assert lines and all(lines), out
    by_path = {m.group(4): m for m in lines}
    login = by_path["/web/login"]
    assert login.group(2) == "shop" and login.group(3) == "GET" and login.group(5) == "200"
    assert int(login.group(6)) >= 1 and float(login.group(7)) >= 0 and float(login.group(8)) > 0
    health = by_path["/web/health"]  # the readiness poll of run.start(): no database, no query
    assert health.group(2) == "?" and health.group(6) == "0" and health.group(7) == "0.000"
    assert by_path["/nope"].group(5) == "404"
    assert by_path["/web/session/authenticate"].group(3) == "POST" and by_path["/web/session/authenticate"].group(2) \
        == "shop"
    assert int(by_path["/web/session/authenticate"].group(6)) >= 1

    quiet = double(extra_conf={"log_level": "warn"})
    quiet.start("-d", "shop")
    assert http(quiet.url("/web/login"))[0] == 200
    assert " werkzeug: " not in quiet.stop()


def test_start_against_a_standby_fails_as_odoo(double, odoo_pg, pg_factory):
    """Odoo 18 opens a read-write transaction on `postgres` at start when a database is named: against a standby
    it exits at once, in every mode; a host list with target_session_attrs=read-write finds the primary."""
    odoo_pg.psql("CREATE DATABASE shop OWNER odoo_owner")
    standby = odoo_pg.make_standby("standby")
    pg_factory.track(standby)
    deadline = time.monotonic() + 10
    while standby.psql("SELECT count(*) FROM pg_database WHERE datname = 'shop'") != "1":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    run = double(env={"PGPORT": str(standby.port)})
    for args in (("-d", "shop", "--stop-after-init"), ("-d", "shop", "-u", "all", "--stop-after-init"),
                 ("-d", "shop")):
        res = run.run(*args, timeout=20)
        assert res.returncode == 1, (args, res.stderr)
        assert "cannot set transaction read-write mode during recovery" in res.stderr
    # without a database named, nothing is written at start: the server runs (and serves nothing)
    run.start()
    assert http(run.url("/web/health"))[0] == 200
    run.stop()
    # a host list without target_session_attrs (the DR drill's scratch Odoo: --db_host=db1,db2) takes the first
    # host that answers: after a switchover, the standby
    unlisted = double(env={"PGHOST": "127.0.0.1,127.0.0.1", "PGPORT": f"{standby.port},{odoo_pg.port}"})
    res = unlisted.run("-d", "shop", "--stop-after-init", timeout=20)
    assert res.returncode == 1 and "cannot set transaction read-write mode during recovery" in res.stderr
    listed = double(env={"PGHOST": "127.0.0.1,127.0.0.1", "PGPORT": f"{standby.port},{odoo_pg.port}",
                         "PGTARGETSESSIONATTRS": "read-write"})
    assert listed.run("-d", "shop", "--stop-after-init").returncode == 0
    # --stop-after-init on a missing database creates it and installs base, as Odoo does (on the primary: through
    # the host list libpq would stop at the standby's FATAL until it replays the CREATE DATABASE)
    assert double().run("-d", "fresh", "--stop-after-init").returncode == 0
    assert odoo_pg.psql("SELECT state FROM ir_module_module WHERE name = 'base'", "fresh") == "installed"


def timed(fn) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def test_cold_start_and_login_costs(double, odoo_pg):
    run = double()
    assert run.run("-d", "shop", "-i", "base", "--stop-after-init").returncode == 0
    run.start("-d", "shop", env={"ODOO_DOUBLE_COLD_SECONDS": "0.6", "ODOO_DOUBLE_COLD_REQUESTS": "2",
                                 "ODOO_DOUBLE_LOGIN_SECONDS": "0.4"})
    assert timed(lambda: http(run.url("/web/health"))) < 0.4  # liveness is never slowed
    pages = [timed(lambda: http(run.url("/web/login"))) for _unused in range(3)]
    assert pages[0] >= 0.6 and pages[1] >= 0.6 and pages[2] < 0.4, pages
    assert timed(lambda: rpc(run, "/web/session/authenticate",
                             {"db": "shop", "login": "admin", "password": "admin"})) >= 0.4
    run.stop()
    # the defaults: the first page of a fresh process pays 0.2 s, the next ones do not
    run.start("-d", "shop")
    pages = [timed(lambda: http(run.url("/web/login"))) for _unused in range(2)]
    assert pages[0] >= 0.2 and pages[1] < pages[0], pages
