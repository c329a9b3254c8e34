# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Odoo-consistent backup of one database and its filestore, streamed to S3.

"The same moment": a REPEATABLE READ transaction exports its snapshot (``pg_export_snapshot()``) and is
held open while ``pg_dump --snapshot`` dumps exactly that snapshot. In the same transaction we read the
list of filestore files referenced by ``ir_attachment.store_fname``. Odoo's filestore is content-addressed
(the file name is the sha1 of its content) and files are never rewritten in place, so the files referenced
by the snapshot can be read after it was taken and are exactly the bytes the snapshot points to. Files
created after the snapshot are not referenced and not included. (Odoo's file-store garbage collector may
remove a file only after its attachment row is deleted; a file deleted between snapshot and tar is
recorded as missing in the manifest.) Without an ``ir_attachment`` table, every file is included.

Layout under ``<prefix><db_name>/<backup_id>/``:
  ``db.dump[.enc]``        pg_dump custom format (restorable with ``pg_restore -j N``)
  ``filestore.tar[.enc]``  tar stream of the filestore (paths relative to ``filestore/<db>``)
  ``odoo.zip[.enc]``       optional: Odoo database-manager zip (dump.sql + filestore/ + manifest.json)
  ``manifest.json``        written LAST; without it the backup is incomplete and never listed as good.

Parts are produced concurrently (database and filestore in two threads), each streamed through optional
AES-256-GCM chunk encryption into a parallel multipart upload: no local copy, memory bounded by part size.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import zipfile

from ansible_collections.odooops.hosting.plugins.module_utils.backup.crypto import (
    ALGORITHM,
    DEFAULT_CHUNK,
    EncryptingWriter,
    key_check,
)
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import (
    MIB,
    S3Error,
    S3StreamWriter,
    normalise_prefix,
)
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import PgConn, PostgresError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PART_DB = "db.dump"
PART_FS = "filestore.tar"
PART_ZIP = "odoo.zip"
ENC_SUFFIX = ".enc"
KEY_TABLES = ["res_partner", "res_users", "res_company", "product_template", "product_product", "stock_quant",
              "stock_move", "sale_order", "account_move", "pos_order", "pos_session", "ir_attachment",
              "ir_module_module"]
ID_FORMAT = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """The backup could not be taken; nothing was marked complete (no manifest written)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_backup_id(now: dt.datetime | None = None) -> str:
    return (now or utcnow()).strftime(ID_FORMAT) + "-" + secrets.token_hex(2)


def parse_backup_id(backup_id: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(backup_id[:16], ID_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def backup_dir(prefix: str, db_name: str, backup_id: str) -> str:
    return f"{normalise_prefix(prefix)}{db_name}/{backup_id}/"


def iso(ts: dt.datetime | None) -> str | None:
    return ts.astimezone(dt.UTC).isoformat() if ts else None


# -- what the snapshot says ------------------------------------------------------------------------------
def _table_exists(cur, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{name}",))
    return cur.fetchone()[0]


def odoo_version_fields(base_version: str | None) -> dict:
    """Odoo's manifest version fields from base's latest_version (e.g. '17.0.1.3' -> '17.0')."""
    if not base_version:
        return {"version": None, "version_info": None, "major_version": None}
    parts = base_version.split(".")
    major = ".".join(parts[:2])
    try:
        info = [int(parts[0]), int(parts[1]), 0, "final", 0, ""]
    except (ValueError, IndexError):
        info = None
    return {"version": major, "version_info": info, "major_version": major}


def read_snapshot_facts(cur, statistics_tables: list[str] | None = None, counts: bool = True) -> dict:
    """Modules, versions, row counts and referenced filestore files, read inside the held snapshot.

    counts=False leaves the row counts out (``count_rows`` reads them later in the same snapshot, while the
    dump already runs: a count(*) of a big table is a full scan)."""
    facts: dict = {"modules": {}, "statistics": {}, "referenced": None}
    cur.execute("SHOW server_version_num")
    num = int(cur.fetchone()[0])
    facts["pg_version"] = f"{num // 10000}.{num % 10000}" if num >= 100000 else f"{num // 10000}.{num // 100 % 100}"
    if _table_exists(cur, "ir_module_module"):
        cur.execute("SELECT name, latest_version FROM ir_module_module WHERE state = 'installed' ORDER BY name")
        facts["modules"] = dict(cur.fetchall())
    facts.update(odoo_version_fields(facts["modules"].get("base")))
    if counts:
        facts["statistics"] = count_rows(cur, statistics_tables)
    if _table_exists(cur, "ir_attachment"):
        cur.execute("SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND table_name = 'ir_attachment' AND column_name = 'store_fname')")
        if cur.fetchone()[0]:
            cur.execute("SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname IS NOT NULL "
                        "AND store_fname <> ''")
            facts["referenced"] = sorted(r[0] for r in cur.fetchall())
    return facts


def count_rows(cur, statistics_tables: list[str] | None = None) -> dict:
    """Row counts of the key tables (those that exist), in the cursor's snapshot."""
    out = {}
    for table in statistics_tables if statistics_tables is not None else KEY_TABLES:
        if _table_exists(cur, table):
            cur.execute(f'SELECT count(*) FROM public."{table}"')  # noqa: S608 - name checked by to_regclass
            out[table] = cur.fetchone()[0]
    return out


def safe_member(name: str) -> bool:
    """A filestore path we accept in a tar: relative, no '..', no absolute path."""
    return bool(name) and not name.startswith("/") and ".." not in name.split("/")


def filestore_entries(filestore_dir: str, referenced: list[str] | None) -> tuple[list[str], list[str]]:
    """(files to include, referenced files missing). All files when referenced is None."""
    if referenced is None:
        files = []
        if os.path.isdir(filestore_dir):
            for root, _dirs, names in os.walk(filestore_dir):
                for name in names:
                    files.append(os.path.relpath(os.path.join(root, name), filestore_dir))
        return sorted(files), []
    present, missing = [], []
    for rel in referenced:
        if safe_member(rel) and os.path.isfile(os.path.join(filestore_dir, rel)):
            present.append(rel)
        else:
            missing.append(rel)
    return present, missing


# -- the backup ------------------------------------------------------------------------------------------
class BackupRun:
    """One backup; see the module docstring. Call run() -> manifest dict."""

    def __init__(self, pg: PgConn, s3, *, db_name: str, bucket: str, prefix: str = "backups/",
                 filestore_dir: str | None = None, key_ring: dict | None = None, key_id: str | None = None,
                 compress: int = 1, lock_mode: str | None = None, lock_days: int = 0, tags: dict | None = None,
                 sse_kms_key_id: str | None = None, odoo_zip: bool = False, part_size: int = 16 * MIB,
                 concurrency: int = 4, statistics_tables: list[str] | None = None, backup_id: str | None = None,
                 source_host: str | None = None, now: dt.datetime | None = None, odoo_release: dict | None = None):
        self.pg = pg
        self.dump_pg = pg  # aimed at the server holding the snapshot once it is exported (_run)
        self.s3 = s3
        self.db_name = db_name
        self.bucket = bucket
        self.prefix = normalise_prefix(prefix)
        self.filestore_dir = filestore_dir
        self.key_ring = key_ring or {}
        self.key_id = key_id
        self.compress = compress
        self.lock_mode = lock_mode
        self.lock_days = lock_days
        self.tags = dict(tags or {})
        self.sse_kms_key_id = sse_kms_key_id
        self.odoo_zip = odoo_zip
        self.part_size = part_size
        self.concurrency = concurrency
        self.statistics_tables = statistics_tables
        # Odoo's release as its own dump manifest writes it (upgrade_modules.read_image_release: version such as
        # 18.0+e-20241005, version_info, major_version); without it, the series from base's latest_version
        self.odoo_release = odoo_release
        self.started = now or utcnow()
        self.backup_id = backup_id or new_backup_id(self.started)
        self.source_host = source_host or socket.getfqdn()
        self.dir = backup_dir(self.prefix, db_name, self.backup_id)
        self.writers: list[S3StreamWriter] = []
        self.procs: list[subprocess.Popen] = []
        self.validate()

    # checks before anything is written ---------------------------------------------------------------
    def validate(self) -> None:
        if self.key_id and self.key_id not in self.key_ring:
            raise BackupError(f"encryption key id {self.key_id!r} is not in the key ring "
                              f"({', '.join(sorted(self.key_ring)) or 'empty'})")
        if self.lock_mode and self.lock_days <= 0:
            raise BackupError("lock_mode needs lock_days > 0")
        if self.lock_mode and self.lock_mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise BackupError("lock_mode must be GOVERNANCE or COMPLIANCE")
        if not 0 <= self.compress <= 9:
            raise BackupError("compress must be between 0 and 9")
        if "/" in self.db_name:
            raise BackupError("database name must not contain '/'")

    @property
    def retain_until(self) -> dt.datetime | None:
        return self.started + dt.timedelta(days=self.lock_days) if self.lock_mode else None

    def extra_args(self) -> dict:
        extra: dict = {}
        if self.lock_mode:
            extra["ObjectLockMode"] = self.lock_mode
            extra["ObjectLockRetainUntilDate"] = self.retain_until
        tags = {"odooops-db": self.db_name, "odooops-backup-id": self.backup_id, **self.tags}
        extra["Tagging"] = urllib.parse.urlencode(tags)
        if self.sse_kms_key_id:
            extra["ServerSideEncryption"] = "aws:kms"
            extra["SSEKMSKeyId"] = self.sse_kms_key_id
        return extra

    def _writer(self, name: str):
        """(sink to write plaintext into, S3 writer, final part name)."""
        part = name + (ENC_SUFFIX if self.key_id else "")
        s3w = S3StreamWriter(self.s3, self.bucket, self.dir + part, part_size=self.part_size,
                             concurrency=self.concurrency, extra_args=self.extra_args())
        self.writers.append(s3w)
        sink = EncryptingWriter(s3w, self.key_ring[self.key_id], self.key_id) if self.key_id else s3w
        return sink, s3w, part

    # producers ---------------------------------------------------------------------------------------
    def _pg_dump(self, snapshot: str, sink, plain: bool = False) -> int:
        args = [self.dump_pg.tool("pg_dump"), f"--snapshot={snapshot}", "--no-password"]
        args += ["-Fp", "--no-owner"] if plain else ["-Fc", f"-Z{self.compress}"]
        with self.dump_pg.env(self.db_name) as env, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env)
            self.procs.append(proc)
            total = 0
            try:
                for data in iter(lambda: proc.stdout.read(MIB), b""):
                    sink.write(data)
                    total += len(data)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            rc = proc.wait()
            if rc != 0:
                err.seek(0)
                raise BackupError(f"pg_dump of {self.db_name} failed (exit {rc}): "
                                  f"{err.read().decode(errors='replace').strip()[-2000:]}")
        return total

    def _tar_filestore(self, files: list[str], sink) -> int:
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for rel in files:
                info = tar.gettarinfo(os.path.join(self.filestore_dir, rel), arcname=rel)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                with open(os.path.join(self.filestore_dir, rel), "rb") as fh:
                    tar.addfile(info, fh)
        return sum(os.path.getsize(os.path.join(self.filestore_dir, r)) for r in files)

    def _odoo_zip(self, snapshot: str, files: list[str], odoo_manifest: dict, sink) -> None:
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                             allowZip64=True) as zf:
            with zf.open("dump.sql", "w", force_zip64=True) as dst:
                self._pg_dump(snapshot, dst, plain=True)
            for rel in files:
                zf.write(os.path.join(self.filestore_dir, rel), "filestore/" + rel)
            zf.writestr("manifest.json", json.dumps(odoo_manifest, indent=4))

    def _finish_part(self, sink, s3w: S3StreamWriter, part: str, kind: str, fmt: str, extra: dict) -> dict:
        plain = getattr(sink, "plain_size", None)
        if sink is not s3w:
            sink.close()
        info = s3w.close()
        return {"name": part, "kind": kind, "format": fmt, "size": info["size"], "sha256": info["sha256"],
                "plain_size": plain if plain is not None else info["size"], **extra}

    # the run -----------------------------------------------------------------------------------------
    def run(self) -> dict:
        try:
            return self._run()
        except Exception:
            for w in self.writers:
                w.abort()
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            raise

    def _run(self) -> dict:
        conn = self.pg.connect(self.db_name, autocommit=False)
        # the server that holds the snapshot (with a host list: the primary libpq chose); pg_dump must import
        # the snapshot there, so it is given that host:port, never the list again
        self.dump_pg = self.pg.reached(conn)
        served = self.dump_pg.effective_host or "socket"
        try:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with conn.cursor() as cur:
                cur.execute("SELECT pg_export_snapshot(), now()")
                snapshot, snapshot_at = cur.fetchone()
                facts = read_snapshot_facts(cur, self.statistics_tables, counts=False)
                if self.odoo_release:
                    facts.update({k: self.odoo_release.get(k) for k in ("version", "version_info", "major_version")})
            if self.filestore_dir and not os.path.isdir(self.filestore_dir) and facts["referenced"]:
                raise BackupError(f"filestore {self.filestore_dir} not found, but ir_attachment references "
                                  f"{len(facts['referenced'])} files")
            listing: dict = {"files": [], "missing": []}

            def tar_filestore():
                listing["files"], listing["missing"] = filestore_entries(self.filestore_dir, facts["referenced"])
                return self._tar_filestore(listing["files"], fs_sink)

            results: dict = {}
            errors: list[BaseException] = []

            timings: dict = {}
            t0 = time.monotonic()

            finished_parts: dict = {}

            def produce(label, fn, finish):
                """Stream, then complete this part's upload at once: the first stream to end completes its
                multipart upload while the other still streams."""
                try:
                    results[label] = fn()
                    timings[f"{label}_stream_s"] = round(time.monotonic() - t0, 3)
                    finished_parts[label] = finish()
                    timings[f"{label}_part_s"] = round(time.monotonic() - t0, 3)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                    errors.append(exc)
                    for w in self.writers:  # unblock the other producer quickly
                        w.error = w.error or exc

            db_sink, db_s3, db_part = self._writer(PART_DB)
            threads = [threading.Thread(target=produce, args=(
                "db", lambda: self._pg_dump(snapshot, db_sink),
                lambda: self._finish_part(db_sink, db_s3, db_part, "database", "pg_dump-custom",
                                          {"compress": self.compress})))]
            if self.filestore_dir:
                fs_sink, fs_s3, fs_part = self._writer(PART_FS)
                threads.append(threading.Thread(target=produce, args=(
                    "fs", tar_filestore,
                    lambda: self._finish_part(fs_sink, fs_s3, fs_part, "filestore", "tar",
                                              {"files": len(listing["files"]), "bytes": results.get("fs", 0)}))))
            for t in threads:
                t.start()
            try:
                # row counts (full scans of big tables) in the same snapshot, while the dump and the tar run
                with conn.cursor() as cur:
                    facts["statistics"] = count_rows(cur, self.statistics_tables)
                timings["counts_s"] = round(time.monotonic() - t0, 3)
            except BaseException as exc:  # noqa: BLE001 - stop the producers, then raise below
                errors.append(exc)
                for w in self.writers:
                    w.error = w.error or exc
            for t in threads:
                t.join()
            fs_files, fs_missing = listing["files"], listing["missing"]
            if errors:
                raise self._as_backup_error(errors[0])
            parts = [finished_parts[label] for label in ("db", "fs") if label in finished_parts]
            odoo_manifest = {"odoo_dump": "1", "db_name": self.db_name, "version": facts["version"],
                             "version_info": facts["version_info"], "major_version": facts["major_version"],
                             "pg_version": facts["pg_version"], "modules": facts["modules"]}
            if self.odoo_zip:
                zip_sink, zip_s3, zip_part = self._writer(PART_ZIP)
                try:
                    self._odoo_zip(snapshot, fs_files, odoo_manifest, zip_sink)
                except Exception as exc:  # noqa: BLE001
                    raise self._as_backup_error(exc) from exc
                parts.append(self._finish_part(zip_sink, zip_s3, zip_part, "odoo_zip", "odoo-database-manager-zip",
                                               {}))
        finally:
            conn.rollback()
            conn.close()

        finished = utcnow()
        manifest = dict(odoo_manifest)
        manifest["odooops"] = {
            "format": FORMAT_VERSION,
            "backup_id": self.backup_id,
            "started_at": iso(self.started),
            "snapshot_at": iso(snapshot_at),
            "finished_at": iso(finished),
            "duration_s": round((finished - self.started).total_seconds(), 3),
            "source": {"host": self.source_host, "db_host": served, "db_hosts": self.pg.effective_host or "socket",
                       "db_port": self.dump_pg.port, "db_name": self.db_name},
            "parts": parts,
            "filestore": None if not self.filestore_dir else {
                "selection": "all" if facts["referenced"] is None else "ir_attachment",
                "files": len(fs_files), "missing_count": len(fs_missing), "missing": fs_missing[:20]},
            "encryption": None if not self.key_id else {
                "algorithm": ALGORITHM, "chunk_size": DEFAULT_CHUNK, "key_id": self.key_id,
                "key_check": key_check(self.key_ring[self.key_id])},
            "sse": {"type": "aws:kms", "key_id": self.sse_kms_key_id} if self.sse_kms_key_id else None,
            "retention": None if not self.lock_mode else {"mode": self.lock_mode, "days": self.lock_days,
                                                          "until": iso(self.retain_until)},
            "tags": self.tags,
            "statistics": {"tables": facts["statistics"]},
            # seconds from the start of the streams until each producer had handed over its last byte
            "timings": timings,
        }
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.dir + MANIFEST, Body=body,
                               ContentType="application/json", **self.extra_args())
        except Exception as exc:  # noqa: BLE001
            raise BackupError(f"writing {self.dir}{MANIFEST} failed: {exc}; the backup is incomplete") from exc
        return manifest

    def _as_backup_error(self, exc: BaseException) -> BackupError:
        if isinstance(exc, BackupError):
            return exc
        if isinstance(exc, (S3Error, PostgresError)):
            return BackupError(f"backup {self.backup_id} of {self.db_name} failed, no manifest written: {exc}")
        return BackupError(f"backup {self.backup_id} of {self.db_name} failed, no manifest written: "
                           f"{type(exc).__name__}: {exc}")
