# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One switch of an app host's serving state, in one module call: what an upgrade does at the edges of its
maintenance window (and its rollback), which used to be a dozen module runs at about a second each.

The steps always run in this order, each only when asked:

1. the upgrade's state record written with the stage about to change things (upgrade_state.write);
2. maintenance page on: the edge's dynamic file, then the host's copy (the next provision renders from it);
3. containers stopped, in the order given (the cron first: no job starts mid-upgrade); containers removed (those
   named, and those with given labels but the ones kept);
4. containers taken off the app network; containers joined to it, with their aliases;
5. containers started;
6. readiness of every container started in 5 waited for (odoo_health: the login page of the database and a
   JSON-RPC login; never /web/health, which answers without a database);
7. maintenance page off (edge first, then the host's copy);
8. containers started after users are back (the cron);
9. the state record written again with the stage now reached.

A failure stops at the step that failed; the message names it and what was already done. Plain functions over
an engine object (odoo_docker.Engine, or a fake in the unit tests).
"""
from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
import urllib.parse

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import container_files
from ansible_collections.odooops.hosting.plugins.module_utils.odoo import health as odoo_health
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import state as upgrade_state


class SwitchError(Exception):
    """A step failed; .done lists the steps completed before it."""

    def __init__(self, msg: str, done: list[str]):
        super().__init__(msg)
        self.done = done


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _one_file_tar(name: str, data: bytes, mode: int = 0o644) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, 0, 0, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def edge_file_differs(engine, container: str, path: str, content: str) -> bool:
    current = container_files.current_file(engine.get_archive(container, path))
    return current is None or current[3] != content.encode("utf-8")


def put_edge_file(engine, container: str, path: str, content: str) -> None:
    directory, name = os.path.split(path)
    engine.put_archive(container, directory, _one_file_tar(name, content.encode("utf-8")))


def host_file_differs(path: str, content: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read() != content.encode("utf-8")
    except FileNotFoundError:
        return True


def write_host_file(path: str, content: str) -> None:
    """0644, root-owned when run as root, replaced atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".switch-", dir=directory)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8"))
        os.replace(tmp, path)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def running(info: dict | None) -> bool:
    return bool(info and (info.get("State") or {}).get("Running"))


def network_members(engine, network: str) -> dict[str, list[str]]:
    """{container name: its aliases on network} (aliases as the containers' own inspect data gives them)."""
    net = engine.request("GET", f"/networks/{_q(network)}")
    members = {}
    for _cid, c in (net.get("Containers") or {}).items():
        name = c.get("Name", "")
        info = engine.container(name) or {}
        eps = ((info.get("NetworkSettings") or {}).get("Networks") or {})
        members[name] = list((eps.get(network) or {}).get("Aliases") or [])
    return members


class Switch:
    """The steps of one switch (see the module docstring), planned from the current state, then applied."""

    def __init__(self, engine, params: dict, check_mode: bool = False):
        self.engine, self.p, self.check = engine, params, check_mode
        self.done: list[str] = []
        self.changed = False
        self.labelled: list[str] | None = None
        self.times: dict[str, float] = {}

    # -- helpers ---------------------------------------------------------------------------------------------
    def _did(self, what: str) -> None:
        self.done.append(what)
        self.changed = True

    def _fail(self, msg: str):
        raise SwitchError(msg + (f" (done before: {'; '.join(self.done)})" if self.done else " (nothing changed)"),
                          self.done)

    def _record(self, stage: str | None) -> None:
        if not stage or not self.p.get("state_path"):
            return
        record = dict(self.p.get("state_record") or {}, stage=stage)
        if self.check:
            self._did(f"state {stage} recorded")
            return
        try:
            if upgrade_state.write(self.p["state_path"], record):
                self._did(f"state {stage} recorded")
        except (upgrade_state.StateError, OSError) as exc:
            self._fail(f"state record {self.p['state_path']}: {exc}")

    def _page(self, content: str, label: str) -> None:
        edge = self.p.get("edge") or {}
        if not edge.get("container"):
            return
        try:
            if edge_file_differs(self.engine, edge["container"], edge["path"], content):
                if not self.check:
                    put_edge_file(self.engine, edge["container"], edge["path"], content)
                self._did(f"maintenance page {label} at the edge ({edge['container']})")
            if edge.get("host_path") and host_file_differs(edge["host_path"], content):
                if not self.check:
                    write_host_file(edge["host_path"], content)
                self._did(f"maintenance page {label} recorded in {edge['host_path']}")
        except Exception as exc:  # engine and file errors alike: the step's name leads the message
            self._fail(f"maintenance page {label}: {exc}")

    def _start(self, names: list[str], what: str) -> None:
        for name in names:
            info = self.engine.container(name)
            if info is None:
                self._fail(f"{what}: container {name} does not exist")
            if running(info):
                continue
            if not self.check:
                try:
                    self.engine.request("POST", f"/containers/{_q(name)}/start", ok=(204, 304))
                except Exception as exc:
                    self._fail(f"{what}: {name}: {exc}")
            self._did(f"{name} started")

    # -- the steps, in order -----------------------------------------------------------------------------------
    def run(self) -> dict:
        p = self.p
        self._record(p.get("stage"))
        edge = p.get("edge") or {}
        if p.get("maintenance") is True:
            self._page(edge.get("page_on", ""), "on")
        for name in p.get("stop") or []:
            info = self.engine.container(name)
            if not running(info):
                continue
            if not self.check:
                try:
                    self.engine.request("POST", f"/containers/{_q(name)}/stop", query={"t": p.get("stop_timeout", 20)},
                                        ok=(204, 304), timeout=float(p.get("stop_timeout", 20)) + 30)
                except Exception as exc:
                    self._fail(f"stop: {name}: {exc}")
            self._did(f"{name} stopped")
        remove = list(p.get("remove") or [])
        labelled = p.get("remove_labelled") or {}
        if labelled.get("labels"):
            try:
                found = self.engine.request("GET", "/containers/json", query={
                    "all": 1, "filters": json.dumps({"label": list(labelled["labels"])})}) or []
            except Exception as exc:
                self._fail(f"containers labelled {', '.join(labelled['labels'])}: {exc}")
            self.labelled = sorted(n.lstrip("/") for c in found for n in (c.get("Names") or [])[:1])
            remove += [n for n in self.labelled if n not in (labelled.get("keep") or []) and n not in remove]
        for name in remove:
            if self.engine.container(name) is None:
                continue
            if not self.check:
                try:
                    self.engine.remove(name)
                except Exception as exc:
                    self._fail(f"remove: {name}: {exc}")
            self._did(f"{name} removed")
        if p.get("leave") or p.get("join"):
            self._network()
        self._start(p.get("start") or [], "start")
        ready = p.get("ready") or {}
        if ready and not self.check:
            self.ready = self._ready(p.get("start") or [], ready)
            self.times["ready"] = time.time()
        if p.get("maintenance") is False:
            self._page(edge.get("page_off", ""), "off")
            self.times["page_off"] = time.time()
        self._start(p.get("start_after") or [], "start after")
        self._record(p.get("stage_after"))
        return {"changed": self.changed, "done": self.done, "times": self.times}

    def _ready(self, names: list[str], ready: dict) -> dict:
        """Every started container answers for the database (one sample each; the caller's checks sample more)."""
        results = {}
        for name in names:
            url = f"http://{name}:{int(ready.get('port', 8069))}"
            res = self._ready_one(name, url, ready)
            results[name] = {k: res.get(k) for k in ("healthy", "failures", "attempts", "waited")}
            if not res["healthy"]:
                self.ready = results
                self._fail(f"{name} did not become ready ({res['why']}) at {url}: "
                           + "; ".join(res.get("failures") or []))
        return results

    def _ready_one(self, name: str, url: str, ready: dict) -> dict:
        """Until ready; given up when the container stops running, when Odoo has answered with errors only for
        error_grace seconds (a registry that fails to load does not get better), or after wait seconds in all
        (an Odoo that does not answer at all yet is still starting)."""
        wait, grace = float(ready.get("wait", 120)), float(ready.get("error_grace", 10))
        start, erring_since, attempts = time.monotonic(), None, 0
        while True:
            attempts += 1
            res = odoo_health.check(url, database=ready.get("database"), login=ready.get("login") or None,
                                    password=ready.get("password"), host=ready.get("host") or None,
                                    timeout=float(ready.get("timeout", 10)), samples=1)
            now = time.monotonic()
            res.update(attempts=attempts, waited=round(now - start, 2))
            if res["healthy"]:
                return res
            answered = (res["checks"].get("login_page") or {}).get("status") is not None
            erring_since = (erring_since or now) if answered else None
            if not running(self.engine.container(name)):
                return dict(res, why="it is not running")
            if erring_since is not None and now - erring_since >= grace:
                return dict(res, why=f"it answered with errors only for {grace:g} s")
            if now - start >= wait:
                return dict(res, why=f"not within {wait:g} s")
            time.sleep(float(ready.get("interval", 0.25)))

    def _network(self) -> None:
        p = self.p
        network = p["network"]
        try:
            members = network_members(self.engine, network)
        except Exception as exc:
            self._fail(f"network {network}: {exc}")
        for name in p.get("leave") or []:
            if name not in members:
                continue
            if not self.check:
                try:
                    self.engine.request("POST", f"/networks/{_q(network)}/disconnect",
                                        body={"Container": name, "Force": True}, ok=(200,))
                except Exception as exc:
                    self._fail(f"leave {network}: {name}: {exc}")
            self._did(f"{name} left {network}")
        aliases = list(p.get("aliases") or [])
        for name in p.get("join") or []:
            have = members.get(name)
            if have is not None and set(aliases) <= set(have):
                continue
            if not self.check:
                try:
                    if have is not None:  # joined without the alias: joined again with it
                        self.engine.request("POST", f"/networks/{_q(network)}/disconnect",
                                            body={"Container": name, "Force": True}, ok=(200,))
                    self.engine.request("POST", f"/networks/{_q(network)}/connect",
                                        body={"Container": name, "EndpointConfig": {"Aliases": aliases}}, ok=(200,))
                except Exception as exc:
                    self._fail(f"join {network}: {name}: {exc}")
            self._did(f"{name} joined {network}" + (f" as {', '.join(aliases)}" if aliases else ""))
