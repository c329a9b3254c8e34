"""Command line of the test bed, used by the Makefile's demo and by the tests' fixtures.

    python -m testbed images            build (or reuse) the local images
    python -m testbed hosts up|down|status [--prefix odooops-] [--network odooops-lan]
    python -m testbed s3 up [--prefix odooops-] [--network odooops-lan] [--port 9000]
    python -m testbed stack down [--stack odooops]   the containers, volumes and networks of a stack
"""
from __future__ import annotations

import argparse
import sys

from . import hosts, images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("images")
    h = sub.add_parser("hosts")
    h.add_argument("action", choices=["up", "down", "status"])
    h.add_argument("--prefix", default=hosts.DEFAULT_PREFIX)
    h.add_argument("--network", default=hosts.DEFAULT_NETWORK)
    s3 = sub.add_parser("s3")
    s3.add_argument("action", choices=["up"])
    s3.add_argument("--prefix", default=hosts.DEFAULT_PREFIX)
    s3.add_argument("--network", default=hosts.DEFAULT_NETWORK)
    s3.add_argument("--port", type=int, default=None)
    st = sub.add_parser("stack")
    st.add_argument("action", choices=["down"])
    st.add_argument("--stack", action="append", default=None)
    args = parser.parse_args(argv)
    if args.cmd == "images":
        images.build_all()
    elif args.cmd == "stack":
        for stack in args.stack or ["odooops"]:
            print(f"stack {stack}: {len(hosts.stack_down(stack))} container(s) removed")
    elif args.cmd == "s3":
        info = hosts.s3_up(prefix=args.prefix, network=args.network, host_port=args.port)
        print(f"s3 {info['container']}: {info['endpoint']} (hosts: {info['lan_endpoint']})")
    elif args.action == "up":
        for name in hosts.up(prefix=args.prefix, network=args.network):
            print(f"host {name}: running")
    elif args.action == "down":
        hosts.down(prefix=args.prefix, network=args.network)
    else:
        for row in hosts.status(prefix=args.prefix):
            print(f"{row['Names']}\t{row['State']}\t{row['Status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
