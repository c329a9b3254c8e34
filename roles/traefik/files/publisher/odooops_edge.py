#!/usr/bin/env python3
"""odooops edge publisher: publishes Odoo when no Traefik image can be had (and serves the maintenance page).

Modes:
  publish      listen on --listen, forward each connection to --backend (a Docker network alias, resolved again
               for every connection, so blue/green moving the alias takes effect at once); /websocket goes to
               --websocket-port; /web/database* only from --allow networks; while the Traefik dynamic file
               --maintenance-file defines routers, every request gets the maintenance page (HTTP 503).
  maintenance  answer every request with the maintenance page (the service Traefik's maintenance router uses).

Plain HTTP only (no TLS): it stands in for Traefik's "web" entrypoint. Requests other than websocket upgrades are
forwarded with "Connection: close", so each request is routed afresh. Standard library + PyYAML only.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import socket
import sys

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


def rewrite_head(head: bytes) -> tuple[bytes, str, bool]:
    """Return (head to forward, path, is_upgrade). Non-upgrade requests get Connection: close."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
    headers = [ln for ln in lines[1:] if ln]
    upgrade = any(ln.lower().startswith(b"upgrade:") for ln in headers)
    if not upgrade:
        headers = [ln for ln in headers if not ln.lower().startswith((b"connection:", b"keep-alive:"))]
        headers.append(b"Connection: close")
    return b"\r\n".join([lines[0], *headers]) + b"\r\n\r\n", path, upgrade


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
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
            head, path, upgrade = rewrite_head(head)
            if path.startswith("/web/database") and not self.allowed(writer.get_extra_info("peername")[0]):
                writer.write(simple("403 Forbidden", "database manager not allowed from this address"))
                return
            port = self.args.websocket_port if path.startswith("/websocket") else self.args.backend_port
            try:
                up_reader, up_writer = await open_backend(self.args.backend, port)
            except OSError as exc:
                print(exc, file=sys.stderr)
                writer.write(simple("502 Bad Gateway", "Odoo is not reachable"))
                return
            up_writer.write(head)
            await up_writer.drain()
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            with contextlib.suppress(Exception):  # peer already gone
                await writer.drain()
                writer.close()


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["publish", "maintenance"])
    ap.add_argument("--listen", type=int, default=8080)
    ap.add_argument("--backend", default="odoo-web")
    ap.add_argument("--backend-port", type=int, default=8069)
    ap.add_argument("--websocket-port", type=int, default=8072)
    ap.add_argument("--maintenance-file")
    ap.add_argument("--page", default="/srv/maintenance/index.html")
    ap.add_argument("--allow", action="append", default=[])
    args = ap.parse_args(argv)
    server = await asyncio.start_server(Publisher(args).handle, host="0.0.0.0", port=args.listen, limit=MAX_HEAD)
    print(f"odooops edge {args.mode} listening on {args.listen} -> {args.backend}:{args.backend_port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
