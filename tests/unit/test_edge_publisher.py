"""The fallback publisher's request handling (roles/traefik/files/publisher/odooops_edge.py), without Docker."""
from __future__ import annotations

import argparse
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location(
    "odooops_edge", os.path.join(ROOT, "roles", "traefik", "files", "publisher", "odooops_edge.py"))
edge = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(edge)


def vet(head: bytes, peer: str = "172.18.0.1", allowed=lambda _peer: False):
    return edge.vet_request(head, peer, allowed)


def fields(out: bytes) -> list[bytes]:
    assert out.endswith(b"\r\n\r\n")
    return out[:-4].split(b"\r\n")


def test_plain_requests_are_forwarded_with_connection_close():
    head = b"GET /web/login HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"
    req = vet(head)
    assert req.path == "/web/login" and req.upgrade is False and req.length == 0
    lines = fields(req.head)
    assert lines[0] == b"GET /web/login HTTP/1.1" and b"Host: shop" in lines
    assert [ln for ln in lines if ln.lower().startswith(b"connection")] == [b"Connection: close"]
    assert not any(ln.lower().startswith(b"keep-alive") for ln in lines)


def test_websocket_upgrades_on_websocket_only():
    head = (b"GET /websocket?version=17 HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive, Upgrade\r\n"
            b"Upgrade: websocket\r\n\r\n")
    req = vet(head)
    assert req.upgrade is True and req.path == "/websocket"
    lines = fields(req.head)
    assert lines[0] == b"GET /websocket?version=17 HTTP/1.1"
    assert b"Connection: Upgrade" in lines and b"Upgrade: websocket" in lines and b"Connection: close" not in lines
    # elsewhere (or not a GET, or with a body) an upgrade request is a plain one: Connection: close, no Upgrade
    for other in (head.replace(b"/websocket?version=17", b"/web/login"), head.replace(b"GET", b"POST"),
                  head.replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\n")):
        req = vet(other)
        lines = fields(req.head)
        assert req.upgrade is False and b"Connection: close" in lines
        assert not any(ln.lower().startswith(b"upgrade") for ln in lines)


@pytest.mark.parametrize(("target", "path", "forwarded"), [
    ("/web/login", "/web/login", "/web/login"),
    ("/web/%64atabase/manager", "/web/database/manager", "/web/database/manager"),
    ("/web%2Fdatabase/manager", "/web/database/manager", "/web/database/manager"),
    ("/web//database", "/web/database", "/web/database"),
    ("//web/database", "/web/database", "/web/database"),
    ("/web/login/../database/manager", "/web/database/manager", "/web/database/manager"),
    ("/web/./login/", "/web/login/", "/web/login/"),
    ("/web/login/..", "/web/", "/web/"),
    ("/", "/", "/"),
    ("/web/login?redirect=%2Fweb%2Fdatabase&a=%zz", "/web/login", "/web/login?redirect=%2Fweb%2Fdatabase&a=%zz"),
    ("/shop/caf%C3%A9%20noir", "/shop/caf\u00e9 noir", "/shop/caf%C3%A9%20noir"),
    # decoded ONCE: a double-encoded escape stays a literal "%64" (and goes on encoded, so Odoo sees the same)
    ("/web/%2564atabase", "/web/%64atabase", "/web/%2564atabase"),
])
def test_targets_are_decoded_once_and_normalised(target, path, forwarded):
    assert edge.normalise_target(target) == (path, forwarded)


@pytest.mark.parametrize("target", [
    "http://shop.example.test/web/database/manager",  # absolute-form
    "HTTP://x/web/login",
    "shop.example.test:443",  # authority-form
    "*",  # asterisk-form
    "/../web/database",  # climbs above the root
    "/web/%2e%2e/%2e%2e/database",
    "/web/%zz",  # not an escape
    "/web/%",
    "/web/%ff",  # not UTF-8 once decoded
    "/web/%00database",  # control characters
    "/web/%0d%0aX-Forwarded-Host:%20evil",
    "/web/login#frag",
    "/web/caf\u00e9",  # raw non-ASCII
    "",
])
def test_targets_that_cannot_be_normalised_are_refused(target):
    with pytest.raises(edge.Refused) as err:
        edge.normalise_target(target)
    assert err.value.status.startswith("400 ")


@pytest.mark.parametrize("target", ["/web/database/manager", "/web/%64atabase/manager", "/web//database",
                                    "/web/login/../database/manager", "/WEB/Database/selector", "/web/database"])
def test_database_manager_refused_unless_allowed(target):
    head = f"GET {target} HTTP/1.1\r\nHost: shop\r\n\r\n".encode()
    with pytest.raises(edge.Refused) as err:
        vet(head)
    assert err.value.status == "403 Forbidden"
    assert vet(head, "127.0.0.1", lambda peer: peer == "127.0.0.1").path.lower().startswith("/web/database")


def test_client_forwarded_headers_are_replaced_by_the_publishers_own():
    head = (b"GET /web/login HTTP/1.1\r\nHost: shop.example.test\r\nX-Forwarded-Host: evil\r\n"
            b"X-Forwarded-For: 6.6.6.6\r\nx-forwarded-proto: https\r\nX-Forwarded-Port: 443\r\n"
            b"X-Forwarded-Prefix: /x\r\nX_Forwarded_Host: evil2\r\nForwarded: for=6.6.6.6;host=evil3\r\n"
            b"X-Real-IP: 6.6.6.6\r\nCookie: session_id=abc\r\n\r\n")
    lines = fields(vet(head, "172.18.0.1").head)
    assert lines == [b"GET /web/login HTTP/1.1", b"Host: shop.example.test", b"Cookie: session_id=abc",
                     b"X-Forwarded-For: 172.18.0.1", b"X-Forwarded-Proto: http",
                     b"X-Forwarded-Host: shop.example.test", b"Connection: close"]


@pytest.mark.parametrize(("head", "status"), [
    (b"GET /web/login HTTP/1.1\r\n\r\n", "400 "),  # no Host
    (b"GET /web/login HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400 "),  # two Hosts
    (b"GET /web/login HTTP/1.1\r\nHost: a\r\n X-Forwarded-Host: evil\r\n\r\n", "400 "),  # obs-fold
    (b"GET /web/login HTTP/1.1\r\nHost: a\r\nX-Forwarded-Host : evil\r\n\r\n", "400 "),  # space in name
    (b"GET /web/login HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n", "400 "),
    (b"POST /web/login HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "411 "),
    (b"POST /web/login HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n", "400 "),
    (b"POST /web/login HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "400 "),
    (b"GET  /web/login HTTP/1.1\r\nHost: a\r\n\r\n", "400 "),  # not three fields
    (b"GET /web/login HTTP/2.0\r\nHost: a\r\n\r\n", "400 "),
    (b"\r\n\r\n", "400 "),
])
def test_malformed_heads_are_refused(head, status):
    with pytest.raises(edge.Refused) as err:
        vet(head)
    assert err.value.status.startswith(status)


def test_body_length_is_what_the_request_announces():
    head = b"POST /web/login HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n"
    req = vet(head)
    assert req.length == 42 and b"Content-Length: 42" in fields(req.head)
    assert vet(b"GET / HTTP/1.0\r\n\r\n").length == 0  # HTTP/1.0 needs no Host


def test_listens_on_loopback_unless_told_otherwise():
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, SPEC.origin, "maintenance", "--listen", str(port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith(f"odooops edge maintenance listening on 127.0.0.1:{port} ")
    finally:
        proc.kill()
        proc.wait()


def test_maintenance_follows_the_traefik_dynamic_file(tmp_path):
    switch = tmp_path / "maintenance.yml"
    state = edge.Maintenance(str(switch))
    assert state.check() is False  # no file: serving
    switch.write_text("http: {}\n")
    assert state.check() is False
    switch.write_text("http:\n  routers:\n    maintenance-web:\n      rule: PathPrefix(`/`)\n      service: m\n")
    assert state.check() is True
    switch.write_text("http: [unclosed\n")  # half-written: keep the previous state
    assert state.check() is True
    switch.write_text("# off\nhttp: {}\n")
    assert state.check() is False


@pytest.mark.parametrize(("peer", "allowed"), [("127.0.0.1", True), ("10.1.2.3", True), ("172.17.0.1", False),
                                               ("not-an-ip", False)])
def test_database_manager_allowlist(peer, allowed):
    pub = edge.Publisher(argparse.Namespace(maintenance_file=None, allow=["127.0.0.1/32", "10.0.0.0/8"]))
    assert pub.allowed(peer) is allowed


def test_maintenance_page_is_a_503_with_length(tmp_path):
    page = tmp_path / "index.html"
    page.write_text("<h1>back soon</h1>")
    raw = edge.page(str(page))
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503 ") and body == b"<h1>back soon</h1>"
    assert f"Content-Length: {len(body)}".encode() in head
