"""The molecule scenarios of the redis and traefik roles (docker driver, simulated app host with the engine's
socket): syntax, create, converge, idempotence, verify, cleanup, destroy."""
from __future__ import annotations

import os
import subprocess

import pytest

from testbed.procs import free_port
from tests.integration.harness.docker import docker_out
from tests.integration.harness.edge import cleanup_stack
from tests.integration.harness.env import ROOT
from tests.integration.harness.env import TEST_PREFIX as PREFIX


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["redis", "traefik"])
def test_molecule_scenario(scenario, docker_engine):
    prefix = f"{PREFIX}mol-"
    env = {**os.environ, "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"],
           "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ODOOOPS_MOLECULE_PREFIX": prefix,
           "ODOOOPS_MOLECULE_HTTP_PORT": str(free_port()), "ODOOOPS_MOLECULE_HTTPS_PORT": str(free_port()),
           "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1"}
    try:
        proc = subprocess.run([os.path.join(ROOT, ".venv", "bin", "molecule"), "test", "-s", scenario], cwd=ROOT,
                              env=env, check=False, capture_output=True, text=True, timeout=1500)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-8000:]
        assert "idempotence" in out.lower()
    finally:
        # if molecule stopped half-way, remove what it left (only names of this run's prefix)
        docker_out("rm", "-f", "-v", f"{prefix}{scenario}-host", check=False)
        cleanup_stack(f"{prefix}{scenario}")
