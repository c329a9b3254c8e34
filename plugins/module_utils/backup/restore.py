# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore an odooops backup into a new database (and filestore), leaving things as they were on failure.

Order of work:
1. checks that change nothing: the manifest is there, the key for its key id is in the ring and is the
   right one (key check value), the target database/filestore do not exist unless ``force``;
2. every part is downloaded to a private work directory, its size and sha256 compared with the manifest
   and (when encrypted) authenticated chunk by chunk: a mismatch names the part and stops here;
3. restore under a temporary database name (``pg_restore -j N``) and a temporary filestore directory,
   neutralise if asked;
4. swap into place (``ALTER DATABASE ... RENAME``, directory rename); with ``force`` the old database and
   filestore are renamed away first and dropped only after the swap succeeded.
Any failure in 3 drops the temporary database and directory: the target is untouched.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.odooops.hosting.plugins.module_utils.backup.backup import MANIFEST, safe_member
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import BackupEntry, TolerantDecryptor
from ansible_collections.odooops.hosting.plugins.module_utils.backup.crypto import DecryptingWriter, key_check
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import stream_object
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import (
    PgConn,
    database_exists,
    quote_ident,
)


class RestoreError(Exception):
    """The restore was refused or failed; the message says what and whether anything changed."""


def check_keys(manifest: dict, key_ring: dict | None) -> None:
    enc = manifest["odooops"].get("encryption")
    if not enc:
        return
    kid = enc["key_id"]
    if kid not in (key_ring or {}):
        raise RestoreError(f"backup is encrypted with key id {kid!r}, which is not in the key ring given "
                           f"({', '.join(sorted(key_ring or {})) or 'empty'})")
    if enc.get("key_check") and key_check(key_ring[kid]) != enc["key_check"]:
        raise RestoreError(f"wrong encryption key: the key given for key id {kid!r} is not the one this backup "
                           "was encrypted with (key check value differs)")


class _FileSink:
    def __init__(self, fh):
        self.fh = fh

    def write(self, data):
        return self.fh.write(data)


def _fetch_part(s3, bucket: str, entry: BackupEntry, part: dict, workdir: str, key_ring: dict | None,
                encrypted: bool) -> str:
    local = os.path.join(workdir, part["name"].removesuffix(".enc"))
    with open(local, "wb") as fh:
        sink = _FileSink(fh)
        dec = TolerantDecryptor(DecryptingWriter(sink, key_ring)) if encrypted else None
        got = stream_object(s3, bucket, entry.dir + part["name"], dec or sink)
    if got["size"] != part["size"]:
        raise RestoreError(f"part {part['name']} of backup {entry.backup_id} has {got['size']} bytes, the "
                           f"manifest says {part['size']}{' (truncated)' if got['size'] < part['size'] else ''}"
                           "; nothing was restored")
    if got["sha256"] != part["sha256"]:
        raise RestoreError(f"part {part['name']} of backup {entry.backup_id} is corrupted (sha256 "
                           f"{got['sha256'][:12]}... != {part['sha256'][:12]}... in the manifest); "
                           "nothing was restored")
    if dec and dec.finish() is not None:
        raise RestoreError(f"part {part['name']} of backup {entry.backup_id}: decryption failed "
                           f"({dec.error}); nothing was restored")
    return local


def fetch_parts(s3, bucket: str, entry: BackupEntry, workdir: str, key_ring: dict | None,
                kinds=("database", "filestore")) -> dict:
    """Download (parts in parallel), verify and decrypt the parts of the given kinds; {kind: local path}.

    Every part is checked completely before this returns; the first bad part (in manifest order) is raised.
    """
    encrypted = bool(entry.manifest["odooops"].get("encryption"))
    parts = [p for p in entry.manifest["odooops"]["parts"] if p["kind"] in kinds]
    with ThreadPoolExecutor(max_workers=max(1, len(parts)), thread_name_prefix="fetch") as pool:
        futures = [(p, pool.submit(_fetch_part, s3, bucket, entry, p, workdir, key_ring, encrypted)) for p in parts]
        paths, first_error = {}, None
        for part, fut in futures:
            try:
                paths[part["kind"]] = fut.result()
            except Exception as exc:  # noqa: BLE001 - re-raised below, after every download finished
                first_error = first_error or exc
    if first_error:
        raise first_error
    return paths


def _extract_filestore(tar_path: str, dest: str) -> int:
    os.makedirs(dest, mode=0o750)
    count = 0
    with tarfile.open(tar_path, mode="r:") as tar:
        for member in tar:
            if not safe_member(member.name) or not (member.isfile() or member.isdir()):
                raise RestoreError(f"filestore archive holds an unsafe entry {member.name!r}; refused")
            target = os.path.join(dest, member.name)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with tar.extractfile(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1024 * 1024)
            os.utime(target, (member.mtime, member.mtime))
            count += 1
    return count


def _chown_tree(path: str, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid)


def _table_exists(cur, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{name}",))
    return cur.fetchone()[0]


def _set_param(cur, key: str, value: str) -> None:
    cur.execute("UPDATE ir_config_parameter SET value = %s WHERE key = %s", (value, key))
    if cur.rowcount == 0:
        cur.execute("INSERT INTO ir_config_parameter (key, value) VALUES (%s, %s)", (key, value))


def neutralize(conn) -> list[str]:
    """What Odoo's neutralisation does for the tables we know: crons and mail servers off, flag set."""
    done = []
    with conn.cursor() as cur:
        for table in ("ir_cron", "ir_mail_server", "fetchmail_server"):
            if _table_exists(cur, table):
                cur.execute(f"UPDATE {table} SET active = false WHERE active")  # noqa: S608 - fixed names
                done.append(f"{table}: {cur.rowcount} deactivated")
        if _table_exists(cur, "ir_config_parameter"):
            _set_param(cur, "database.is_neutralized", "true")
            done.append("ir_config_parameter database.is_neutralized = true")
    return done


def table_counts(conn, tables) -> dict:
    out = {}
    with conn.cursor() as cur:
        for table in tables:
            if _table_exists(cur, table):
                cur.execute(f'SELECT count(*) FROM public."{table}"')  # noqa: S608 - checked by to_regclass
                out[table] = cur.fetchone()[0]
            else:
                out[table] = None
    return out


def compare_statistics(pg: PgConn, db_name: str, manifest: dict) -> dict:
    expected = manifest["odooops"].get("statistics", {}).get("tables", {})
    conn = pg.connect(db_name)
    try:
        actual = table_counts(conn, expected)
        modules = {}
        with conn.cursor() as cur:
            if _table_exists(cur, "ir_module_module"):
                cur.execute("SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'")
                modules = dict(cur.fetchall())
    finally:
        conn.close()
    tables = {t: {"expected": n, "actual": actual.get(t), "ok": actual.get(t) == n} for t, n in expected.items()}
    return {"tables": tables, "tables_ok": all(v["ok"] for v in tables.values()),
            "modules_ok": modules == manifest.get("modules", {}), "modules": len(modules)}


def wait_standbys_replayed(conn, timeout: float, interval: float = 0.2) -> dict:
    """Wait until every standby streaming from the server of conn has replayed its WAL as of now.

    Odoo reaches the db tier through a host list: a standby listed before the primary that has not replayed a
    database created moments ago answers a startup FATAL ("database ... does not exist") at which libpq stops.
    A login that may not read pg_stat_replication sees no standby and does not wait. Returns the standbys seen,
    those still behind at the timeout, and the seconds waited.
    """
    started = time.monotonic()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        if cur.fetchone()[0]:
            return {"standbys": [], "lagging": [], "waited_s": 0.0}
        cur.execute("SELECT pg_current_wal_lsn()")
        target = cur.fetchone()[0]
        while True:
            cur.execute("SELECT application_name, coalesce(replay_lsn >= %s::pg_lsn, false) FROM pg_stat_replication "
                        "WHERE state = 'streaming' ORDER BY 1", (target,))
            rows = cur.fetchall()
            lagging = [name for name, done in rows if not done]
            waited = time.monotonic() - started
            if not lagging or waited >= timeout:
                return {"standbys": [name for name, _lag in rows], "lagging": lagging, "waited_s": round(waited, 3)}
            time.sleep(interval)


def restore_backup(pg: PgConn, s3, bucket: str, entry: BackupEntry, target_db: str, *, filestore_root: str | None,
                   force: bool = False, do_neutralize: bool = False, new_uuid: bool = False, jobs: int = 2,
                   owner: str | None = None, key_ring: dict | None = None, workdir: str | None = None,
                   filestore_owner: tuple[int, int] | None = None, check_mode: bool = False,
                   maintenance_work_mem: str = "256MB", wait_standbys_s: float = 0) -> dict:
    if entry.manifest is None:
        raise RestoreError(f"backup {entry.backup_id} is incomplete (no {MANIFEST}); refusing to restore it")
    manifest = entry.manifest
    if not target_db or "/" in target_db or len(target_db) > 63:
        raise RestoreError(f"invalid target database name {target_db!r}")
    check_keys(manifest, key_ring)
    if not re.match(r"^\d+(kB|MB|GB)?$", str(maintenance_work_mem)):
        raise RestoreError(f"maintenance_work_mem {maintenance_work_mem!r} is not a size like 256MB")
    has_fs = any(p["kind"] == "filestore" for p in manifest["odooops"]["parts"])
    fs_target = os.path.join(filestore_root, target_db) if (filestore_root and has_fs) else None

    admin = pg.connect("postgres")
    # from here on, every connection and pg_restore go to the server this one reached (with a host list: the
    # primary); given the list again, libpq could stop at a standby that has not replayed CREATE DATABASE yet
    pg = pg.reached(admin)
    try:
        db_exists = database_exists(admin, target_db)
        fs_exists = bool(fs_target and os.path.exists(fs_target))
        if (db_exists or fs_exists) and not force:
            what = "database" if db_exists else "filestore directory"
            raise RestoreError(f"{what} {target_db!r} already exists; restore into a new name or set force "
                               "(nothing was changed)")
        plan = {"backup_id": entry.backup_id, "target_db": target_db, "replaces_existing": db_exists or fs_exists,
                "filestore": fs_target, "db_host": pg.effective_host, "db_port": pg.port}
        if check_mode:
            return {"changed": True, **plan}

        started = time.monotonic()
        work = tempfile.mkdtemp(prefix="odooops-restore-", dir=workdir)
        os.chmod(work, 0o700)
        tmp_db = f"{target_db[:36]}_restoring_{secrets.token_hex(4)}"
        tmp_fs = os.path.join(filestore_root, f".{tmp_db}") if fs_target else None
        created = False
        try:
            paths = fetch_parts(s3, bucket, entry, work, key_ring)
            fetched = time.monotonic()
            with admin.cursor() as cur:
                cur.execute(f"CREATE DATABASE {quote_ident(tmp_db)} TEMPLATE template0 ENCODING 'UTF8'"
                            + (f" OWNER {quote_ident(owner)}" if owner else ""))
            created = True
            args = [pg.tool("pg_restore"), "--no-password", "--no-owner", "--no-acl", "--exit-on-error",
                    f"--jobs={max(1, jobs)}", f"--dbname={tmp_db}"]
            if owner:
                args.append(f"--role={owner}")
            args.append(paths["database"])
            extract = {}

            def extract_filestore():
                try:
                    made = not os.path.isdir(filestore_root)
                    os.makedirs(filestore_root, exist_ok=True)
                    if filestore_owner and made:  # Odoo's (and the filestore helper's, which runs as Odoo)
                        os.chown(filestore_root, *filestore_owner)
                    extract["files"] = _extract_filestore(paths["filestore"], tmp_fs)
                    if filestore_owner:
                        _chown_tree(tmp_fs, *filestore_owner)
                except Exception as exc:  # noqa: BLE001 - re-raised in the main thread
                    extract["error"] = exc

            fs_thread = threading.Thread(target=extract_filestore) if fs_target else None
            if fs_thread:
                fs_thread.start()  # the filestore is unpacked while PostgreSQL restores
            with pg.env(tmp_db) as env:
                # restore-only session settings: bigger sort memory for the index builds, no fsync per commit
                env["PGOPTIONS"] = f"-c maintenance_work_mem={maintenance_work_mem} -c synchronous_commit=off"
                res = subprocess.run(args, check=False, capture_output=True, env=env)
            if fs_thread:
                fs_thread.join()
            if res.returncode != 0:
                raise RestoreError(f"pg_restore failed (exit {res.returncode}): "
                                   f"{res.stderr.decode(errors='replace').strip()[-2000:]}; target untouched")
            if "error" in extract:
                raise extract["error"]
            done = []
            if do_neutralize or new_uuid:
                conn = pg.connect(tmp_db)
                try:
                    if do_neutralize:
                        done = neutralize(conn)
                    if new_uuid:
                        with conn.cursor() as cur:
                            if _table_exists(cur, "ir_config_parameter"):
                                _set_param(cur, "database.uuid", str(uuid.uuid4()))
                                done.append("new database.uuid")
                finally:
                    conn.close()
            files = extract.get("files", 0)
            restored = time.monotonic()
            # swap into place
            old_db = old_fs = None
            with admin.cursor() as cur:
                if db_exists:
                    old_db = f"{target_db[:40]}_replaced_{secrets.token_hex(4)}"
                    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                                "AND pid <> pg_backend_pid()", (target_db,))
                    cur.execute(f"ALTER DATABASE {quote_ident(target_db)} RENAME TO {quote_ident(old_db)}")
                cur.execute(f"ALTER DATABASE {quote_ident(tmp_db)} RENAME TO {quote_ident(target_db)}")
                created = False
                if fs_target:
                    if os.path.exists(fs_target):
                        old_fs = os.path.join(filestore_root, f".{target_db}.replaced-{secrets.token_hex(4)}")
                        os.rename(fs_target, old_fs)
                    os.rename(tmp_fs, fs_target)
                if old_db:
                    cur.execute(f"DROP DATABASE {quote_ident(old_db)} WITH (FORCE)")
            if old_fs:
                shutil.rmtree(old_fs, ignore_errors=True)
            replayed = wait_standbys_replayed(admin, wait_standbys_s) if wait_standbys_s > 0 else None
        except Exception:
            if created:
                with admin.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(tmp_db)} WITH (FORCE)")
            if tmp_fs:
                shutil.rmtree(tmp_fs, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        admin.close()
    end = time.monotonic()
    return {"changed": True, **plan, "files": files, "neutralized": done, "standbys_replayed": replayed,
            "timings": {"fetch_verify_s": round(fetched - started, 3), "restore_s": round(restored - fetched, 3),
                        "total_s": round(end - started, 3)}}
