"""One rule for where the db tier is (module_utils/postgres/topology.py, filter odooops.hosting.db_addresses)."""
from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.topology import (
    TopologyError,
    db_address,
    db_addresses,
)

HOSTVARS = {
    "db1": {"odooops_db_address": "10.0.1.11", "postgres_node_address": "10.9.0.11", "ansible_host": "mgmt-db1"},
    "db2": {"odooops_db_address": "10.0.1.12", "ansible_host": "mgmt-db2"},
    "db3": {"ansible_host": "mgmt-db3", "odooops_db_address": ""},
}


def test_clients_use_the_db_address_else_the_inventory_name_never_ansible_host():
    assert db_addresses(["db1", "db2", "db3"], HOSTVARS) == ["10.0.1.11", "10.0.1.12", "db3"]


def test_peers_use_the_node_address_first():
    assert db_addresses(["db1", "db2", "db3"], HOSTVARS, "peers") == ["10.9.0.11", "10.0.1.12", "db3"]


def test_addresses_that_are_not_inventory_hosts_are_kept_in_order():
    assert db_addresses("db2, 192.0.2.7", HOSTVARS) == ["10.0.1.12", "192.0.2.7"]


@pytest.mark.parametrize(("hosts", "purpose", "message"), [
    ([], "clients", "no db host given"),
    ("", "clients", "no db host given"),
    (["db1"], "replicas", "purpose must be one of clients, peers"),
    ([None], "clients", "non-empty inventory name"),
])
def test_bad_input_is_named(hosts, purpose, message):
    with pytest.raises(TopologyError, match=message):
        db_addresses(hosts, HOSTVARS, purpose)


def test_one_host():
    assert db_address("db1", HOSTVARS) == "10.0.1.11"
