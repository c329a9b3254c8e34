# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A minimal Docker Engine API client for one-shot containers (the module update, image inspection,
filestore operations on a volume), with a hard timeout.

community.docker's modules run long-lived containers well but do not run a command with a deadline
and kill it when it hangs, which is what an upgrade needs; this speaks the Engine API over the unix
socket with the standard library only (no docker SDK needed on the host).
"""
from __future__ import annotations

import http.client
import json
import socket
import struct
import time
import urllib.parse
import uuid

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# the option of every module that talks to the Engine API (doc fragment odooops.hosting.docker_engine)
DOCKER_HOST_SPEC = {"docker_host": dict(type="str", default=DEFAULT_DOCKER_HOST)}


class DockerError(Exception):
    """The engine refused or failed a request."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def demux(raw: bytes) -> str:
    """Docker's multiplexed log stream (8-byte frame headers when the container has no TTY) to text."""
    out, i = [], 0
    while i + 8 <= len(raw) and raw[i] in (0, 1, 2) and raw[i + 1:i + 4] == b"\0\0\0":
        size = struct.unpack(">I", raw[i + 4:i + 8])[0]
        out.append(raw[i + 8:i + 8 + size])
        i += 8 + size
    if i < len(raw):
        out.append(raw[i:])
    return b"".join(out).decode("utf-8", "replace")


class Engine:
    def __init__(self, docker_host: str = DEFAULT_DOCKER_HOST, timeout: float = 60):
        if not docker_host.startswith("unix://"):
            raise DockerError(f"only unix sockets are supported, got {docker_host!r}")
        self.path = docker_host[len("unix://"):]
        self.timeout = timeout

    def request(self, method: str, url: str, body=None, query: dict | None = None, ok=(200, 201, 204),
                timeout: float | None = None, raw: bool = False):
        if query:
            url += "?" + urllib.parse.urlencode(query)
        conn = _UnixConnection(self.path, timeout or self.timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, "/v1.41" + url, body=json.dumps(body) if body is not None else None,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as exc:
            raise DockerError(f"Docker engine at {self.path}: {exc}") from exc
        finally:
            conn.close()
        if resp.status not in ok:
            try:
                msg = json.loads(data).get("message", "")
            except ValueError:
                msg = data[:300].decode("utf-8", "replace")
            raise DockerError(f"{method} {url.split('?')[0]}: HTTP {resp.status}: {msg}")
        if raw:
            return data
        return json.loads(data) if data else None

    # -- objects --------------------------------------------------------------------------------------
    def image(self, name: str) -> dict | None:
        try:
            return self.request("GET", f"/images/{urllib.parse.quote(name, safe='')}/json")
        except DockerError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def container(self, name: str) -> dict | None:
        try:
            return self.request("GET", f"/containers/{urllib.parse.quote(name, safe='')}/json")
        except DockerError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def logs(self, cid: str, tail: int = 200) -> str:
        data = self.request("GET", f"/containers/{cid}/logs", query={"stdout": 1, "stderr": 1, "tail": tail},
                            raw=True)
        return demux(data)

    def remove(self, cid: str) -> None:
        """Remove the container and its anonymous volumes (v=1: the image's VOLUMEs nothing was mounted on, e.g.
        the official image's /mnt/extra-addons); named volumes are never removed this way."""
        self.request("DELETE", f"/containers/{cid}", query={"force": 1, "v": 1}, ok=(204, 404))

    def get_archive(self, cid: str, path: str) -> bytes | None:
        """A tar of path in the container (running or not); None when it does not exist."""
        try:
            return self.request("GET", f"/containers/{cid}/archive", query={"path": path}, raw=True)
        except DockerError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def put_archive(self, cid: str, directory: str, data: bytes) -> None:
        conn = _UnixConnection(self.path, self.timeout)
        try:
            conn.request("PUT", f"/v1.41/containers/{cid}/archive?" + urllib.parse.urlencode({"path": directory}),
                         body=data, headers={"Content-Type": "application/x-tar"})
            resp = conn.getresponse()
            body = resp.read()
        except OSError as exc:
            raise DockerError(f"Docker engine at {self.path}: {exc}") from exc
        finally:
            conn.close()
        if resp.status != 200:
            raise DockerError(f"PUT archive into {directory}: HTTP {resp.status}: {body[:200]!r}")

    def kill(self, cid: str) -> None:
        self.request("POST", f"/containers/{cid}/kill", ok=(204, 404, 409))

    # -- one-shot -----------------------------------------------------------------------------------
    def run_oneshot(self, image: str, cmd: list[str], *, entrypoint: list[str] | None = None,
                    env: list[str] | None = None, binds: list[str] | None = None, mounts: list[dict] | None = None,
                    networks: list[str] | None = None, user: str | None = None, name: str | None = None,
                    labels: dict | None = None, timeout: float = 600, log_tail: int = 200,
                    keep: bool = False, copy_from: str | None = None, copy_paths: list[str] | None = None,
                    files: list[tuple[str, bytes]] | None = None) -> dict:
        """Run cmd in a new container of image and wait at most timeout seconds (then kill it).

        copy_paths are copied from the container copy_from before the start (files a deployment put into its
        containers rather than mounting them: odoo.conf, the libpq service file); missing ones are skipped.
        files are (directory, tar) pairs put into the container before the start too (e.g. a 0600 script).
        Returns {exit_code, timed_out, duration, logs, name}. The container is removed unless keep.
        """
        name = name or f"odooops-oneshot-{uuid.uuid4().hex[:10]}"
        networks = list(networks or [])
        body = {
            "Image": image, "Cmd": cmd, "Env": env or [], "Labels": {"org.odooops.oneshot": "1", **(labels or {})},
            "HostConfig": {"Binds": binds or [], "Mounts": mounts or [],
                           "NetworkMode": networks[0] if networks else "none"},
        }
        if entrypoint is not None:
            body["Entrypoint"] = entrypoint
        if user:
            body["User"] = user
        created = self.request("POST", "/containers/create", body=body, query={"name": name})
        cid = created["Id"]
        start = time.monotonic()
        timed_out = False
        try:
            for path in copy_paths or []:
                data = self.get_archive(copy_from, path) if copy_from else None
                if data:
                    self.put_archive(cid, path.rsplit("/", 1)[0] or "/", data)
            for directory, data in files or []:
                self.put_archive(cid, directory, data)
            for net in networks[1:]:
                self.request("POST", f"/networks/{urllib.parse.quote(net, safe='')}/connect",
                             body={"Container": cid}, ok=(200,))
            self.request("POST", f"/containers/{cid}/start")
            while True:
                state = self.request("GET", f"/containers/{cid}/json")["State"]
                if not state.get("Running"):
                    exit_code = state.get("ExitCode")
                    break
                if time.monotonic() - start > timeout:
                    timed_out = True
                    self.kill(cid)
                    exit_code = None
                    break
                time.sleep(0.25)
            duration = round(time.monotonic() - start, 3)
            logs = self.logs(cid, log_tail)
        finally:
            if not keep:
                self.remove(cid)
        return {"exit_code": exit_code, "timed_out": timed_out, "duration": duration, "logs": logs, "name": name}
