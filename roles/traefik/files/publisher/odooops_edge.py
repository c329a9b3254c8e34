"""odooops edge publisher: a stand-in for Traefik where no Traefik image can be had, by explicit choice
(traefik_fallback auto/always), and the maintenance page server behind Traefik.

Modes:
  publish      listen on --bind:--listen, forward each request to --backend (a Docker network alias, resolved
               again for every connection, so blue/green moving the alias takes effect at once); /websocket goes
               to --websocket-port; /web/database* only from --allow networks; while the Traefik dynamic file
               --maintenance-file defines routers, every request gets the maintenance page (HTTP 503).
  maintenance  answer every request with the maintenance page (the service Traefik's maintenance router uses).

Each request head is vetted first (vet_request, a plain function): origin-form targets only, the path decoded
once and normalised ("..", ".", "//") before the /web/database check and forwarded in that form; client
Forwarded/X-Forwarded-* dropped and the publisher's own set. Plain HTTP only (no TLS, no security headers).
Requests other than websocket upgrades are forwarded with "Connection: close" and only the body they announce,
so each request is vetted and routed afresh. Listens on 127.0.0.1 unless --bind says otherwise (in a container
whose port is published, --bind 0.0.0.0; the host side of the published port decides who can reach it).
Standard library + PyYAML only.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import re
import socket
import sys
import urllib.parse
from collections.abc import Callable
from typing import NamedTuple

import yaml

MAX_HEAD = 65536


class Maintenance:
    """Maintenance state read from the Traefik dynamic file; reloaded when the file changes (mtime/size)."""

    def __init__(self, path: str | None):
        self.path = path
        self.stamp: tuple | None = None
        self.active = False

    def check(self) -> bool:
        if not self.path:
            return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.stamp, self.active = None, False
            return False
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self.stamp:
            try:
                with open(self.path, encoding="utf-8") as fh:
                    doc = yaml.safe_load(fh) or {}
                routers = ((doc.get("http") or {}).get("routers") or {})
                self.active = bool(routers)
                self.stamp = stamp
            except (OSError, yaml.YAMLError) as exc:  # half-written file: keep the previous state, retry next time
                print(f"maintenance file unreadable, keeping state {self.active}: {exc}", file=sys.stderr)
        return self.active


def page(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            body = fh.read()
    except OSError:
        body = b"<!doctype html><title>Maintenance</title><h1>Down for maintenance</h1>\n"
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html; charset=utf-8\r\nRetry-After: 60\r\n"
            b"Cache-Control: no-store\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body)


def simple(status: str, text: str) -> bytes:
    body = (text + "\n").encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
            "\r\n").encode() + body


class Refused(Exception):
    """A request the publisher answers itself (status line text, short message) instead of forwarding."""

    def __init__(self, status: str, text: str):
        super().__init__(f"{status}: {text}")
        self.status, self.text = status, text


class Vetted(NamedTuple):
    head: bytes  # request head to forward (normalised target, own X-Forwarded-*, Connection handling)
    path: str  # normalised, percent-decoded path (what the allowlist and the routing looked at)
    upgrade: bool  # a websocket upgrade on /websocket: piped both ways once the backend answers 101
    length: int  # request body bytes to forward after the head (nothing more is ever forwarded)


# RFC 9110 token (header field names, methods)
TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# printable ASCII without space: what a request target may hold before decoding
TARGET = re.compile(r"^[\x21-\x7e]*$")
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# characters left as they are when the normalised path is encoded again (RFC 3986 pchar and "/")
PATH_SAFE = "/:@!$&'()*+,;="
# client headers that never reach Odoo (it trusts X-Forwarded-* with proxy_mode): compared after lower-casing
# and "_" -> "-", since WSGI servers map both X-Forwarded-Host and X_Forwarded_Host to HTTP_X_FORWARDED_HOST
DROPPED = ("forwarded", "x-real-ip", "connection", "keep-alive", "proxy-connection", "upgrade", "te", "trailer",
           "x-forwarded")
DATABASE_MANAGER = "/web/database"


def normalise_target(target: str) -> tuple[str, str]:
    """(path, target to forward) of an origin-form request target, or Refused.

    Only origin-form is accepted (absolute-form "http://host/...", authority-form and "*" are refused); the
    path is percent-decoded once (invalid escapes, non-UTF-8 and control characters refused), "." and empty
    segments dropped, ".." applied (one that climbs above the root is refused); the target forwarded is that
    path encoded again plus the query as received, so Odoo routes exactly what was checked."""
    if not target.startswith("/") or not TARGET.match(target):
        raise Refused("400 Bad Request", "request target must be an origin-form path")
    raw, sep, query = target.partition("?")
    if "#" in target or BAD_ESCAPE.search(raw):
        raise Refused("400 Bad Request", "malformed request target")
    try:
        decoded = urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("400 Bad Request", "request path is not UTF-8") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
        raise Refused("400 Bad Request", "control character in request path")
    segments = decoded.split("/")
    out: list[str] = []
    for seg in segments[1:]:
        if seg in ("", "."):
            continue
        if seg == "..":
            if not out:
                raise Refused("400 Bad Request", "request path climbs above the root")
            out.pop()
            continue
        out.append(seg)
    trailing = bool(out) and (decoded.endswith("/") or segments[-1] in (".", ".."))
    path = "/" + "/".join(out) + ("/" if trailing else "")
    return path, urllib.parse.quote(path, safe=PATH_SAFE) + sep + query


def is_database_manager(path: str) -> bool:
    """Odoo's database manager (/web/database*), on an already normalised path."""
    return path.lower().startswith(DATABASE_MANAGER)


def vet_request(head: bytes, peer: str, allowed: Callable[[str], bool] = lambda _peer: False) -> Vetted:
    """Check one request head (up to and including the blank line) from client address peer, or Refused.

    The request line must be "METHOD origin-form-target HTTP/1.x"; header fields must be well formed (no
    obsolete line folding, one Host, no Transfer-Encoding: bodies need a Content-Length). Client
    Forwarded/X-Forwarded-*/X-Real-IP and hop-by-hop fields are dropped, and the publisher's own
    X-Forwarded-For (peer), X-Forwarded-Proto (http) and X-Forwarded-Host (the Host) added. /web/database* is
    refused (403) unless allowed(peer). Only a GET upgrade to websocket on /websocket stays an upgrade; every
    other request is forwarded with "Connection: close"."""
    lines = head.split(b"\r\n")
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise Refused("400 Bad Request", "empty request")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not TOKEN.match(parts[0]) or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise Refused("400 Bad Request", "malformed request line")
    method = parts[0]
    path, target = normalise_target(parts[1].decode("latin-1"))
    kept: list[bytes] = []
    hosts: list[bytes] = []
    lengths: set[bytes] = set()
    connection: set[bytes] = set()
    upgrade = b""
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.match(name):  # also obs-fold (leading space) and "Name :" forms
            raise Refused("400 Bad Request", "malformed header field")
        value = value.strip(b" \t")
        key = name.lower().replace(b"_", b"-").decode("ascii")
        if key == "host":
            hosts.append(value)
        elif key == "content-length":
            lengths.add(value)
        elif key == "transfer-encoding":
            raise Refused("411 Length Required", "request bodies need a Content-Length")
        elif key == "connection":
            connection |= {t.strip().lower() for t in value.split(b",")}
        elif key == "upgrade":
            upgrade = value.lower()
        if key in DROPPED or key.startswith("x-forwarded-"):
            continue
        kept.append(name + b": " + value)
    if len(hosts) > 1 or (parts[2] == b"HTTP/1.1" and not hosts):
        raise Refused("400 Bad Request", "exactly one Host header is required")
    if len(lengths) > 1 or any(not v.isdigit() for v in lengths):
        raise Refused("400 Bad Request", "bad Content-Length")
    length = int(next(iter(lengths))) if lengths else 0
    if is_database_manager(path) and not allowed(peer):
        raise Refused("403 Forbidden", "database manager not allowed from this address")
    is_upgrade = (method == b"GET" and upgrade == b"websocket" and b"upgrade" in connection and length == 0
                  and path.startswith("/websocket"))
    own = [b"X-Forwarded-For: " + peer.encode("ascii", "replace"), b"X-Forwarded-Proto: http"]
    if hosts:
        own.append(b"X-Forwarded-Host: " + hosts[0])
    hop = [b"Connection: Upgrade", b"Upgrade: websocket"] if is_upgrade else [b"Connection: close"]
    request_line = method + b" " + target.encode("ascii") + b" " + parts[2]
    return Vetted(b"\r\n".join([request_line, *kept, *own, *hop]) + b"\r\n\r\n", path, is_upgrade, length)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int | None = None,
               close: bool = True) -> None:
    """Copy reader to writer until EOF, or exactly limit bytes; then close writer (unless close is false)."""
    try:
        while limit is None or limit > 0:
            data = await reader.read(65536 if limit is None else min(65536, limit))
            if not data:
                break
            if limit is not None:
                limit -= len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        if close:
            with contextlib.suppress(Exception):  # closing a broken socket
                writer.close()


async def open_backend(host: str, port: int):
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # resolved per connection (alias moves)
    last: Exception | None = None
    for family, _type, _proto, _name, addr in infos:
        try:
            return await asyncio.wait_for(asyncio.open_connection(addr[0], addr[1], family=family), 3)
        except (TimeoutError, OSError) as exc:
            last = exc
    raise OSError(f"no backend reachable for {host}:{port}: {last}")


class Publisher:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.maintenance = Maintenance(args.maintenance_file)
        self.allow = [ipaddress.ip_network(n, strict=False) for n in args.allow]

    def allowed(self, peer: str) -> bool:
        try:
            ip = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(ip in net for net in self.allow)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            if self.args.mode == "maintenance" or self.maintenance.check():
                writer.write(page(self.args.page))
                return
            peer = (writer.get_extra_info("peername") or ("",))[0]
            try:
                req = vet_request(head, peer, self.allowed)
            except Refused as exc:
                writer.write(simple(exc.status, exc.text))
                return
            port = self.args.websocket_port if req.path.startswith("/websocket") else self.args.backend_port
            try:
                up_reader, up_writer = await open_backend(self.args.backend, port)
            except OSError as exc:
                print(exc, file=sys.stderr)
                writer.write(simple("502 Bad Gateway", "Odoo is not reachable"))
                return
            up_writer.write(req.head)
            await up_writer.drain()
            if not req.upgrade:
                # the body announced, nothing after it: a second request in the same stream never reaches Odoo
                await asyncio.gather(pipe(reader, up_writer, limit=req.length, close=False), pipe(up_reader, writer))
                with contextlib.suppress(Exception):
                    up_writer.close()
                return
            try:
                answer = await asyncio.wait_for(up_reader.readuntil(b"\r\n\r\n"), 30)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                writer.write(simple("502 Bad Gateway", "Odoo did not answer the upgrade"))
                up_writer.close()
                return
            writer.write(answer)
            if answer.split(b" ", 2)[1:2] == [b"101"]:
                await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
            else:  # upgrade refused: this response only, the client's further bytes are not forwarded
                with contextlib.suppress(Exception):
                    up_writer.write_eof()
                await pipe(up_reader, writer)
                up_writer.close()
        finally:
            with contextlib.suppress(Exception):  # peer already gone
                await writer.drain()
                writer.close()


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["publish", "maintenance"])
    ap.add_argument("--listen", type=int, default=8080)
    ap.add_argument("--bind", default="127.0.0.1",
                    help="address to listen on (default loopback; in a container whose port is published: 0.0.0.0)")
    ap.add_argument("--backend", default="odoo-web")
    ap.add_argument("--backend-port", type=int, default=8069)
    ap.add_argument("--websocket-port", type=int, default=8072)
    ap.add_argument("--maintenance-file")
    ap.add_argument("--page", default="/srv/maintenance/index.html")
    ap.add_argument("--allow", action="append", default=[])
    args = ap.parse_args(argv)
    server = await asyncio.start_server(Publisher(args).handle, host=args.bind, port=args.listen, limit=MAX_HEAD)
    print(f"odooops edge {args.mode} listening on {args.bind}:{args.listen} -> {args.backend}:{args.backend_port}",
          flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
