# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the db tier is: one rule for every role and playbook (the filter odooops.hosting.db_addresses).

A db host's address for the clients (Odoo, backup, restore, the upgrade's tools) is its ``odooops_db_address``,
else its inventory name. For its peers (replication, pg_rewind, Patroni, the certificates' names) it is its
``postgres_node_address``, else the same. An entry that is not an inventory host is an address already and is kept.
"""
from __future__ import annotations

PURPOSES = ("clients", "peers")


class TopologyError(ValueError):
    """The db tier cannot be told from what was given."""


def _get(hostvars, host: str, name: str):
    try:
        value = hostvars[host].get(name)
    except (KeyError, AttributeError):
        return None
    return value if value not in (None, "") else None


def db_address(host: str, hostvars, purpose: str = "clients") -> str:
    """The address of one db host (see the module docstring for the rule)."""
    if purpose not in PURPOSES:
        raise TopologyError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
    if not isinstance(host, str) or not host:
        raise TopologyError(f"a db host is a non-empty inventory name or address, not {host!r}")
    try:
        known = host in hostvars
    except TypeError:
        known = False
    if not known:
        return host
    if purpose == "peers":
        peer = _get(hostvars, host, "postgres_node_address")
        if peer:
            return str(peer)
    return str(_get(hostvars, host, "odooops_db_address") or host)


def db_addresses(hosts, hostvars, purpose: str = "clients") -> list[str]:
    """Addresses of the db hosts, in the order given; a string is one host (or a comma-separated list)."""
    if isinstance(hosts, str):
        hosts = [h.strip() for h in hosts.split(",") if h.strip()]
    if not hosts:
        raise TopologyError("no db host given (is the inventory's db group empty?)")
    return [db_address(h, hostvars, purpose) for h in hosts]
