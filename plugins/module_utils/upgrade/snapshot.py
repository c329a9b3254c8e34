# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pre-upgrade snapshots of an Odoo database and its filestore, and the swap back.

Database: ``CREATE DATABASE <snap> TEMPLATE <db> STRATEGY FILE_COPY`` (a file-level copy inside
PostgreSQL, seconds for GBs), connections to the source forbidden and terminated first. The snapshot
carries its metadata as a JSON comment (``COMMENT ON DATABASE``), so a later run - or another
playbook - knows what it is a snapshot of. Restore swaps names in one transaction:
``db -> db__failed_<ts>``, ``snap -> db``: as fast as a catalogue update and flat in database size.

Filestore: Odoo's files are content-addressed and never rewritten in place, so a tree of hard links
is a faithful snapshot that costs no data copy; restore renames directories.

Plain Python, no Ansible imports; raises SnapshotError with a message a person can act on.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import time

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu

MARKER = "odooops"


class SnapshotError(Exception):
    """The snapshot cannot be taken, restored or dropped; the message says why."""


def now_stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")


def default_snapshot_name(db: str) -> str:
    suffix = "__pre_upgrade"
    return db[: 63 - len(suffix)] + suffix


def failed_name(db: str, stamp: str | None = None) -> str:
    suffix = f"__failed_{stamp or now_stamp()}"
    return db[: 63 - len(suffix)] + suffix


# -- database ------------------------------------------------------------------------------------------
def db_info(conn, name: str) -> dict | None:
    rows = pgu.query(conn, "SELECT d.datname, pg_get_userbyid(d.datdba), d.datallowconn, "
                           "shobj_description(d.oid, 'pg_database'), pg_database_size(d.oid) "
                           "FROM pg_database d WHERE d.datname = %s", (name,))
    if not rows:
        return None
    name, owner, allowconn, comment, size = rows[0]
    meta = None
    if comment:
        try:
            meta = json.loads(comment)
        except ValueError:
            meta = None
    if not isinstance(meta, dict) or MARKER not in meta:
        meta = None
    return {"name": name, "owner": owner, "allow_connections": allowconn, "meta": meta, "size": size}


def _sql():
    return pgu.psycopg2.sql


def _set_allow(conn, db: str, allow: bool) -> None:
    s = _sql()
    pgu.query(conn, s.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
        pgu.ident(db), s.SQL("true" if allow else "false")))


def _terminate(conn, db: str) -> int:
    rows = pgu.query(conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = %s AND pid <> pg_backend_pid()", (db,))
    return len(rows)


def _comment(conn, db: str, meta: dict | None) -> None:
    s = _sql()
    if meta is None:
        pgu.query(conn, s.SQL("COMMENT ON DATABASE {} IS NULL").format(pgu.ident(db)))
    else:
        pgu.query(conn, s.SQL("COMMENT ON DATABASE {} IS {}").format(pgu.ident(db), s.Literal(json.dumps(meta))))


def _retry_busy(func, what: str, timeout: float):
    """Run func, retrying while PostgreSQL says the database is being accessed (a backend still exiting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return func()
        except pgu.psycopg2.errors.ObjectInUse as exc:
            if time.monotonic() >= deadline:
                raise SnapshotError(f"{what}: the database is still in use after {timeout:.0f} s "
                                    f"({str(exc).strip()}); stop the Odoo containers first") from exc
            time.sleep(0.2)


def create_db_snapshot(conn, db: str, snapshot: str | None = None, label: str = "", check_mode: bool = False,
                       replace: bool = False, busy_timeout: float = 30.0) -> dict:
    """Ensure <snapshot> is a snapshot of <db>. Returns {changed, snapshot, meta, duration}."""
    pgu.check_ident(db, "database name")
    snapshot = pgu.check_ident(snapshot or default_snapshot_name(db), "snapshot name")
    if snapshot == db:
        raise SnapshotError("the snapshot name must differ from the database name")
    source = db_info(conn, db)
    if source is None:
        raise SnapshotError(f"database {db!r} does not exist: nothing to snapshot")
    existing = db_info(conn, snapshot)
    if existing is not None:
        meta = existing["meta"] or {}
        if meta.get(MARKER) != "snapshot" or meta.get("source") != db:
            raise SnapshotError(f"database {snapshot!r} exists and is not a snapshot of {db!r}; "
                                f"choose another snapshot name")
        if not replace:
            return {"changed": False, "snapshot": snapshot, "meta": meta, "duration": 0.0,
                    "size_bytes": existing["size"]}
    meta = {MARKER: "snapshot", "source": db, "created": datetime.datetime.now(datetime.UTC).isoformat(),
            "label": label, "source_owner": source["owner"], "source_size": source["size"]}
    if check_mode:
        return {"changed": True, "snapshot": snapshot, "meta": meta, "duration": 0.0, "size_bytes": source["size"]}
    start = time.monotonic()
    s = _sql()
    if existing is not None:
        drop_db_snapshot(conn, snapshot, db=db)
    was_allowed = source["allow_connections"]
    _set_allow(conn, db, False)
    try:
        def create():
            _terminate(conn, db)
            pgu.query(conn, s.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {} STRATEGY FILE_COPY").format(
                pgu.ident(snapshot), pgu.ident(db), pgu.ident(source["owner"])))
        _retry_busy(create, f"snapshot of {db!r}", busy_timeout)
        _comment(conn, snapshot, meta)
        # nobody connects to a snapshot (Odoo's database list, a stray client): it would block the swap back
        _set_allow(conn, snapshot, False)
    finally:
        if was_allowed:
            _set_allow(conn, db, True)
    return {"changed": True, "snapshot": snapshot, "meta": meta, "duration": round(time.monotonic() - start, 3),
            "size_bytes": source["size"]}


def restore_db_snapshot(conn, db: str, snapshot: str | None = None, check_mode: bool = False,
                        keep_failed: bool = True, busy_timeout: float = 30.0, stamp: str | None = None) -> dict:
    """Swap <snapshot> back in place of <db>; the failed database is kept (renamed) or dropped."""
    pgu.check_ident(db, "database name")
    snapshot = pgu.check_ident(snapshot or default_snapshot_name(db), "snapshot name")
    snap = db_info(conn, snapshot)
    current = db_info(conn, db)
    if snap is None:
        meta = (current or {}).get("meta") or {}
        if meta.get(MARKER) == "restored" and meta.get("snapshot") == snapshot:
            return {"changed": False, "database": db, "failed_database": meta.get("failed_database"),
                    "duration": 0.0, "meta": meta}
        raise SnapshotError(f"no snapshot {snapshot!r} of {db!r} to restore")
    smeta = snap["meta"] or {}
    if smeta.get(MARKER) != "snapshot" or smeta.get("source") != db:
        raise SnapshotError(f"database {snapshot!r} is not a snapshot of {db!r}; refusing to swap it in")
    failed = failed_name(db, stamp) if current is not None else None
    meta = {MARKER: "restored", "snapshot": snapshot, "failed_database": failed if keep_failed else None,
            "restored": datetime.datetime.now(datetime.UTC).isoformat(), "snapshot_created": smeta.get(
                "created")}
    if check_mode:
        return {"changed": True, "database": db, "failed_database": meta["failed_database"], "duration": 0.0,
                "meta": meta}
    start = time.monotonic()
    s = _sql()
    if current is not None:
        _set_allow(conn, db, False)

    def swap():
        if current is not None:
            _terminate(conn, db)
        conn.autocommit = False
        try:
            with conn:  # one transaction: both names change, or neither
                if current is not None:
                    pgu.query(conn, s.SQL("ALTER DATABASE {} RENAME TO {}").format(pgu.ident(db), pgu.ident(failed)))
                pgu.query(conn, s.SQL("ALTER DATABASE {} RENAME TO {}").format(pgu.ident(snapshot), pgu.ident(db)))
                pgu.query(conn, s.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(pgu.ident(db)))
                pgu.query(conn, s.SQL("COMMENT ON DATABASE {} IS {}").format(pgu.ident(db),
                                                                             s.Literal(json.dumps(meta))))
                if current is not None:
                    pgu.query(conn, s.SQL("COMMENT ON DATABASE {} IS {}").format(pgu.ident(failed), s.Literal(
                        json.dumps({MARKER: "failed", "of": db, "at": meta["restored"]}))))
        finally:
            conn.autocommit = True

    try:
        _retry_busy(swap, f"swap back of {db!r}", busy_timeout)
    except Exception:
        if current is not None and current["allow_connections"] and db_info(conn, db) is not None:
            _set_allow(conn, db, True)
        raise
    if current is not None and not keep_failed:
        pgu.query(conn, s.SQL("DROP DATABASE {} WITH (FORCE)").format(pgu.ident(failed)))
    return {"changed": True, "database": db, "failed_database": meta["failed_database"],
            "duration": round(time.monotonic() - start, 3), "meta": meta}


def drop_db_snapshot(conn, snapshot: str, db: str | None = None, check_mode: bool = False) -> dict:
    pgu.check_ident(snapshot, "snapshot name")
    info = db_info(conn, snapshot)
    if info is None:
        return {"changed": False, "snapshot": snapshot}
    meta = info["meta"] or {}
    if meta.get(MARKER) not in ("snapshot", "failed") or (db and meta.get("source", meta.get("of")) != db):
        raise SnapshotError(f"database {snapshot!r} is not a snapshot{' of ' + repr(db) if db else ''}; "
                            f"refusing to drop it")
    if not check_mode:
        pgu.query(conn, _sql().SQL("DROP DATABASE {} WITH (FORCE)").format(pgu.ident(snapshot)))
    return {"changed": True, "snapshot": snapshot}


def list_snapshots(conn, db: str) -> list[dict]:
    rows = pgu.query(conn, "SELECT datname FROM pg_database ORDER BY datname")
    out = []
    for (name,) in rows:
        info = db_info(conn, name)
        meta = (info or {}).get("meta") or {}
        if meta.get(MARKER) in ("snapshot", "failed") and db in (meta.get("source"), meta.get("of")):
            out.append({"name": name, "kind": meta[MARKER], "meta": meta, "size_bytes": info["size"]})
    return out


# -- filestore -----------------------------------------------------------------------------------------
def _count_files(path: str) -> int:
    return sum(len(files) for _dirpath, _dirnames, files in os.walk(path))


def link_tree(src: str, dst: str) -> int:
    """Copy src to dst as hard links (directories recreated with their mode and owner). Returns files linked."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = dst if rel == "." else os.path.join(dst, rel)
        st = os.stat(dirpath)
        os.mkdir(target, st.st_mode & 0o7777)
        os.chown(target, st.st_uid, st.st_gid)
        for name in filenames:
            os.link(os.path.join(dirpath, name), os.path.join(target, name), follow_symlinks=False)
            count += 1
        for name in list(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):  # a symlinked directory is linked as a link, not walked
                os.link(full, os.path.join(target, name), follow_symlinks=False)
                dirnames.remove(name)
    return count


def create_fs_snapshot(filestore_root: str, db: str, snapshot: str | None = None, check_mode: bool = False,
                       replace: bool = False) -> dict:
    """Snapshot <root>/<db> as <root>/<snapshot> with hard links."""
    snapshot = snapshot or default_snapshot_name(db)
    live = os.path.join(filestore_root, db)
    snap = os.path.join(filestore_root, snapshot)
    if not os.path.isdir(filestore_root):
        raise SnapshotError(f"filestore root {filestore_root} does not exist")
    if os.path.lexists(snap) and not replace:
        return {"changed": False, "path": snap, "files": _count_files(snap), "duration": 0.0}
    if check_mode:
        return {"changed": True, "path": snap, "files": _count_files(live) if os.path.isdir(live) else 0,
                "duration": 0.0}
    start = time.monotonic()
    if os.path.lexists(snap):
        shutil.rmtree(snap)
    if os.path.isdir(live):
        tmp = snap + ".partial"
        if os.path.lexists(tmp):
            shutil.rmtree(tmp)
        try:
            files = link_tree(live, tmp)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SnapshotError(f"hard-linking {live} to {tmp} failed: {exc} (the snapshot must be on the same "
                                f"file system as the filestore)") from exc
        os.rename(tmp, snap)
    else:  # no filestore yet: an empty snapshot says "there was none"
        os.mkdir(snap, 0o700)
        files = 0
    return {"changed": True, "path": snap, "files": files, "duration": round(time.monotonic() - start, 3)}


def restore_fs_snapshot(filestore_root: str, db: str, snapshot: str | None = None, check_mode: bool = False,
                        keep_failed: bool = True, stamp: str | None = None) -> dict:
    snapshot = snapshot or default_snapshot_name(db)
    live = os.path.join(filestore_root, db)
    snap = os.path.join(filestore_root, snapshot)
    if not os.path.isdir(snap):
        raise SnapshotError(f"no filestore snapshot at {snap} to restore")
    failed = os.path.join(filestore_root, failed_name(db, stamp))
    if check_mode:
        return {"changed": True, "path": live, "failed_path": failed if keep_failed else None, "duration": 0.0}
    start = time.monotonic()
    had_live = os.path.lexists(live)
    if had_live:
        os.rename(live, failed)
    try:
        os.rename(snap, live)
    except OSError:
        if had_live:
            os.rename(failed, live)
        raise
    if had_live and not keep_failed:
        shutil.rmtree(failed)
    return {"changed": True, "path": live, "failed_path": failed if had_live and keep_failed else None,
            "duration": round(time.monotonic() - start, 3)}


def drop_fs_snapshot(filestore_root: str, db: str, snapshot: str | None = None, check_mode: bool = False) -> dict:
    snap = os.path.join(filestore_root, snapshot or default_snapshot_name(db))
    if not os.path.lexists(snap):
        return {"changed": False, "path": snap}
    if not check_mode:
        shutil.rmtree(snap)
    return {"changed": True, "path": snap}
