"""The Odoo test double (tests/odoo_double) against real PostgreSQL and Redis: the contract other areas rely on."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import pytest
from conftest import DB_PASSWORD, http

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
    assert partners > 20 and users == 2 and products > 0 and quants == products and sessions == 1
    assert crons > 0 and mail == 1
    assert odoo_pg.psql("SELECT count(*) FROM ir_config_parameter WHERE key = 'database.uuid'", "shop") == "1"
    # the filestore: <data_dir>/filestore/<db>/<sha1[:2]>/<sha1>, matching ir_attachment
    fname, checksum = odoo_pg.psql("SELECT store_fname, checksum FROM ir_attachment", "shop").split("|")
    with open(os.path.join(run.data_dir, "filestore", "shop", fname), "rb") as fh:
        assert hashlib.sha1(fh.read()).hexdigest() == checksum == fname.split("/")[1]
    # the password never reaches the log
    assert DB_PASSWORD not in res.stderr + res.stdout


def test_update_sets_manifest_versions_in_one_transaction(double, odoo_pg):
    run = double()
    assert run.run("-d", "shop", "-i", "point_of_sale,sale_management", "--stop-after-init").returncode == 0
    before = odoo_pg.psql(MODULE_ROWS, "shop")
    params_before = odoo_pg.psql("SELECT key, value FROM ir_config_parameter ORDER BY key", "shop")
    run.set_variant("b")
    # a failing update: non-zero exit, and nothing of it committed
    failed = run.run("-d", "shop", "-u", "all", "--stop-after-init", env={"ODOO_DOUBLE_FAIL_UPDATE": "1"})
    assert failed.returncode != 0
    assert odoo_pg.psql(MODULE_ROWS, "shop") == before
    assert odoo_pg.psql("SELECT key, value FROM ir_config_parameter ORDER BY key", "shop") == params_before
    # the same knob as a marker file in <data_dir>/.double/
    os.makedirs(os.path.join(run.data_dir, ".double"))
    marker = os.path.join(run.data_dir, ".double", "odoo_double_fail_update")
    open(marker, "w").close()
    assert run.run("-d", "shop", "-u", "stock", "--stop-after-init").returncode != 0
    os.remove(marker)
    assert odoo_pg.psql(MODULE_ROWS, "shop") == before
    # -u of a list updates only those
    assert run.run("-d", "shop", "-u", "stock", "--stop-after-init").returncode == 0
    assert odoo_pg.psql("SELECT latest_version FROM ir_module_module WHERE name = 'stock'", "shop") == "17.0.1.2"
    assert odoo_pg.psql("SELECT latest_version FROM ir_module_module WHERE name = 'point_of_sale'",
                        "shop") == "17.0.1.0.1"
    # -u all: every installed module gets its manifest's version
    assert run.run("-d", "shop", "-u", "all", "--stop-after-init").returncode == 0
    rows = dict(line.split("|")[::2] for line in odoo_pg.psql(MODULE_ROWS, "shop").splitlines())
    assert rows["point_of_sale"] == "17.0.1.0.2" and rows["sale_management"] == "17.0.1.1"


def test_hanging_update_holds_its_transaction_until_killed(double, odoo_pg):
    run = double()
    assert run.run("-d", "shop", "-i", "stock", "--stop-after-init").returncode == 0
    before = odoo_pg.psql(MODULE_ROWS, "shop")
    run.set_variant("b")
    with pytest.raises(subprocess.TimeoutExpired):
        run.run("-d", "shop", "-u", "all", "--stop-after-init", timeout=3, env={"ODOO_DOUBLE_HANG_UPDATE": "1"})
    time.sleep(0.5)  # the killed client's backend rolls back
    assert odoo_pg.psql(MODULE_ROWS, "shop") == before


def test_server_routes(double, odoo_pg):
    run = double()
    assert run.run("-d", "shop", "-i", "base", "--stop-after-init").returncode == 0
    run.start("-d", "shop")
    assert http(run.url("/web/health")) == (200, b'{"status": "pass"}')
    status, body = http(run.url("/web/login"))
    assert status == 200 and b"oe_login_form" in body
    status, answer = rpc(run, "/web/session/authenticate", {"db": "shop", "login": "admin", "password": "admin"})
    assert answer["result"]["uid"] == 2
    status, answer = rpc(run, "/web/session/authenticate", {"db": "shop", "login": "check", "password": "check"})
    assert answer["result"]["uid"] == 3
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
    # unhealthy marker file: 503 while present
    os.makedirs(os.path.join(run.data_dir, ".double"), exist_ok=True)
    marker = os.path.join(run.data_dir, ".double", "odoo_double_unhealthy")
    open(marker, "w").close()
    assert http(run.url("/web/health"))[0] == 503
    os.remove(marker)
    assert http(run.url("/web/health"))[0] == 200
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
    run = double(extra_conf={"redis_host": "127.0.0.1", "redis_port": redis_server.port, "redis_user": "odoo",
                             "redis_password": "redis-odoo-pw"})
    assert run.run("-d", "shop", "-i", "base", "--stop-after-init").returncode == 0
    run.start("-d", "shop")
    status, body = http(run.url("/odooops/ping"))
    assert status == 200 and json.loads(body)["redis"]["ok"] is True
    # sessions land in Redis
    rpc(run, "/web/session/authenticate", {"db": "shop", "login": "admin", "password": "admin"})
    assert redis_server.client().keys("session:*")
    redis_server.client().acl_setuser("odoo", enabled=True, reset_passwords=True, passwords=["+other"])
    status, body = http(run.url("/odooops/ping"))
    assert status == 503 and json.loads(body)["redis"]["ok"] is False
    assert b"redis-odoo-pw" not in body


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
