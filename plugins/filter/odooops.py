# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of odooops.hosting: Odoo sizing, the connection budget, the master password hash, the db tier's addresses."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import passwd as odoo_passwd
from ansible_collections.odooops.hosting.plugins.module_utils.odoo import sizing
from ansible_collections.odooops.hosting.plugins.module_utils.postgres import topology
from ansible_collections.odooops.hosting.plugins.module_utils.preflight import checks as preflight


def odoo_sizing(host: dict, reserved_mib: int = 1024, max_workers: int | None = None) -> dict:
    """host: {"cpus": N, "memory_mib": M} (e.g. from ansible_processor_vcpus / ansible_memtotal_mb)."""
    try:
        return sizing.odoo_workers(int(host["cpus"]), int(host["memory_mib"]), reserved_mib, max_workers)
    except (KeyError, sizing.SizingError) as exc:
        raise AnsibleFilterError(f"odoo_sizing: {exc}") from exc


def odoo_connection_budget(app_hosts: list, max_connections: int, reserved: int, blue_green: bool = True) -> dict:
    """Check the app hosts' peak connections against PostgreSQL; fails naming the numbers."""
    try:
        return sizing.check_budget(sizing.connection_demand(app_hosts, blue_green), int(max_connections),
                                   int(reserved))
    except (KeyError, sizing.SizingError) as exc:
        raise AnsibleFilterError(f"odoo_connection_budget: {exc}") from exc


def odoo_connection_demand(app_hosts: list, blue_green: bool = True) -> dict:
    return sizing.connection_demand(app_hosts, blue_green)


def odoo_db_maxconn_problems(values: dict) -> list:
    """Messages (empty: fine) when odoo_db_maxconn / odoo_cron_db_maxconn are too small for Odoo 18 (the rule:
    module_utils/odoo/sizing.py min_db_maxconn)."""
    return preflight.check_odoo_maxconn(dict(values or {}))


def odoo_admin_hash(password: str, rounds: int = odoo_passwd.DEFAULT_ROUNDS) -> str:
    """Hash a master password as Odoo stores admin_passwd; an already hashed value is returned as is."""
    if odoo_passwd.is_hashed(password):
        return password
    return odoo_passwd.hash_password(password, rounds)


def db_addresses(hosts, hostvars, purpose: str = "clients") -> list:
    """The db tier's addresses, one rule everywhere (module_utils/postgres/topology.py)."""
    try:
        return topology.db_addresses(hosts, hostvars, purpose)
    except topology.TopologyError as exc:
        raise AnsibleFilterError(f"db_addresses: {exc}") from exc


class FilterModule:
    def filters(self):
        return {
            "db_addresses": db_addresses,
            "odoo_sizing": odoo_sizing,
            "odoo_connection_budget": odoo_connection_budget,
            "odoo_connection_demand": odoo_connection_demand,
            "odoo_db_maxconn_problems": odoo_db_maxconn_problems,
            "odoo_admin_hash": odoo_admin_hash,
        }
