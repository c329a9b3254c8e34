# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backups in a bucket: status, latest good one, verification, GFS retention and off-site copy.

Status of a backup directory ``<prefix><db>/<backup_id>/``:
  ``complete``    manifest present and every part it lists present with the recorded size ("good");
  ``damaged``     manifest present but a part is missing or has another size (or, once verified, another sha256);
  ``incomplete``  no manifest (a run that failed or is still running).
``locked_until`` is the latest Object Lock retain-until date of its objects (None when not locked).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from ansible_collections.odooops.hosting.plugins.module_utils.backup.backup import MANIFEST, parse_backup_id, utcnow
from ansible_collections.odooops.hosting.plugins.module_utils.backup.crypto import (
    DecryptingWriter,
    DecryptionError,
    NullSink,
)
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import (
    S3Error,
    S3StreamWriter,
    describe_error,
    normalise_prefix,
    stream_object,
)


class CatalogError(Exception):
    """A backup cannot be found, read or verified."""


@dataclass
class BackupEntry:
    db_name: str
    backup_id: str
    dir: str
    time: dt.datetime | None
    status: str = "incomplete"
    objects: dict = field(default_factory=dict)  # name -> size
    manifest: dict | None = None
    problems: list = field(default_factory=list)
    locked_until: dt.datetime | None = None
    legal_hold: bool = False

    @property
    def good(self) -> bool:
        return self.status == "complete"

    def locked(self, now: dt.datetime) -> bool:
        return self.legal_hold or (self.locked_until is not None and self.locked_until > now)

    def as_dict(self) -> dict:
        od = (self.manifest or {}).get("odooops", {})
        return {"db_name": self.db_name, "backup_id": self.backup_id, "path": self.dir, "status": self.status,
                "good": self.good, "time": self.time.isoformat() if self.time else None,
                "finished_at": od.get("finished_at"), "size": sum(self.objects.values()),
                "encrypted": bool(od.get("encryption")), "key_id": (od.get("encryption") or {}).get("key_id"),
                "locked_until": self.locked_until.isoformat() if self.locked_until else None,
                "legal_hold": self.legal_hold, "problems": self.problems}


def list_backups(s3, bucket: str, prefix: str = "backups/", db_name: str | None = None,
                 lock_info: bool = True) -> list[BackupEntry]:
    """All backups under prefix (optionally of one database), oldest first."""
    prefix = normalise_prefix(prefix)
    base = prefix + (db_name + "/" if db_name else "")
    groups: dict[str, dict] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(prefix):].split("/")
                if len(rest) != 3:
                    continue
                groups.setdefault(f"{rest[0]}/{rest[1]}", {})[rest[2]] = obj["Size"]
    except Exception as exc:  # noqa: BLE001
        raise CatalogError(f"cannot list s3://{bucket}/{base}: {describe_error(exc)}") from exc
    entries = []
    for key, objects in groups.items():
        db, bid = key.split("/")
        if parse_backup_id(bid) is None:  # not one of ours (e.g. other objects under an empty prefix)
            continue
        entry = BackupEntry(db_name=db, backup_id=bid, dir=f"{prefix}{key}/", time=parse_backup_id(bid),
                            objects=objects)
        if MANIFEST in objects:
            try:
                body = s3.get_object(Bucket=bucket, Key=entry.dir + MANIFEST)["Body"].read()
                entry.manifest = json.loads(body)
                entry.status = "complete"
                for part in entry.manifest["odooops"]["parts"]:
                    size = objects.get(part["name"])
                    if size is None:
                        entry.problems.append(f"part {part['name']} is missing")
                    elif size != part["size"]:
                        entry.problems.append(f"part {part['name']} has {size} bytes, manifest says {part['size']}"
                                              f"{' (truncated)' if size < part['size'] else ''}")
                if entry.problems:
                    entry.status = "damaged"
            except (ValueError, KeyError, TypeError) as exc:
                entry.status = "damaged"
                entry.problems.append(f"manifest unreadable: {exc}")
            except Exception as exc:  # noqa: BLE001
                raise CatalogError(f"cannot read {entry.dir}{MANIFEST}: {describe_error(exc)}") from exc
        if lock_info:
            _lock_info(s3, bucket, entry)
        entries.append(entry)
    entries.sort(key=lambda e: (e.time or dt.datetime.min.replace(tzinfo=dt.UTC), e.backup_id))
    return entries


def _lock_info(s3, bucket: str, entry: BackupEntry) -> None:
    name = MANIFEST if MANIFEST in entry.objects else next(iter(sorted(entry.objects)))
    try:
        head = s3.head_object(Bucket=bucket, Key=entry.dir + name)
    except Exception:  # noqa: BLE001 - lock information is best effort for listing
        return
    entry.locked_until = head.get("ObjectLockRetainUntilDate")
    entry.legal_hold = head.get("ObjectLockLegalHoldStatus") == "ON"


def latest_good(entries: list[BackupEntry]) -> BackupEntry | None:
    good = [e for e in entries if e.good]
    return good[-1] if good else None


def find_backup(s3, bucket: str, prefix: str, db_name: str, backup_id: str = "latest") -> BackupEntry:
    entries = list_backups(s3, bucket, prefix, db_name, lock_info=False)
    if backup_id in ("latest", "", None):
        entry = latest_good(entries)
        if entry is None:
            raise CatalogError(f"no complete backup of {db_name!r} under s3://{bucket}/{normalise_prefix(prefix)}")
        return entry
    for entry in entries:
        if entry.backup_id == backup_id:
            if entry.status == "incomplete":
                raise CatalogError(f"backup {backup_id} of {db_name!r} is incomplete (no {MANIFEST})")
            return entry
    raise CatalogError(f"backup {backup_id} of {db_name!r} not found under s3://{bucket}/{normalise_prefix(prefix)}")


def verify_backup(s3, bucket: str, entry: BackupEntry, key_ring: dict | None = None) -> dict:
    """Download every part, check sha256 and size against the manifest (and decryption when keys are given).

    Returns {part: {size, sha256, ok}}; raises CatalogError naming the first bad part.
    """
    if entry.manifest is None:
        raise CatalogError(f"backup {entry.backup_id} is incomplete (no {MANIFEST})")
    enc = entry.manifest["odooops"].get("encryption")
    result = {}
    for part in entry.manifest["odooops"]["parts"]:
        sink = NullSink()
        dec = TolerantDecryptor(DecryptingWriter(sink, key_ring)) if enc and key_ring else None
        got = stream_object(s3, bucket, entry.dir + part["name"], dec or sink)
        if got["size"] != part["size"]:
            raise CatalogError(f"part {part['name']} of backup {entry.backup_id}: size {got['size']} != "
                               f"{part['size']} in the manifest{' (truncated)' if got['size'] < part['size'] else ''}")
        if got["sha256"] != part["sha256"]:
            raise CatalogError(f"part {part['name']} of backup {entry.backup_id}: sha256 mismatch (corrupted)")
        if dec and dec.finish() is not None:
            raise CatalogError(f"part {part['name']} of backup {entry.backup_id}: decryption failed: {dec.error}")
        result[part["name"]] = {"size": got["size"], "sha256": got["sha256"], "ok": True}
    return result


class TolerantDecryptor:
    """Feeds a DecryptingWriter but keeps accepting bytes after an error, so the checksum covers the object."""

    def __init__(self, dec):
        self.dec = dec
        self.error = None

    def write(self, data):
        if self.error is None:
            try:
                self.dec.write(data)
            except DecryptionError as exc:
                self.error = exc
        return len(data)

    def finish(self):
        """The decryption error, if any (including a missing final chunk)."""
        if self.error is None:
            try:
                self.dec.close()
            except DecryptionError as exc:
                self.error = exc
        return self.error


# -- retention ---------------------------------------------------------------------------------------------
def plan_retention(entries: list[BackupEntry], now: dt.datetime, daily: int = 7, weekly: int = 4,
                   monthly: int = 6, incomplete_grace_hours: float = 24) -> dict:
    """Grandfather-father-son: which backups to keep (and why), delete, or keep because they are locked.

    Counting follows restic's --keep-daily/weekly/monthly: the newest good backup of each of the last N
    days (ISO weeks, months) that have a good backup. The newest good backup is always kept. Incomplete or
    damaged backups go once older than the grace period (a running backup has no manifest yet).
    A backup under Object Lock (retention date in the future, or legal hold)
    is never deleted; it is reported in ``locked``.
    """
    good = sorted([e for e in entries if e.good and e.time], key=lambda e: e.time, reverse=True)
    keep: dict[str, list[str]] = {}
    if good:
        keep.setdefault(good[0].backup_id, []).append("newest good")

    def pick(keyfn, count, label):
        seen = []
        for e in good:
            k = keyfn(e.time)
            if k in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(k)
            keep.setdefault(e.backup_id, []).append(label)

    pick(lambda t: t.date(), daily, "daily")
    pick(lambda t: tuple(t.isocalendar())[:2], weekly, "weekly")
    pick(lambda t: (t.year, t.month), monthly, "monthly")

    delete, locked = [], []
    for e in entries:
        if e.backup_id in keep:
            continue
        if not e.good and (e.time is None or now - e.time < dt.timedelta(hours=incomplete_grace_hours)):
            keep.setdefault(e.backup_id, []).append(f"{'damaged' if e.manifest else 'incomplete'}, "
                                                    "within grace period")
            continue
        if e.locked(now):
            locked.append(e)
        else:
            delete.append(e)
    return {"keep": keep, "delete": delete, "locked": locked}


def delete_backup(s3, bucket: str, entry: BackupEntry, now: dt.datetime | None = None) -> int:
    """Delete every version of every object of a backup (manifest first, so it stops being 'good' at once).

    Each version is checked for Object Lock before its delete is sent; a locked one stops the deletion
    with CatalogError (nothing locked is ever attempted).
    """
    now = now or utcnow()
    versions = []
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=entry.dir):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                versions.append((v["Key"], v.get("VersionId")))
    except Exception as exc:  # noqa: BLE001
        raise CatalogError(f"cannot list versions of {entry.dir}: {describe_error(exc)}") from exc
    for key, vid in versions:
        kw = {"VersionId": vid} if vid and vid != "null" else {}
        try:
            head = s3.head_object(Bucket=bucket, Key=key, **kw)
        except Exception:  # noqa: BLE001 - delete markers cannot be HEADed; they carry no lock
            continue
        until = head.get("ObjectLockRetainUntilDate")
        if (until and until > now) or head.get("ObjectLockLegalHoldStatus") == "ON":
            raise CatalogError(f"{key} is under Object Lock until {until}; not deleting backup {entry.backup_id}")
    versions.sort(key=lambda kv: not kv[0].endswith("/" + MANIFEST))
    count = 0
    for key, vid in versions:
        kw = {"VersionId": vid} if vid and vid != "null" else {}
        try:
            s3.delete_object(Bucket=bucket, Key=key, **kw)
            count += 1
        except Exception as exc:  # noqa: BLE001
            raise CatalogError(f"deleting {key} failed: {describe_error(exc)}") from exc
    return count


def plan_verified_retention(s3, bucket: str, entries: list[BackupEntry], now: dt.datetime, verified: dict,
                            **policy) -> dict:
    """plan_retention() in which every backup counted good has had its parts' sha256 checked against the
    manifest (sizes alone miss a same-size bit flip: a corrupted newest backup would be kept as "the newest
    good" while the good ones it replaces are deleted).

    Only the backups the plan keeps as good are downloaded; one that fails is marked damaged and the plan is
    made again (an older good backup then takes its place). verified: backup id -> None (ok) or the problem,
    filled in as backups are checked."""
    while True:
        plan = plan_retention(entries, now, **policy)
        todo = [e for e in entries if e.good and e.backup_id in plan["keep"] and e.backup_id not in verified]
        if not todo:
            return plan
        for e in todo:
            try:
                verify_backup(s3, bucket, e)
                verified[e.backup_id] = None
            except CatalogError as exc:
                verified[e.backup_id] = str(exc)
                e.status = "damaged"
                e.problems.append(str(exc))


def apply_retention(s3, bucket: str, prefix: str, db_name: str | None, now: dt.datetime | None = None,
                    check_mode: bool = False, verify_checksums: bool = True, **policy) -> dict:
    now = now or utcnow()
    by_db: dict[str, list[BackupEntry]] = {}
    for e in list_backups(s3, bucket, prefix, db_name):
        by_db.setdefault(e.db_name, []).append(e)
    keep, delete, locked = {}, [], []
    verified: dict[str, str | None] = {}
    for entries in by_db.values():  # GFS counts apply to each database separately
        plan = (plan_verified_retention(s3, bucket, entries, now, verified, **policy) if verify_checksums
                else plan_retention(entries, now, **policy))
        keep.update(plan["keep"])
        delete += plan["delete"]
        locked += plan["locked"]
    deleted = []
    if not check_mode:
        for e in delete:
            delete_backup(s3, bucket, e, now)
            deleted.append(e.backup_id)
    return {"keep": keep, "delete": [e.backup_id for e in delete], "deleted": deleted,
            "locked": [{"backup_id": e.backup_id, "locked_until": e.locked_until.isoformat() if e.locked_until
                        else None, "legal_hold": e.legal_hold} for e in locked],
            "verified": sorted(b for b, problem in verified.items() if problem is None),
            "corrupted": {b: problem for b, problem in verified.items() if problem is not None},
            "changed": bool(delete)}


# -- off-site copy -----------------------------------------------------------------------------------------
def copy_backup(src, src_bucket: str, entry: BackupEntry, dst, dst_bucket: str, dst_prefix: str | None = None,
                extra_args: dict | None = None, part_size: int = 16 * 1024 * 1024) -> dict:
    """Copy a complete backup to another bucket/endpoint; each part's sha256 is checked against the manifest.

    The manifest is copied last, so an interrupted copy is an incomplete backup at the destination.
    Returns {"copied": [...], "skipped": [...]} (parts already present with the same size are re-verified).
    """
    if not entry.good:
        raise CatalogError(f"backup {entry.backup_id} is {entry.status}; only complete backups are copied")
    src_prefix = entry.dir[: -len(f"{entry.db_name}/{entry.backup_id}/")]
    dst_dir = normalise_prefix(dst_prefix if dst_prefix is not None else src_prefix) + \
        f"{entry.db_name}/{entry.backup_id}/"
    copied = []
    for part in entry.manifest["odooops"]["parts"]:
        writer = S3StreamWriter(dst, dst_bucket, dst_dir + part["name"], part_size=part_size,
                                extra_args=extra_args)
        try:
            got = stream_object(src, src_bucket, entry.dir + part["name"], writer)
            if got["sha256"] != part["sha256"] or got["size"] != part["size"]:
                raise CatalogError(f"part {part['name']} of backup {entry.backup_id} does not match its manifest "
                                   f"at the source; not copied")
            info = writer.close()
        except (S3Error, CatalogError):
            writer.abort()
            raise
        if info["sha256"] != part["sha256"]:
            raise CatalogError(f"part {part['name']}: checksum differs after upload")
        copied.append(part["name"])
    body = json.dumps(entry.manifest, indent=2, sort_keys=True).encode()
    try:
        dst.put_object(Bucket=dst_bucket, Key=dst_dir + MANIFEST, Body=body, ContentType="application/json",
                       **(extra_args or {}))
    except Exception as exc:  # noqa: BLE001
        raise CatalogError(f"writing {dst_dir}{MANIFEST} at the destination failed: {describe_error(exc)}") from exc
    # read back what the destination holds and compare with the manifest
    for part in entry.manifest["odooops"]["parts"]:
        got = stream_object(dst, dst_bucket, dst_dir + part["name"], NullSink())
        if got["sha256"] != part["sha256"]:
            raise CatalogError(f"part {part['name']}: destination copy does not match the manifest checksum")
    return {"copied": copied + [MANIFEST], "destination": dst_dir}
