"""odoo_health against a real HTTP server on loopback (the checks' logic, not Odoo): medians of sampled pages,
and any failed sample failing the check."""
from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import health as odoo_health


class _Handler(http.server.BaseHTTPRequestHandler):
    delays: list[float] = []
    statuses: list[int] = []
    # like Odoo's host-based dbfilter (^%d$): only this Host header finds the database (None: any)
    site: str | None = None
    hosts: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        delay = self.delays.pop(0) if self.delays else 0
        status = self.statuses.pop(0) if self.statuses else 200
        self.hosts.append(self.headers.get("Host", ""))
        if self.site is not None and self.headers.get("Host") != self.site and self.path != "/web/health":
            status = 404  # no database matches the filter for this host
        time.sleep(delay)
        body = (json.dumps({"status": "pass"}) if self.path == "/web/health"
                else "<form><input name='password'/></form>").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 (http.server's name)
        """/web/session/authenticate: uid 2 for check/secret, after the next delay."""
        params = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["params"]
        time.sleep(self.delays.pop(0) if self.delays else 0)
        uid = 2 if (params["login"], params["password"]) == ("check", "secret") else False
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"uid": uid}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    _Handler.delays, _Handler.statuses, _Handler.site, _Handler.hosts = [], [], None, []
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Handler
    srv.shutdown()
    srv.server_close()


def test_one_slow_answer_does_not_set_the_time(server):
    url, handler = server
    handler.delays = [0.6, 0, 0]          # the first health answer is slow, the next two are not
    res = odoo_health.check(url, samples=3)
    health = res["checks"]["health"]
    assert res["healthy"] and health["ok"]
    assert len(health["elapsed_samples_ms"]) == 3 and max(health["elapsed_samples_ms"]) >= 600
    assert health["elapsed_ms"] < 300


def test_any_failed_sample_fails_the_check(server):
    url, handler = server
    handler.statuses = [200, 503, 200]
    res = odoo_health.check(url, samples=3)
    assert not res["checks"]["health"]["ok"] and res["checks"]["health"]["status"] == 503
    assert res["failures"] == ["health: HTTP 503"]


def test_no_answer_stops_sampling():
    res = odoo_health.check("http://127.0.0.1:9", samples=3, timeout=1)   # discard port: refused
    assert not res["healthy"]
    assert len(res["checks"]["health"]["elapsed_samples_ms"]) == 1


def test_json_rpc_login_is_sampled_too(server):
    url, handler = server
    # health x3, login page x3, then the logins: the first (a cold worker, pbkdf2 on a busy host) is slow
    handler.delays = [0, 0, 0, 0, 0, 0, 0.6, 0, 0]
    res = odoo_health.check(url, login="check", password="secret", samples=3)
    login = res["checks"]["rpc_login"]
    assert res["healthy"] and login["ok"] and login["uid"] == 2
    assert len(login["elapsed_samples_ms"]) == 3 and max(login["elapsed_samples_ms"]) >= 600
    assert login["elapsed_ms"] < 300
    res = odoo_health.check(url, login="check", password="wrong", samples=3)
    assert not res["checks"]["rpc_login"]["ok"] and not res["healthy"]


def test_a_site_host_name_reaches_a_host_filtered_database(server):
    """With a host-based dbfilter the database is found only through a site's host name: called by its container
    address the check fails, with host= it passes, and every request carried that Host header."""
    url, handler = server
    handler.site = "shop.example.com"
    assert odoo_health.check(url, database="shop", samples=1)["failures"] == ["login_page: HTTP 404"]
    handler.hosts.clear()
    res = odoo_health.check(url, database="shop", samples=2, host="shop.example.com", urls=["/web/login"])
    assert res["healthy"], res["failures"]
    assert handler.hosts and set(handler.hosts) == {"shop.example.com"}
