"""Helpers of the edge tests (tests/integration/edge): stand-ins for Odoo behind the edge, HTTP probes, cleanup."""
from __future__ import annotations

import json
import os
import posixpath
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from tests.integration.harness.docker import docker, docker_out
from tests.integration.harness.env import ROOT

PLAYBOOKS = os.path.join(ROOT, "tests", "integration", "edge", "playbooks")
# Images built on the app host from a Debian base, since no registry is reachable here.
LOCAL_IMAGES = {
    "redis_image": "odooops/redis:7",
    "redis_image_build": True,
    "redis_image_build_base": "odooops/debian:bookworm",
    "traefik_publisher_build_base": "odooops/debian:bookworm",
    "odoo_drain_image_build_base": "odooops/debian:bookworm",
}
# The edge tests exercise the stand-in publisher: they opt in, as inventories/local does (the default is never).
STAND_IN = {"traefik_fallback": "auto"}


def inspect(name: str) -> dict:
    return json.loads(docker_out("inspect", name))[0]


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback test URL
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def wait_http(url: str, status: int = 200, timeout: float = 30) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    last: tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        try:
            last = http_get(url)
            if last[0] == status:
                return last
        except OSError as exc:
            last = (0, str(exc))
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {status} within {timeout}s: {last}")


def start_backend(stack: str, name: str, text: str) -> str:
    """A stand-in for an Odoo web container (python3 -m http.server, NOT Odoo): alias <stack>-odoo-web on the app
    network, /web/health on 8069 and a second server on 8072 for /websocket."""
    cname = f"{stack}-{name}"
    script = (f"mkdir -p /w/web /ws/websocket && printf '{text}' > /w/web/health && printf 'ws-{text}' > "
              "/ws/websocket/index.html && (cd /ws && python3 -m http.server 8072 &) && cd /w && "
              "exec python3 -m http.server 8069")
    docker_out("run", "-d", "--name", cname, "--network", f"{stack}-app", "--network-alias", f"{stack}-odoo-web",
               "--label", f"org.odooops.stack={stack}", "--label", "org.odooops.test=edge",
               "odooops/debian:bookworm", "sh", "-c", script)
    return cname


# An HTTP/1.1 server with keep-alive (so a request smuggled after the first on one connection WOULD be served) that
# logs every request target it receives, one JSON line per request, and answers with what it received.
ECHO_SERVER = r"""
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = json.dumps({"target": self.path, "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        print(json.dumps({"target": self.path}), flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_GET
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", int(sys.argv[1])), H).serve_forever()
"""


def start_echo_backend(stack: str, name: str) -> str:
    """A stand-in for Odoo (NOT Odoo) carrying the alias <stack>-odoo-web: echoes each request (target, headers) on
    8069 and 8072 and logs every target it receives (echo_targets)."""
    cname = f"{stack}-{name}"
    docker_out("run", "-d", "--name", cname, "--network", f"{stack}-app", "--network-alias", f"{stack}-odoo-web",
               "--label", f"org.odooops.stack={stack}", "--label", "org.odooops.test=edge", "odooops/debian:bookworm",
               "sh", "-c", 'python3 -c "$0" 8072 & exec python3 -c "$0" 8069', ECHO_SERVER)
    return cname


def echo_targets(cname: str) -> list[str]:
    """Every request target the echo backend received."""
    logs = docker("logs", cname, timeout=None).stdout
    return [json.loads(line)["target"] for line in logs.splitlines() if line.startswith("{")]


def echo_targets_since(cname: str, seen: int, want: int, timeout: float = 10.0, settle: float = 1.5) -> list[str]:
    """The targets the echo backend received after the first `seen`: waits until `want` have come (its log
    reaches `docker logs` with a delay on a busy engine), then `settle` seconds more for any late arrival, so
    that "nothing else reached it" is not concluded too early."""
    deadline = time.monotonic() + timeout
    while True:
        reached = echo_targets(cname)[seen:]
        if len(reached) >= want or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(settle)
    return echo_targets(cname)[seen:]


def as_odoo_routes(target: str) -> str:
    """The path a lenient server would route a target to (absolute-form stripped, decoded, '..' and '//' folded)."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(target).path)
    return posixpath.normpath("/" + path.lstrip("/")) if path else "/"


def raw_request(port: int, data: bytes, timeout: float = 10) -> tuple[int, bytes]:
    """Send bytes as they are to 127.0.0.1:port, read until the server closes; (first status code, whole answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    answer = b"".join(chunks)
    parts = answer.split(b" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), answer


def cleanup_stack(stack: str, app1: str | None = None) -> None:
    ids = docker_out("ps", "-aq", "--filter", f"label=org.odooops.stack={stack}").split()
    if ids:
        docker_out("rm", "-f", "-v", *ids, check=False)
    for net in ("ingress", "app", "data"):
        docker_out("network", "rm", f"{stack}-{net}", check=False)
    for vol in docker_out("volume", "ls", "-q", "--filter", f"name={stack}-").split():
        if vol.startswith(f"{stack}-"):
            docker_out("volume", "rm", vol, check=False)
    if app1:
        docker_out("exec", app1, "rm", "-rf", f"/etc/odooops/{stack}", check=False)
