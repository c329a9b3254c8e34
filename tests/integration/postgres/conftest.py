"""Helpers for the PostgreSQL tier's tests: a continuous writer through libpq multi-host settings."""
from __future__ import annotations

import threading
import time

import psycopg2
import pytest


class Writer(threading.Thread):
    """Inserts numbered rows as fast as it can, one commit each, through a libpq multi-host DSN.

    `acked` holds every id whose COMMIT returned successfully: those must survive any switchover or
    failover. Reconnects on error, like an application server would.
    """

    def __init__(self, dsn: str, table: str = "ledger", start: int = 1):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.table = table
        self.acked: list[int] = []
        self.errors = 0
        self.stop_event = threading.Event()
        self.gaps: list[float] = []  # seconds between consecutive acknowledged commits
        self._next = start

    def run(self):
        conn = None
        last_ok = None
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = psycopg2.connect(self.dsn)
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"insert into {self.table}(id) values (%s)", (self._next,))
                self.acked.append(self._next)
                now = time.monotonic()
                if last_ok is not None:
                    self.gaps.append(now - last_ok)
                last_ok = now
                self._next += 1
            except psycopg2.Error:
                self.errors += 1
                self._next += 1  # the outcome of that id is unknown: never reuse it
                try:
                    if conn is not None:
                        conn.close()
                except psycopg2.Error:
                    pass
                conn = None
                time.sleep(0.05)
            time.sleep(0.002)
        if conn is not None:
            conn.close()

    def wait_acked(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.acked)
        while len(self.acked) < start + count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"writer acknowledged only {len(self.acked) - start} of {count} new rows")
            time.sleep(0.02)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(30)


def multi_host_dsn(*clusters) -> str:
    hosts = ",".join("127.0.0.1" for _unused in clusters)
    ports = ",".join(str(c.port) for c in clusters)
    return (f"host={hosts} port={ports} dbname=postgres user=postgres target_session_attrs=read-write "
            f"connect_timeout=2 keepalives=1 keepalives_idle=1 keepalives_interval=1 keepalives_count=3 "
            f"tcp_user_timeout=3000")


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

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    subprocess.run([os.path.join(root, "scripts", "ensure-dockerd.sh")], check=True, capture_output=True)
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
