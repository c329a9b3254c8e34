#!/usr/bin/env python3
"""Benchmark (not a test): odooops backup/restore against Odoo's own database-manager method, same data, same run.

  .venv/bin/python bench/backup.py                 # ~1 GB database + ~0.5 GB filestore (several minutes)
  BENCH_SCALE=0.1 .venv/bin/python bench/backup.py # quick run at a tenth of the size
  BENCH_RESTORE_JOBS=4 ...                         # pg_restore jobs (default 2)

Ours: pg_dump -Fc -Z1 of an exported snapshot + the referenced filestore as a tar, both streamed concurrently,
encrypted (AES-256-GCM chunks) and uploaded as parallel multipart uploads to S3 (moto on loopback); restore =
download + verify + decrypt, pg_restore -j 2, filestore extraction.
Baseline (Odoo's database manager, web/controllers/database.py + service/db.py): pg_dump plain SQL into a file,
then one zip (deflate) of dump.sql + filestore/ + manifest.json, on one core; restore = unzip, one psql session,
filestore copy. The baseline writes its zip locally (no upload), which favours it.

Prints wall time, MB/s (of database size + filestore size), peak RSS of this process and its children (moto and
PostgreSQL excluded: they are the servers), and the ratios baseline/ours.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, ".collections"), os.path.join(ROOT, "tests", "integration", "backup")]

from backup_seed import SCHEMA, attachments_sql, make_filestore  # noqa: E402

from ansible_collections.odooops.hosting.plugins.module_utils.backup.backup import BackupRun  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import find_backup  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.backup.restore import restore_backup  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import s3_client  # noqa: E402
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import PgConn  # noqa: E402
from testbed.pg import PG_BIN, PgCluster  # noqa: E402
from testbed.s3 import ACCESS_KEY, SECRET_KEY, MotoServer  # noqa: E402

MB = 1024 * 1024
SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
RESTORE_JOBS = int(os.environ.get("BENCH_RESTORE_JOBS", "2"))

EXTRA = """
CREATE TABLE mail_message (id serial PRIMARY KEY, model varchar, res_id int, author_id int, date timestamp,
                           subject varchar, body text);
CREATE INDEX mail_message_model_res_idx ON mail_message (model, res_id);
CREATE INDEX mail_message_date_idx ON mail_message (date);
CREATE TABLE stock_move (id serial PRIMARY KEY, product_id int, product_qty numeric, state varchar, date timestamp,
                         reference varchar, location_id int, location_dest_id int);
CREATE INDEX stock_move_product_idx ON stock_move (product_id);
CREATE INDEX stock_move_date_idx ON stock_move (date);
CREATE INDEX stock_move_reference_idx ON stock_move (reference);
"""


def generate(pg: PgCluster, db: str, fs_root: str) -> dict:
    def n(x):
        return max(1, int(x * SCALE))
    pg.psql(f'CREATE DATABASE "{db}"')
    pg.psql(SCHEMA + EXTRA, dbname=db)
    pg.psql(f"""
INSERT INTO ir_module_module (name, state, latest_version) VALUES ('base', 'installed', '17.0.1.3'),
  ('stock', 'installed', '17.0.1.1'), ('point_of_sale', 'installed', '17.0.1.0.1');
INSERT INTO res_partner (name, email, phone, street, city, comment) SELECT 'Partner ' || g,
  'p' || g || '@example.com', '+32 2 ' || g, g || ' Main Street', 'City ' || (g % 97), repeat(md5(g::text), 3)
  FROM generate_series(1, {n(200000)}) g;
INSERT INTO product_template (name, list_price, description) SELECT jsonb_build_object('en_US', 'Product ' || g,
  'fr_FR', 'Produit ' || g), (g % 1000) / 10.0, repeat(md5(g::text), 6) FROM generate_series(1, {n(50000)}) g;
INSERT INTO product_product (product_tmpl_id, default_code) SELECT id, 'SKU-' || id FROM product_template;
INSERT INTO stock_quant (product_id, quantity) SELECT id, id % 50 FROM product_product;
""", dbname=db)
    mails, moves = n(1_000_000), n(3_000_000)
    for i in range(0, mails, 100_000):
        pg.psql(f"""
INSERT INTO mail_message (model, res_id, author_id, date, subject, body) SELECT 'sale.order', g % 50000, g % 1000,
  now() - (g || ' minutes')::interval, 'Order SO' || g, '<p>' || repeat(md5(g::text || random()::text) || ' ', 9)
  || '</p>' FROM generate_series({i + 1}, {min(i + 100_000, mails)}) g;
INSERT INTO stock_move (product_id, product_qty, state, date, reference, location_id, location_dest_id)
  SELECT g % 50000 + 1, g % 17, 'done', now() - (g || ' seconds')::interval, 'WH/OUT/' || g, 8, 9
  FROM generate_series({3 * i + 1}, {min(3 * i + 300_000, moves)}) g;
""", dbname=db)
    pg.psql("VACUUM ANALYZE", dbname=db)
    fs = os.path.join(fs_root, db)
    files = make_filestore(fs, n(20000), size=25 * 1024)
    for i in range(0, len(files), 5000):
        pg.psql(attachments_sql(files[i: i + 5000]), dbname=db)
    db_bytes = int(pg.psql(f"SELECT pg_database_size('{db}')"))
    fs_bytes = sum(s for _path, s in files)
    return {"db_bytes": db_bytes, "fs_bytes": fs_bytes, "files": len(files)}


class PeakRss(threading.Thread):
    """Peak RSS of this process plus its descendants, minus excluded process trees (the servers)."""

    def __init__(self, exclude: set[int]):
        super().__init__(daemon=True)
        self.exclude = exclude
        self.peak = 0
        self.stop_flag = threading.Event()

    @staticmethod
    def _tree() -> dict[int, int]:
        parent = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat", encoding="utf-8") as fh:
                        parent[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        return parent

    @staticmethod
    def _rss(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/statm", encoding="utf-8") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return 0

    def sample(self) -> int:
        parent = self._tree()
        mine, frontier = {os.getpid()}, [os.getpid()]
        while frontier:
            p = frontier.pop()
            for child, par in parent.items():
                if par == p and child not in mine and child not in self.exclude:
                    mine.add(child)
                    frontier.append(child)
        return sum(self._rss(p) for p in mine)

    def run(self):
        while not self.stop_flag.is_set():
            self.peak = max(self.peak, self.sample())
            time.sleep(0.2)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.join()


def measure(label, fn, exclude):
    with PeakRss(exclude) as mem:
        t0 = time.monotonic()
        out = fn()
        wall = time.monotonic() - t0
    return {"label": label, "wall_s": wall, "peak_rss_mb": mem.peak / MB, "out": out}


def odoo_backup(pg: PgCluster, db: str, fs_dir: str, out_zip: str) -> int:
    """As Odoo's dump_db(): pg_dump --no-owner to dump.sql in a temp dir, filestore copied in, one zip."""
    with tempfile.TemporaryDirectory(dir=os.path.dirname(out_zip)) as tmp:
        env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(pg.port), "PGUSER": "postgres"}
        subprocess.run([f"{PG_BIN}/pg_dump", "--no-owner", "-f", os.path.join(tmp, "dump.sql"), db], check=True,
                       env=env)
        shutil.copytree(fs_dir, os.path.join(tmp, "filestore"))
        with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as fh:
            json.dump({"odoo_dump": "1", "db_name": db}, fh)
        with zipfile.ZipFile(out_zip, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for root, _dirs, files in os.walk(tmp):
                for name in sorted(files):
                    path = os.path.join(root, name)
                    zf.write(path, os.path.relpath(path, tmp))
    return os.path.getsize(out_zip)


def odoo_restore(pg: PgCluster, zip_path: str, db: str, fs_root: str) -> None:
    """As Odoo's restore_db(): unzip, createdb, one psql session, filestore moved into place."""
    with tempfile.TemporaryDirectory(dir=os.path.dirname(zip_path)) as tmp:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(pg.port), "PGUSER": "postgres"}
        subprocess.run([f"{PG_BIN}/createdb", "-T", "template0", db], check=True, env=env)
        subprocess.run([f"{PG_BIN}/psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", db, "-f",
                        os.path.join(tmp, "dump.sql")], check=True, env=env, stdout=subprocess.DEVNULL)
        shutil.move(os.path.join(tmp, "filestore"), os.path.join(fs_root, db))


def main() -> int:
    work = tempfile.mkdtemp(prefix="odooops-bench-", dir="/var/tmp")
    pg = PgCluster("bench").init({"shared_buffers": "'256MB'", "max_wal_size": "'4GB'",
                                  "maintenance_work_mem": "'256MB'"}).start()
    moto = MotoServer().start()
    try:
        fs_root = os.path.join(work, "filestore")
        print(f"scale {SCALE}: generating data... (load average {os.getloadavg()[0]:.2f} on "
              f"{os.cpu_count()} cores)", flush=True)
        t0 = time.monotonic()
        sizes = generate(pg, "shop", fs_root)
        total_mb = (sizes["db_bytes"] + sizes["fs_bytes"]) / MB
        print(f"  database {sizes['db_bytes'] / MB:.0f} MB, filestore {sizes['fs_bytes'] / MB:.0f} MB in "
              f"{sizes['files']} files (generated in {time.monotonic() - t0:.0f} s)", flush=True)
        exclude = {moto.proc.pid}
        s3 = s3_client(endpoint_url=moto.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        s3.create_bucket(Bucket="bench")
        conn = PgConn(host="127.0.0.1", port=pg.port, user="postgres")
        ring = {"k1": base64.b64decode(base64.b64encode(os.urandom(32)))}
        results = []

        print(f"load average before the measurements: {os.getloadavg()[0]:.2f}", flush=True)
        results.append(measure("baseline backup (Odoo zip)", lambda: odoo_backup(
            pg, "shop", os.path.join(fs_root, "shop"), os.path.join(work, "odoo.zip")), exclude))
        results.append(measure("odooops backup (upload incl.)", lambda: BackupRun(
            conn, s3, db_name="shop", bucket="bench", filestore_dir=os.path.join(fs_root, "shop"), key_ring=ring,
            key_id="k1", compress=1).run(), exclude))
        entry = find_backup(s3, "bench", "backups/", "shop")
        results.append(measure("baseline restore (psql)", lambda: odoo_restore(
            pg, os.path.join(work, "odoo.zip"), "shop_base", fs_root), exclude))
        results.append(measure("odooops restore (download incl.)", lambda: restore_backup(
            conn, s3, "bench", entry, "shop_ours", filestore_root=fs_root, key_ring=ring, jobs=RESTORE_JOBS,
            workdir=work), exclude))

        stored = sum(p["size"] for p in entry.manifest["odooops"]["parts"])
        print(f"\nbaseline zip {results[0]['out'] / MB:.0f} MB; odooops parts {stored / MB:.0f} MB (encrypted)")
        print(f"{'':36} {'wall s':>8} {'MB/s':>8} {'peak RSS MB':>12}")
        for r in results:
            print(f"{r['label']:36} {r['wall_s']:8.1f} {total_mb / r['wall_s']:8.1f} {r['peak_rss_mb']:12.0f}")
        print(f"odooops backup streams: {results[1]['out']['odooops']['timings']} "
              f"(of {results[1]['out']['odooops']['duration_s']} s)")
        print(f"odooops restore phases: {results[3]['out']['timings']}")
        print(f"load average after the measurements: {os.getloadavg()[0]:.2f} (1 min), "
              f"{os.getloadavg()[1]:.2f} (5 min), {os.getloadavg()[2]:.2f} (15 min)")
        print(f"\nbackup speed-up  (baseline / ours): {results[0]['wall_s'] / results[1]['wall_s']:.2f}x")
        print(f"restore speed-up (baseline / ours): {results[2]['wall_s'] / results[3]['wall_s']:.2f}x")
        check = pg.psql("SELECT (SELECT count(*) FROM mail_message) || '/' || (SELECT count(*) FROM stock_move)",
                        dbname="shop_ours")
        print(f"restored rows mail_message/stock_move: {check}")
        return 0
    finally:
        moto.stop()
        pg.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
