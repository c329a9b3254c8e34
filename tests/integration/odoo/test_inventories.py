"""Example inventories (dedicated, multitenant, hybrid) and the local one: syntax of provision.yml with each, and
the odoo role's argument specs, sizing and connection budget evaluated on their variables."""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

import pytest

from tests.integration.harness.env import ROOT

EXAMPLES = ["dedicated", "multitenant", "hybrid"]
SECRETS = {"odooops_db_password": "inventory-check-db", "odooops_odoo_admin_password": "inventory-check-master",
           "odooops_redis_odoo_password": "inventory-check-redis"}


def playbook(*args: str, extra_vars: dict | None = None) -> subprocess.CompletedProcess:
    """ansible-playbook; extra vars (secrets) through a 0600 file, never on the command line."""
    env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    with tempfile.NamedTemporaryFile("w", prefix="odooops-extra-vars-", suffix=".json") as fh:
        json.dump(extra_vars or {}, fh)
        fh.flush()
        return subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-e", "@" + fh.name, *args],
                              check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.parametrize("inventory", [f"inventories/examples/{name}" for name in EXAMPLES] + ["inventories/local"])
def test_provision_syntax(inventory):
    res = playbook("-i", inventory, "--syntax-check", "playbooks/provision.yml")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_arguments_and_budget(name):
    res = playbook("-i", f"inventories/examples/{name}", "tests/integration/odoo/playbooks/inventory_check.yml",
                   extra_vars=SECRETS)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "PostgreSQL connections: peak" in res.stdout
    for secret in SECRETS.values():
        assert secret not in res.stdout + res.stderr


def test_over_budget_example_is_refused_naming_the_numbers():
    res = playbook("-i", "inventories/examples/dedicated", "tests/integration/odoo/playbooks/inventory_check.yml",
                   extra_vars={**SECRETS, "odoo_web_replicas": 8})
    assert res.returncode != 0
    assert "connection budget exceeded" in res.stdout and "250 - 10 reserved = 240" in res.stdout


def test_bad_argument_is_refused():
    bad = {**SECRETS, "odoo_db_sslmode": "sometimes"}
    res = playbook("-i", "inventories/examples/dedicated", "tests/integration/odoo/playbooks/inventory_check.yml",
                   extra_vars=bad)
    assert res.returncode != 0 and "odoo_db_sslmode" in res.stdout


# stacks of the example inventories' app hosts (hybrid: one per host)
EXAMPLE_STACKS = {"dedicated": {"shopco"}, "multitenant": {"pool1"}, "hybrid": {"pool", "megamart"}}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_odoo_db_network_is_its_own(name):
    """Odoo reaches the db hosts over a network of its stack's own, never Docker's default bridge (where every
    container of the app host would reach 8069 past the edge)."""
    res = playbook("-i", f"inventories/examples/{name}", "tests/integration/odoo/playbooks/inventory_check.yml",
                   extra_vars=SECRETS)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    found = set(re.findall(r"networks: db=([\w.-]+) app=([\w.-]+) data=([\w.-]+)", res.stdout))
    assert found == {(f"{s}-db", f"{s}-app", f"{s}-data") for s in EXAMPLE_STACKS[name]}, res.stdout[-3000:]


@pytest.mark.parametrize("network", ["bridge", "host", "shopco-app", "shopco-ingress"])
def test_shared_db_network_is_refused(network):
    res = playbook("-i", "inventories/examples/dedicated", "tests/integration/odoo/playbooks/inventory_check.yml",
                   extra_vars={**SECRETS, "odoo_db_network": network})
    assert res.returncode != 0
    assert "odoo_db_network must be a network of Odoo's own" in res.stdout, res.stdout[-3000:]
