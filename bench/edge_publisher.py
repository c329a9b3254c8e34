#!/usr/bin/env python3
"""Cost of the fallback publisher (roles/traefik/files/publisher) per request, as a ratio against a baseline
measured in the same run: the same HTTP backend reached directly on a published port.

Backend: python3 -m http.server (a stand-in, not Odoo) carrying the alias <stack>-odoo-web; both paths go
through the Docker engine's port publishing, so the ratio isolates the publisher (alias resolution per
connection, request-head parsing, forwarding). Needs the images odooops/debian:bookworm and
odooops/edge-publisher:2 (built by the traefik role, or: docker build -t odooops/edge-publisher:2
--build-arg BASE_IMAGE=odooops/debian:bookworm roles/traefik/files/publisher).

    .venv/bin/python bench/edge_publisher.py [--requests 300]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testbed.procs import free_port  # noqa: E402


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def wait(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} not answering")


def sample(url: str, n: int) -> list[float]:
    out = []
    for _unused in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
            resp.read()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    stack = "odooops-bench-" + uuid.uuid4().hex[:6]
    direct_port, pub_port = free_port(), free_port()
    net = f"{stack}-app"
    try:
        docker("network", "create", "--label", f"org.odooops.stack={stack}", net)
        docker("run", "-d", "--name", f"{stack}-backend", "--network", net, "--network-alias", f"{stack}-odoo-web",
               "-p", f"127.0.0.1:{direct_port}:8069", "--label", f"org.odooops.stack={stack}",
               "odooops/debian:bookworm", "sh", "-c",
               "mkdir -p /w/web && printf '{\"status\": \"pass\"}' > /w/web/health && cd /w && "
               "exec python3 -m http.server 8069")
        docker("run", "-d", "--name", f"{stack}-publisher", "--network", net, "-p", f"127.0.0.1:{pub_port}:8080",
               "--label", f"org.odooops.stack={stack}", "odooops/edge-publisher:2", "publish",
               "--bind", "0.0.0.0", "--backend", f"{stack}-odoo-web")
        direct, via = f"http://127.0.0.1:{direct_port}/web/health", f"http://127.0.0.1:{pub_port}/web/health"
        wait(direct)
        wait(via)
        sample(direct, 20)  # warm up both paths
        sample(via, 20)
        # interleave rounds so that load from other processes hits both paths alike
        d, v = [], []
        for _unused in range(5):
            d += sample(direct, args.requests // 5)
            v += sample(via, args.requests // 5)
        md, mv = statistics.median(d), statistics.median(v)
        print(f"requests per path: {len(d)} (new connection each), host: {socket.gethostname()}")
        print(f"baseline direct      median {md * 1000:.2f} ms  total {sum(d):.2f} s")
        print(f"through publisher    median {mv * 1000:.2f} ms  total {sum(v):.2f} s")
        print(f"ratio publisher/direct: median {mv / md:.2f}x, total {sum(v) / sum(d):.2f}x")
    finally:
        docker("rm", "-f", f"{stack}-backend", f"{stack}-publisher", check=False)
        docker("network", "rm", net, check=False)


if __name__ == "__main__":
    main()
