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


def test_plain_requests_are_forwarded_with_connection_close():
    head = b"GET /web/login HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"
    out, path, upgrade = edge.rewrite_head(head)
    assert path == "/web/login" and upgrade is False
    assert out.endswith(b"\r\n\r\n")
    lines = out.split(b"\r\n")
    assert lines[0] == b"GET /web/login HTTP/1.1" and b"Host: shop" in lines
    assert [ln for ln in lines if ln.lower().startswith(b"connection")] == [b"Connection: close"]
    assert not any(ln.lower().startswith(b"keep-alive") for ln in lines)


def test_websocket_upgrades_are_left_alone():
    head = b"GET /websocket HTTP/1.1\r\nHost: shop\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    out, path, upgrade = edge.rewrite_head(head)
    assert upgrade is True and path == "/websocket" and out == head


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
