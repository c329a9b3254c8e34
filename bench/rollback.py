#!/usr/bin/env python3
"""Benchmark (not a test): rollback of a failed upgrade vs restoring the latest backup, same data, same run.

  .venv/bin/python bench/rollback.py                      # databases of 0.5 GB and 2 GB (several minutes)
  BENCH_SIZES_GB=0.05,0.2 .venv/bin/python bench/rollback.py   # quick run

Set up: a real PostgreSQL 15 cluster (testbed), the Odoo test double's image 17.0-a serving on the host network,
its database grown to each size with a payload table, a filestore of 1,000 files in the data volume.

Rollback (ours), from the failed update (17.0-b, told to fail) to the old version serving (health + JSON-RPC login):
  the pre-upgrade snapshot (CREATE DATABASE ... STRATEGY FILE_COPY, hard-linked filestore) swapped back by renames,
  the old web container started again.
Baseline, from the same point: the database dropped and restored from the latest backup (pg_dump -Fc -Z1, taken
beforehand, not timed) with pg_restore -j 2, the filestore restored from its tar, the old container started.

Also the maintenance window of a successful upgrade (17.0-a -> 17.0-b) and its stages.
The cluster runs with fsync=off (test bed), which favours the baseline's writes more than the renames.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import health as odoo_health  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.odoo import modules as um  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import Engine  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.filestore import VolumeFilestore  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import snapshot as snap  # noqa: E402
from testbed.images import build_all  # noqa: E402
from testbed.pg import PG_BIN, PgCluster  # noqa: E402
from testbed.procs import free_port, run  # noqa: E402

IMAGE_A = "odooops/odoo-double:17.0-a"
IMAGE_B = "odooops/odoo-double:17.0-b"
NAME = f"odooops-bench-rb-{uuid.uuid4().hex[:6]}"
GB = 1024 ** 3


def docker(*args: str, check: bool = True) -> str:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {res.stderr[-500:]}")
    return res.stdout.strip()


class Bench:
    def __init__(self):
        self.pg = PgCluster("bench-rollback").init({"max_wal_size": "'4GB'", "shared_buffers": "'256MB'"}).start()
        self.password = "bench-" + uuid.uuid4().hex
        self.pg.psql("CREATE ROLE odoo_owner NOLOGIN CREATEDB;"
                     f"CREATE ROLE odoo LOGIN PASSWORD '{self.password}' IN ROLE odoo_owner;"
                     "ALTER ROLE odoo SET role = 'odoo_owner';")
        self.dir = tempfile.mkdtemp(prefix="bench-rollback-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "odoo.conf")
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write("[options]\n" + "".join(f"{k} = {v}\n" for k, v in {
                "db_user": "odoo", "db_password": self.password, "db_name": "odoo", "data_dir": "/var/lib/odoo",
                "http_port": self.port, "http_interface": "127.0.0.1", "list_db": "False",
                "max_cron_threads": 0}.items()))
        os.chown(self.conf, 101, 101)
        os.chmod(self.conf, 0o600)
        self.volume = NAME + "-data"
        self.engine = Engine()
        self.params = {"login_host": self.pg.sockdir, "login_port": self.pg.port, "login_user": "postgres"}
        self.web = NAME + "-web-a"

    def run_args(self, image: str, env: dict | None = None) -> list[str]:
        args = ["--network", "host", "--label", "org.odooops.bench=1", "-v", f"{self.volume}:/var/lib/odoo",
                "-v", f"{self.conf}:/etc/odoo/odoo.conf:ro", "-e", "PGHOST=127.0.0.1", "-e", f"PGPORT={self.pg.port}"]
        for k, v in (env or {}).items():
            args += ["-e", f"{k}={v}"]
        return args + [image]

    def setup(self) -> None:
        docker("volume", "create", "--label", "org.odooops.bench=1", self.volume)
        docker("run", "--rm", *self.run_args(IMAGE_A), "-c", "/etc/odoo/odoo.conf", "-d", "odoo", "-i",
               "stock,point_of_sale,sale_management", "--stop-after-init", "--without-demo")
        docker("run", "--rm", "--user", "101:101", "-v", f"{self.volume}:/d", "--entrypoint", "/bin/sh", IMAGE_A, "-c",
               "cd /d/filestore/odoo && for i in $(seq 1 1000); do d=$(printf %02x $((i % 256))); mkdir -p $d; "
               "head -c 20000 /dev/urandom > $d/f$i; done")
        docker("run", "-d", "--name", self.web, *self.run_args(IMAGE_A))
        self.healthy()
        self.pg.psql("SET ROLE odoo_owner; CREATE TABLE bench_payload (id bigserial PRIMARY KEY, body text);",
                     dbname="odoo")

    def healthy(self, wait: float = 60) -> float:
        start = time.monotonic()
        res = odoo_health.wait_healthy(f"http://127.0.0.1:{self.port}", wait, interval=0.05, database="odoo",
                                       login="admin", password="admin", timeout=3)
        if not res["healthy"]:
            raise RuntimeError(f"Odoo not healthy: {res['failures']}")
        return time.monotonic() - start

    def db_size(self) -> int:
        return int(self.pg.psql("SELECT pg_database_size('odoo')"))

    def grow(self, target: int) -> None:
        while self.db_size() < target:
            rows = max(50_000, min(1_000_000, (target - self.db_size()) // 330))
            self.pg.psql(f"INSERT INTO bench_payload (body) SELECT repeat(md5(g::text || random()::text), 8) "
                         f"FROM generate_series(1, {rows}) g", dbname="odoo")
        self.pg.psql("VACUUM ANALYZE bench_payload", dbname="odoo")

    def failed_update(self, admin) -> None:
        """Maintenance, snapshot, and an update that fails (the state a rollback starts from)."""
        docker("stop", "-t", "10", self.web)
        snap.create_db_snapshot(admin, "odoo", replace=True)
        VolumeFilestore(self.engine, self.volume, IMAGE_A).create("odoo", replace=True)
        spec = um.ContainerSpec(self.engine, like_container=self.web, env=["ODOO_DOUBLE_FAIL_UPDATE=1"])
        res = um.run_update(self.engine, IMAGE_B, spec, "odoo", ["stock", "point_of_sale"], "/etc/odoo/odoo.conf",
                            [], 120)
        assert res["exit_code"] == 255, res

    def rollback(self, admin) -> float:
        start = time.monotonic()
        snap.restore_db_snapshot(admin, "odoo", keep_failed=True)
        t_db = time.monotonic()
        VolumeFilestore(self.engine, self.volume, IMAGE_A).restore("odoo", keep_failed=True)
        t_fs = time.monotonic()
        docker("start", self.web)
        self.healthy()
        end = time.monotonic()
        self.parts = {"database swap": round(t_db - start, 2),
                      "filestore swap (helper container)": round(t_fs - t_db, 2),
                      "old container started + healthy": round(end - t_fs, 2)}
        # the failed copies are kept by the playbook for analysis; dropped here, outside the measured time
        for info in snap.list_snapshots(admin, "odoo"):
            if info["kind"] == "failed":
                snap.drop_db_snapshot(admin, info["name"], db="odoo")
        return end - start

    def backup(self) -> tuple[str, str]:
        dump = os.path.join(self.dir, "odoo.dump")
        shutil.chown(self.dir, "postgres")
        run([f"{PG_BIN}/pg_dump", "-h", self.pg.sockdir, "-p", str(self.pg.port), "-U", "postgres", "-Fc", "-Z1",
             "-f", dump, "odoo"], user="postgres", timeout=3600)
        tar = os.path.join(self.dir, "filestore.tar")
        docker("run", "--rm", "-v", f"{self.volume}:/d:ro", "-v", f"{self.dir}:/out", "--entrypoint", "/bin/sh",
               IMAGE_A, "-c", "tar -C /d/filestore -cf /out/filestore.tar odoo")
        return dump, tar

    def restore_from_backup(self, dump: str) -> float:
        start = time.monotonic()
        self.pg.psql("DROP DATABASE odoo WITH (FORCE)")
        self.pg.psql("CREATE DATABASE odoo OWNER odoo_owner")
        run([f"{PG_BIN}/pg_restore", "-h", self.pg.sockdir, "-p", str(self.pg.port), "-U", "postgres", "-j", "2",
             "--no-owner", "--role=odoo_owner", "-d", "odoo", dump], user="postgres", timeout=3600)
        docker("run", "--rm", "-v", f"{self.volume}:/d", "-v", f"{self.dir}:/in:ro", "--entrypoint", "/bin/sh",
               IMAGE_A, "-c", "rm -rf /d/filestore/odoo && tar -C /d/filestore -xpf /in/filestore.tar")
        docker("start", self.web)
        self.healthy()
        return time.monotonic() - start

    def successful_upgrade(self, admin) -> dict:
        stages, t0 = {}, time.monotonic()
        t = t0
        docker("stop", "-t", "10", self.web)
        stages["maintenance"], t = time.monotonic() - t, time.monotonic()
        snap.create_db_snapshot(admin, "odoo", replace=True)
        fs = VolumeFilestore(self.engine, self.volume, IMAGE_A)
        fs.create("odoo", replace=True)
        stages["snapshot"], t = time.monotonic() - t, time.monotonic()
        spec = um.ContainerSpec(self.engine, like_container=self.web)
        conn = pgu.connect(self.params, dbname="odoo")
        plan = um.plan(self.engine, conn, IMAGE_B, spec, "/etc/odoo/odoo.conf", um.DEFAULT_ADDONS_PATHS, "changed")
        conn.close()
        res = um.run_update(self.engine, IMAGE_B, spec, "odoo", plan["to_update"], "/etc/odoo/odoo.conf", [], 600)
        assert res["exit_code"] == 0, res
        stages["update"], t = time.monotonic() - t, time.monotonic()
        new = NAME + "-web-b"
        docker("run", "-d", "--name", new, *self.run_args(IMAGE_B))
        stages["open"], t = time.monotonic() - t, time.monotonic()
        self.healthy()
        stages["verify"], t = time.monotonic() - t, time.monotonic()
        snap.drop_db_snapshot(admin, "odoo__pre_upgrade", db="odoo")
        fs.drop("odoo")
        stages["cleanup (after opening)"] = time.monotonic() - t
        stages["maintenance window"] = sum(v for k, v in stages.items() if k not in ("cleanup (after opening)",))
        return {k: round(v, 2) for k, v in stages.items()}

    def cleanup(self) -> None:
        ids = docker("ps", "-aq", "--filter", "label=org.odooops.bench=1", check=False).split()
        for cid in ids:
            info = json.loads(docker("inspect", cid, check=False) or "[{}]")[0]
            if info.get("Name", "").lstrip("/").startswith(NAME):
                docker("rm", "-f", "-v", cid, check=False)
        docker("volume", "rm", "-f", self.volume, check=False)
        self.pg.destroy()
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> None:
    sizes = [float(x) for x in os.environ.get("BENCH_SIZES_GB", "0.5,2").split(",")]
    build_all()
    bench = Bench()
    rows = []
    try:
        bench.setup()
        for size in sorted(sizes):
            bench.grow(int(size * GB))
            actual = bench.db_size() / GB
            dump, _unused = bench.backup()
            admin = pgu.connect(bench.params)
            bench.failed_update(admin)
            ours = bench.rollback(admin)
            bench.failed_update(admin)
            base = bench.restore_from_backup(dump)
            snap.drop_db_snapshot(admin, "odoo__pre_upgrade", db="odoo")
            admin.close()
            rows.append((size, actual, ours, base))
            print(f"  rollback parts (s): {json.dumps(bench.parts)}", flush=True)
            print(f"database {actual:.2f} GB: rollback {ours:.2f} s, restore from backup {base:.2f} s, "
                  f"ratio restore/rollback {base / ours:.1f}x", flush=True)
        admin = pgu.connect(bench.params)
        stages = bench.successful_upgrade(admin)
        admin.close()
    finally:
        bench.cleanup()
    print()
    print("Rollback of a failed upgrade (failed update -> old version serving, health + JSON-RPC login verified)")
    print(f"{'database':>10} {'rollback (s)':>13} {'restore from backup (s)':>24} {'restore / rollback':>19}")
    for _unused, actual, ours, base in rows:
        print(f"{actual:>8.2f} GB {ours:>13.2f} {base:>24.2f} {base / ours:>18.1f}x")
    if len(rows) > 1:
        (_name0, s0, r0, b0), (_name1, s1, r1, b1) = rows[0], rows[-1]
        print(f"size x{s1 / s0:.1f}: rollback x{r1 / r0:.2f}, restore from backup x{b1 / b0:.2f}")
    print()
    print(f"Successful upgrade 17.0-a -> 17.0-b at {rows[-1][1]:.2f} GB, stages (s): {json.dumps(stages)}")
    over = stages["maintenance window"] - stages["update"]
    print(f"maintenance window {stages['maintenance window']:.2f} s = the update's own {stages['update']:.2f} s "
          f"+ {over:.2f} s (goal: at most + 20 s); rollback at {rows[-1][1]:.2f} GB: {rows[-1][2]:.2f} s (goal: 5 s)")


if __name__ == "__main__":
    main()
