"""Shared fixtures: the real engines of the test bed (testbed/), started on demand, stopped by PID.

Engines are installed by scripts/bootstrap.sh; a missing engine is an error, never a skip. Only
../shared (schemas, present beside the project on development machines and CI, not on users'
machines) may be absent: tests that need it skip with the reason.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from testbed import hosts as tb_hosts  # noqa: E402
from testbed.images import build_all  # noqa: E402
from testbed.pg import PgCluster  # noqa: E402
from testbed.redis_server import RedisServer  # noqa: E402
from testbed.s3 import MotoServer, TlsFront  # noqa: E402

SHARED = os.environ.get("ODOOOPS_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
TEST_PREFIX = os.environ.get("ODOOOPS_TEST_PREFIX", "odooops-t-")
TEST_NETWORK = TEST_PREFIX + "lan"


def pytest_collection_modifyitems(config, items):
    # tests under tests/integration are integration tests unless marked otherwise
    for item in items:
        if f"{os.sep}integration{os.sep}" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def _alias_local_conftest(config, folder) -> None:
    """Let a test module's `from conftest import X` reach the conftest of its own folder.

    Several folders have a conftest.py; Python caches only one module named "conftest". Point that
    name at the closest conftest, as pytest resolves fixtures, before a test module is imported and
    before each test runs (some tests import from their conftest inside the test).
    """
    mods = config.pluginmanager._getconftestmodules(folder)
    if mods:
        sys.modules["conftest"] = mods[-1]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    if isinstance(collector, pytest.Module):
        _alias_local_conftest(collector.config, collector.path.parent)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    _alias_local_conftest(item.config, item.path.parent)
    return (yield)


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


class PlaybookRun:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def recap(self) -> dict:
        """host -> counters parsed from the PLAY RECAP."""
        out = {}
        in_recap = False
        for line in self.stdout.splitlines():
            if line.startswith("PLAY RECAP"):
                in_recap = True
                continue
            if in_recap and ":" in line and "ok=" in line:
                host, rest = line.split(":", 1)
                out[host.strip()] = {k: int(v) for k, v in (kv.split("=") for kv in rest.split())}
        return out

    def changed(self) -> int:
        return sum(h.get("changed", 0) for h in self.recap().values())

    def changed_tasks(self) -> list[str]:
        """'TASK name: changed: [host]' for every task result that reported a change (the first thing an
        idempotence failure should say: CI keeps only the end of a long output)."""
        found, task = [], ""
        for line in self.stdout.splitlines():
            if line.startswith("TASK ["):
                task = line[6:].split("]", 1)[0]
            elif line.startswith("changed: ["):
                found.append(f"{task}: {line.split(' =>', 1)[0]}")
        return found


def _run_until(cmd: list[str], env: dict, timeout: float, kill_when) -> subprocess.CompletedProcess:
    """Run cmd in a process group of its own; kill the group once kill_when() is true (returncode -9)."""
    import signal

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None:
                if kill_when() or time.monotonic() > deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                time.sleep(0.5)
        finally:
            proc.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())


@pytest.fixture(scope="session")
def ansible_playbook():
    """Run a playbook of the project against the tests' simulated hosts (or another inventory)."""

    def run(playbook: str, *args: str, inventory: str | None = None, extra_vars: dict | None = None,
            check: bool = False, env: dict | None = None, timeout: int = 1800, kill_when=None) -> PlaybookRun:
        """kill_when: a callable asked twice a second while the playbook runs; once it returns true, the whole
        ansible-playbook process group is killed (SIGKILL), as when the control node is lost."""
        # extra vars (secrets among them) go through a 0600 file, never on the command line where ps shows them
        fd, vars_file = tempfile.mkstemp(prefix="odooops-extra-vars-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump({"odooops_local_prefix": TEST_PREFIX, **(extra_vars or {})}, fh)
        cmd = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i",
               inventory or os.path.join(ROOT, "inventories", "local"), "-e", "@" + vars_file]
        vault_pass = os.path.join(ROOT, ".odooops", "vault-pass")
        if inventory is None and os.path.exists(vault_pass):
            # after `make demo`, inventories/local holds an encrypted vault.yml (playbooks/secrets_init.yml)
            cmd += ["--vault-password-file", vault_pass]
        if check:
            cmd.append("--check")
        cmd += [*args, os.path.join(ROOT, playbook) if not os.path.isabs(playbook) else playbook]
        full_env = {**os.environ, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                    "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", **(env or {})}
        try:
            if kill_when is None:
                proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=full_env, cwd=ROOT,
                                      timeout=timeout)
            else:
                proc = _run_until(cmd, full_env, timeout, kill_when)
        finally:
            os.unlink(vars_file)
        return PlaybookRun(proc)

    return run
