"""The molecule scenario of the odoo role (docker driver; a db host and an app host with the engine's socket):
syntax, create, converge, idempotence, verify, cleanup, destroy."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.harness.docker import docker
from tests.integration.harness.env import ROOT, TEST_PREFIX

PREFIX = TEST_PREFIX + "mol-"


@pytest.mark.slow
def test_molecule_odoo(docker_engine):
    env = {**os.environ, "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"],
           "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ODOOOPS_MOLECULE_PREFIX": PREFIX,
           "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1"}
    try:
        proc = subprocess.run([os.path.join(ROOT, ".venv", "bin", "molecule"), "test", "-s", "odoo"], cwd=ROOT,
                              env=env, check=False, capture_output=True, text=True, timeout=2400)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-8000:]
        assert "idempotence" in out.lower()
    finally:
        # if molecule stopped half-way, remove what it left (names of this run's prefix only)
        stack = f"{PREFIX}odoo"
        ids = docker("ps", "-aq", "--filter", f"label=org.odooops.stack={stack}", check=False,
                     timeout=None).stdout.split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False, timeout=None)
        docker("rm", "-f", "-v", f"{PREFIX}odoo-db", f"{PREFIX}odoo-app", check=False, timeout=None)
        docker("volume", "rm", f"{stack}-odoo-data", check=False, timeout=None)
        for net in ("ingress", "app", "data"):
            docker("network", "rm", f"{stack}-{net}", check=False, timeout=None)
        docker("network", "rm", f"{PREFIX}odoo-lan", check=False, timeout=None)
