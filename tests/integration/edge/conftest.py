"""Fixtures of the edge tests (networks, Redis, Traefik/fallback publisher) on the simulated app host."""
from __future__ import annotations

import os
import secrets

import pytest

from testbed.procs import free_port
from tests.integration.harness.edge import LOCAL_IMAGES, PLAYBOOKS, STAND_IN, cleanup_stack
from tests.integration.harness.env import TEST_PREFIX as PREFIX


@pytest.fixture(scope="module")
def edge(sim_hosts, ansible_playbook):
    """The edge of a stack converged on app1 (networks, Redis, the stand-in publisher opted into), run twice."""
    stack = f"{PREFIX}edge"
    app1 = sim_hosts["app1"]
    info = {
        "stack": stack,
        "app1": app1,
        "http_port": free_port(),
        "admin_password": "adm-" + secrets.token_hex(12),
        "odoo_password": "odo-" + secrets.token_hex(12),
    }
    extra = {
        **LOCAL_IMAGES,
        **STAND_IN,
        "odooops_stack": stack,
        "odooops_redis_admin_password": info["admin_password"],
        "odooops_redis_odoo_password": info["odoo_password"],
        # the replica is covered by the molecule scenario of the redis role (fewer tasks here)
        "redis_replica": False,
        "redis_persistence": "aof",
        # Traefik's own address (there is no Traefik here): the stand-in must stay on its loopback default anyway
        "traefik_bind_address": "0.0.0.0",
        "traefik_http_port": info["http_port"],
        "traefik_https_port": free_port(),
        "traefik_sites": [{"host": "shop.example.test"}, {"host": "b2b.example.test", "name": "b2b"}],
    }
    info["extra"] = extra
    try:
        info["first"] = ansible_playbook(os.path.join(PLAYBOOKS, "edge.yml"), "-vvv", extra_vars=extra)
        assert info["first"].rc == 0, info["first"].stdout[-6000:] + info["first"].stderr[-3000:]
        info["second"] = ansible_playbook(os.path.join(PLAYBOOKS, "edge.yml"), extra_vars=extra)
        info["url"] = f"http://127.0.0.1:{info['http_port']}"
        yield info
    finally:
        cleanup_stack(stack, app1)
