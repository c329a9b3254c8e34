"""odoo_web_switch's steps (plugins/module_utils/odoo/web_switch.py) against a fake engine that keeps containers,
networks and files as a Docker engine would: the order of the steps, what is skipped when already so, check mode, and a
failure that names its step and what was done before it."""
from __future__ import annotations

import io
import json
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import web_switch as ws


class FakeEngine:
    def __init__(self, containers: dict, networks: dict | None = None):
        # containers: name -> {"running": bool}; networks: name -> {container: [aliases]}
        self.containers = {n: dict(c) for n, c in containers.items()}
        self.networks = {n: dict(m) for n, m in (networks or {}).items()}
        self.files: dict[tuple[str, str], bytes] = {}
        self.calls: list[str] = []

    def container(self, name):
        c = self.containers.get(name)
        if c is None:
            return None
        nets = {n: {"Aliases": m[name]} for n, m in self.networks.items() if name in m}
        return {"Name": "/" + name, "State": {"Running": c["running"]}, "NetworkSettings": {"Networks": nets}}

    def remove(self, name):
        self.calls.append(f"remove {name}")
        self.containers.pop(name, None)
        for members in self.networks.values():
            members.pop(name, None)

    def get_archive(self, cid, path):
        data = self.files.get((cid, path))
        if data is None:
            return None
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(os.path.basename(path))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def put_archive(self, cid, directory, data):
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar.getmembers():
                self.files[(cid, directory + "/" + m.name)] = tar.extractfile(m).read()
                self.calls.append(f"put {cid}:{directory}/{m.name}")

    def request(self, method, url, body=None, query=None, ok=(200,), timeout=None):
        parts = url.strip("/").split("/")
        if method == "GET" and url == "/containers/json":
            wanted = set(json.loads(query["filters"])["label"])
            return [{"Names": ["/" + n]} for n, c in self.containers.items() if wanted <= set(c.get("labels", []))]
        if method == "GET" and parts[0] == "networks":
            members = self.networks[parts[1]]
            return {"Containers": {f"id-{n}": {"Name": n} for n in members}}
        if parts[0] == "containers":
            name, action = parts[1], parts[2]
            if name == "broken":
                raise RuntimeError("HTTP 500: cannot " + action)
            self.containers[name]["running"] = action == "start"
            self.calls.append(f"{action} {name}")
            return None
        if parts[0] == "networks":
            net, action = parts[1], parts[2]
            if action == "connect":
                self.networks[net][body["Container"]] = list(body["EndpointConfig"]["Aliases"])
            else:
                self.networks[net].pop(body["Container"])
            self.calls.append(f"{action} {body['Container']} {net}")
            return None
        raise AssertionError(f"unexpected {method} {url}")


EDGE = {"container": "edge", "path": "/etc/traefik/dynamic/maintenance.yml", "page_on": "ON\n", "page_off": "OFF\n"}


def test_enter_records_pages_stops_in_order_and_leaves(tmp_path):
    eng = FakeEngine({"cron": {"running": True}, "web-a": {"running": True}, "edge": {"running": True}},
                     {"app": {"web-a": ["shop-odoo-web", "abc123"], "edge": []}})
    state = tmp_path / "upgrade" / "shop.json"
    edge = dict(EDGE, host_path=str(tmp_path / "maintenance.yml"))
    res = ws.Switch(eng, {"state_path": str(state), "state_record": {"run": "r1"}, "stage": "maintenance",
                          "stage_after": "snapshot", "maintenance": True, "edge": edge, "stop": ["cron", "web-a"],
                          "network": "app", "leave": ["web-a"]}).run()
    assert res["changed"]
    assert eng.calls == ["put edge:/etc/traefik/dynamic/maintenance.yml", "stop cron", "stop web-a",
                         "disconnect web-a app"]
    assert eng.files[("edge", EDGE["path"])] == b"ON\n"
    assert (tmp_path / "maintenance.yml").read_text() == "ON\n"
    assert oct(os.stat(state).st_mode & 0o777) == "0o600"
    assert json.loads(state.read_text()) == {"run": "r1", "stage": "snapshot"}
    assert res["done"][0] == "state maintenance recorded" and res["done"][-1] == "state snapshot recorded"


def test_open_joins_with_alias_and_pages_off_nothing_twice(tmp_path):
    eng = FakeEngine({"web-b": {"running": True}, "edge": {"running": True}}, {"app": {"edge": []}})
    eng.files[("edge", EDGE["path"])] = b"ON\n"
    params = {"network": "app", "join": ["web-b"], "aliases": ["shop-odoo-web"], "maintenance": False, "edge": EDGE}
    first = ws.Switch(eng, params).run()
    assert first["changed"] and eng.networks["app"]["web-b"] == ["shop-odoo-web"]
    assert eng.files[("edge", EDGE["path"])] == b"OFF\n"
    eng.calls.clear()
    again = ws.Switch(eng, params).run()
    assert not again["changed"] and again["done"] == [] and eng.calls == []


def test_join_without_the_alias_joins_again_with_it():
    eng = FakeEngine({"web-a": {"running": False}}, {"app": {"web-a": ["web-a-id"]}})
    ws.Switch(eng, {"network": "app", "join": ["web-a"], "aliases": ["shop-odoo-web"]}).run()
    assert eng.calls == ["disconnect web-a app", "connect web-a app"]
    assert eng.networks["app"]["web-a"] == ["shop-odoo-web"]


def test_check_mode_changes_nothing_and_says_what_it_would_do(tmp_path):
    eng = FakeEngine({"cron": {"running": True}, "web-a": {"running": True}, "edge": {"running": True}},
                     {"app": {"web-a": ["shop-odoo-web"]}})
    state = tmp_path / "s.json"
    res = ws.Switch(eng, {"state_path": str(state), "stage": "maintenance", "maintenance": True, "edge": EDGE,
                          "stop": ["cron", "web-a"], "remove": ["web-a"], "network": "app", "leave": ["web-a"]},
                    check_mode=True).run()
    assert res["changed"] and "cron stopped" in res["done"] and "web-a left app" in res["done"]
    assert eng.calls == [] and not state.exists() and eng.files == {}
    assert eng.containers["web-a"]["running"] and "web-a" in eng.networks["app"]


def test_remove_skips_gone_containers_and_stop_skips_stopped_ones():
    eng = FakeEngine({"old": {"running": False}, "new": {"running": True}})
    res = ws.Switch(eng, {"stop": ["old"], "remove": ["new", "gone"]}).run()
    assert eng.calls == ["remove new"] and res["done"] == ["new removed"]


def test_remove_labelled_keeps_what_is_kept_and_reports_what_it_found():
    stack = ["org.odooops.stack=shop", "org.odooops.component=odoo"]
    eng = FakeEngine({"web-old": {"running": True, "labels": stack}, "cron": {"running": False, "labels": stack},
                      "web-new": {"running": True, "labels": stack}, "once": {"running": False, "labels": stack},
                      "other-stack": {"running": True, "labels": ["org.odooops.stack=else"]}})
    keep = ["web-old", "cron"]
    sw = ws.Switch(eng, {"stop": keep, "remove_labelled": {"labels": stack, "keep": keep}})
    sw.run()
    assert sw.labelled == ["cron", "once", "web-new", "web-old"]
    assert eng.calls == ["stop web-old", "remove once", "remove web-new"]
    assert set(eng.containers) == {"web-old", "cron", "other-stack"}


def test_failure_names_the_step_and_what_was_done_before(tmp_path):
    eng = FakeEngine({"cron": {"running": True}, "broken": {"running": True}})
    with pytest.raises(ws.SwitchError) as exc:
        ws.Switch(eng, {"stop": ["cron", "broken"], "start_after": ["cron"]}).run()
    assert str(exc.value).startswith("stop: broken: HTTP 500: cannot stop")
    assert "(done before: cron stopped)" in str(exc.value) and exc.value.done == ["cron stopped"]
    assert not eng.containers["cron"]["running"]  # nothing after the failing step ran


def test_start_of_a_missing_container_fails_before_anything_else():
    eng = FakeEngine({})
    with pytest.raises(ws.SwitchError, match=r"start: container web-x does not exist \(nothing changed\)"):
        ws.Switch(eng, {"start": ["web-x"]}).run()


class _Odoo(BaseHTTPRequestHandler):
    """Answers like an Odoo 18 worker once `ready` is set: the login page of the database, a JSON-RPC login."""
    ready = threading.Event()
    hits: list[str] = []

    def log_message(self, *args):
        pass

    def _send(self, status, body: bytes):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        type(self).hits.append(self.path)
        if not self.ready.is_set():
            return self._send(500, b"database not loaded")
        if self.path.startswith("/web/login"):
            return self._send(200, b'<form><input name="password"/></form>')
        return self._send(200, b'{"status": "pass"}')

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, b'{"jsonrpc": "2.0", "id": 1, "result": {"uid": 7}}')


@pytest.fixture()
def odoo_server():
    _Odoo.ready.clear()
    _Odoo.hits = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Odoo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


def test_ready_waits_for_the_database_then_pages_off(odoo_server):
    """The page goes off only after each started container loads the database (a 500 until then)."""
    eng = FakeEngine({"127.0.0.1": {"running": False}, "edge": {"running": True}})
    threading.Timer(0.6, _Odoo.ready.set).start()
    res = ws.Switch(eng, {"start": ["127.0.0.1"], "maintenance": False, "edge": EDGE,
                          "ready": {"port": odoo_server.server_address[1], "database": "odoo", "login": "check",
                                    "password": "pw", "wait": 10, "interval": 0.1}}).run()
    assert eng.calls == ["start 127.0.0.1", "put edge:/etc/traefik/dynamic/maintenance.yml"]
    assert res["done"][-1].startswith("maintenance page off")
    assert res["times"]["ready"] <= res["times"]["page_off"]  # users are back only once it is ready
    assert any(h.startswith("/web/login?db=odoo") for h in _Odoo.hits)


def test_not_ready_fails_and_leaves_the_page_on(odoo_server):
    eng = FakeEngine({"127.0.0.1": {"running": False}, "edge": {"running": True}})
    eng.files[("edge", EDGE["path"])] = b"ON\n"
    sw = ws.Switch(eng, {"start": ["127.0.0.1"], "maintenance": False, "edge": EDGE,
                         "ready": {"port": odoo_server.server_address[1], "database": "odoo", "wait": 0.5,
                                   "interval": 0.1}})
    with pytest.raises(ws.SwitchError, match=r"127.0.0.1 did not become ready \(not within 0.5 s\)"):
        sw.run()
    assert eng.files[("edge", EDGE["path"])] == b"ON\n" and sw.ready["127.0.0.1"]["healthy"] is False


def test_answering_with_errors_only_is_given_up_before_the_wait(odoo_server):
    """A registry that fails to load answers 500 on every request: given up after error_grace, not after wait."""
    eng = FakeEngine({"127.0.0.1": {"running": False}})
    sw = ws.Switch(eng, {"start": ["127.0.0.1"], "ready": {"port": odoo_server.server_address[1], "database": "odoo",
                                                           "wait": 60, "error_grace": 0.4, "interval": 0.1}})
    with pytest.raises(ws.SwitchError, match=r"answered with errors only for 0.4 s\) .*login_page: HTTP 500"):
        sw.run()
    assert sw.ready["127.0.0.1"]["waited"] < 30


class _Exits(FakeEngine):
    def container(self, name):
        info = super().container(name)
        if info and self.calls:  # started, then it exits at once
            info["State"]["Running"] = False
        return info


def test_a_container_that_stops_is_given_up_at_once():
    eng = _Exits({"web-x": {"running": False}})
    sw = ws.Switch(eng, {"start": ["web-x"], "ready": {"port": 1, "wait": 60, "interval": 0.1}})
    with pytest.raises(ws.SwitchError, match=r"web-x did not become ready \(it is not running\)"):
        sw.run()
    assert sw.ready["web-x"]["attempts"] == 1
