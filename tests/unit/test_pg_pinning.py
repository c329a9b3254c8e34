"""The one PostgreSQL connection (postgres/connection.py): its spec, its precedence rule, and pinning a connection's
settings to the server it reached (issue 11: restore after a switchover)."""
from __future__ import annotations

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import (
    PgConn,
    argument_spec,
    connect_params,
)
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as upgrade_pg


def test_a_host_list_is_pinned_to_one_server_for_the_client_tools():
    listed = PgConn(host="db1,db2", port=5432, user="odoo", password="pw", sslmode="require")
    with listed.env("shop") as env:
        assert env["PGHOST"] == "db1,db2" and env["PGTARGETSESSIONATTRS"] == "read-write"
    pinned = listed.pinned("db2", 6432)
    assert (pinned.host, pinned.port, pinned.user, pinned.password, pinned.sslmode) == ("db2", 6432, "odoo", "pw",
                                                                                        "require")
    assert not pinned.is_host_list and listed.host == "db1,db2"  # a copy, the original is kept
    with pinned.env("shop") as env:
        assert (env["PGHOST"], env["PGPORT"]) == ("db2", "6432")
        assert "PGTARGETSESSIONATTRS" not in env


def test_a_socket_connection_stays_on_its_socket_directory():
    local = PgConn(unix_socket="/var/run/postgresql", port=5433)
    pinned = local.pinned("/var/run/postgresql", 5433)
    assert pinned.effective_host == "/var/run/postgresql" and pinned.port == 5433
    with pinned.env("shop") as env:
        assert env["PGHOST"] == "/var/run/postgresql" and "PGTARGETSESSIONATTRS" not in env


def test_nothing_reached_keeps_the_settings():
    listed = PgConn(host="db1,db2")
    assert listed.pinned(None, None) is listed and listed.pinned("", 5432) is listed
    assert listed.reached(object()) is listed  # no connection info: nothing to pin to


def test_connections_to_a_host_list_want_the_writable_server():
    params = {"login_host": "db1,db2", "login_port": 5432, "login_user": "odoo"}
    assert connect_params(params)["target_session_attrs"] == "read-write"
    assert "target_session_attrs" not in connect_params({**params, "login_host": "db2"})
    assert "target_session_attrs" not in connect_params({"login_unix_socket": "/run/postgresql"})
    assert upgrade_pg.pinned(params, object()) is params


def test_one_precedence_rule_login_host_then_the_socket_then_libpq_default():
    both = {"login_host": "db1", "login_unix_socket": "/run/postgresql", "login_port": 5433}
    assert connect_params(both)["host"] == "db1"
    assert connect_params({**both, "login_host": ""})["host"] == "/run/postgresql"
    assert "host" not in connect_params({"login_port": 5433})
    # one node of a cluster: the node's address, whatever the options say
    node = connect_params(both, host="10.0.0.2", port=5434)
    assert (node["host"], node["port"]) == ("10.0.0.2", 5434)


def test_one_spec_for_every_postgres_module():
    spec = argument_spec()
    assert {"login_user", "login_password", "login_host", "login_port", "login_db", "login_unix_socket",
            "ssl_mode", "ca_cert", "connect_timeout"} == set(spec)
    assert spec["login_password"]["no_log"] is True
    assert "port" in spec["login_port"]["aliases"]  # the secrets modules' former name
