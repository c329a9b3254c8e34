"""Fixtures of the PostgreSQL tier's tests: a continuous writer through libpq multi-host settings
(tests/integration/harness/postgres.py), the db tier's images, db hosts without a cluster."""
from __future__ import annotations

import pytest

from tests.integration.harness.postgres import Writer, multi_host_dsn


@pytest.fixture
def writer_factory():
    made: list[Writer] = []

    def make(*clusters) -> Writer:
        w = Writer(multi_host_dsn(*clusters))
        made.append(w)
        w.start()
        return w

    yield make
    for w in made:
        w.finish()


@pytest.fixture(scope="session")
def docker_engine():
    """Only what the db tier's tests need: dockerd and the simulated-VM host image (not every test image)."""
    import os
    import subprocess

    from testbed.images import HOST_IMAGE, build, build_base
    from tests.integration.harness.env import ROOT

    subprocess.run([os.path.join(ROOT, "scripts", "ensure-dockerd.sh")], check=True, capture_output=True)
    build_base()
    build(HOST_IMAGE)
    return True


@pytest.fixture(scope="module")
def fresh_db_hosts(sim_hosts):
    """db1 and db2 without a PostgreSQL cluster, before and after the module: a module that converges, fails
    over or fences them leaves nothing behind for the next one (a synchronous primary whose standby is gone
    would block every write that follows)."""
    from testbed.hosts import reset_postgres

    dbs = [c for n, c in sim_hosts.items() if n.startswith("db")]
    for c in dbs:
        reset_postgres(c)
    yield sim_hosts
    for c in dbs:
        reset_postgres(c)
