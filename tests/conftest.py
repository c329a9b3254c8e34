"""Shared fixtures: the real engines of the test bed (testbed/), started on demand, stopped by PID.

Engines are installed by scripts/bootstrap.sh; a missing engine is an error, never a skip. Only
../shared (schemas, present beside the project on development machines and CI, not on users'
machines) may be absent: tests that need it skip with the reason.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

# tests/ is a package: pytest puts the project root on sys.path before it imports this file; the collection
# (.collections/ansible_collections/odooops/hosting) goes beside it
from tests.integration.harness.env import ROOT, SHARED, TEST_NETWORK, TEST_PREFIX

sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from testbed import hosts as tb_hosts  # noqa: E402
from testbed.images import build_all  # noqa: E402
from testbed.pg import PgCluster  # noqa: E402
from testbed.redis_server import RedisServer  # noqa: E402
from testbed.s3 import MotoServer, TlsFront  # noqa: E402
from tests.integration.harness.playbook import run_playbook  # noqa: E402


def pytest_collection_modifyitems(config, items):
    # tests under tests/integration are integration tests unless marked otherwise
    for item in items:
        if f"{os.sep}integration{os.sep}" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def project_root() -> str:
    return ROOT


@pytest.fixture(scope="session")
def shared_dir() -> str:
    """../shared (schemas, recipes): beside the project in development and CI only."""
    if not os.path.isdir(SHARED):
        pytest.skip(f"shared directory not found at {SHARED} (set ODOOOPS_SHARED); schema checks need it")
    return SHARED


# -- PostgreSQL ------------------------------------------------------------------------------------
@pytest.fixture
def pg_factory():
    """Make PostgreSQL clusters: pg_factory(name, settings=None) -> started PgCluster."""
    made: list[PgCluster] = []

    def make(name: str = "pg", settings: dict | None = None, hba: list[str] | None = None) -> PgCluster:
        cluster = PgCluster(name).init(settings, hba).start()
        made.append(cluster)
        return cluster

    make.track = made.append  # register standbys made from a tracked cluster
    yield make
    for cluster in reversed(made):
        cluster.destroy()


@pytest.fixture
def pg(pg_factory) -> PgCluster:
    """A fresh, started PostgreSQL 15 cluster on a free loopback port."""
    return pg_factory("pg")


# -- Redis -------------------------------------------------------------------------------------------
@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


# -- S3 (moto) ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(moto):
    """A new bucket (with Object Lock enabled, so retention can be set) on the session's moto server."""
    name = "t-" + uuid.uuid4().hex[:12]
    moto.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture(scope="session")
def moto_tls(moto):
    """moto behind stunnel TLS (pgBackRest speaks only HTTPS to S3)."""
    front = TlsFront(moto.port).start()
    yield front
    front.stop()


# -- Docker and simulated hosts ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def docker_engine():
    subprocess.run([os.path.join(ROOT, "scripts", "ensure-dockerd.sh")], check=True, capture_output=True)
    build_all()
    return True


@pytest.fixture(scope="session")
def sim_hosts(docker_engine):
    """db1, db2 and app1 as simulated VMs with the tests' prefix; removed at the end of the session."""
    names = tb_hosts.up(prefix=TEST_PREFIX, network=TEST_NETWORK)
    yield {n[len(TEST_PREFIX):]: n for n in names}
    tb_hosts.down(prefix=TEST_PREFIX, network=TEST_NETWORK)


@pytest.fixture(scope="session")
def lan_s3(sim_hosts):
    """S3 (moto) on the simulated hosts' network: hosts use info["lan_endpoint"] (http://s3:5000) or
    info["lan_tls_endpoint"]; the control node uses info["endpoint"] (published on 127.0.0.1)."""
    return tb_hosts.s3_up(prefix=TEST_PREFIX, network=TEST_NETWORK)


@pytest.fixture(scope="session")
def ansible_playbook():
    """Run a playbook of the project against the tests' simulated hosts (or another inventory):
    ansible_playbook(playbook, *args, inventory=None, extra_vars=None, check=False, env=None, timeout=1800,
    kill_when=None) -> PlaybookRun (tests/integration/harness/playbook.py)."""
    return run_playbook
