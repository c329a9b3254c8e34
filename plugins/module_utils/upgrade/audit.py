# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upgrade audit trail: one JSON line per upgrade, appended on the control node (hash-chained: each record
holds the SHA-256 of the previous line) and put to S3 as its own object under Object Lock retention,
so neither copy can be rewritten quietly."""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os

try:
    import boto3
    import botocore.exceptions

    HAS_BOTO3 = True
except ImportError:  # pragma: no cover
    HAS_BOTO3 = False


class AuditError(Exception):
    pass


def _last_line(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            lines = [ln for ln in fh.read().splitlines() if ln.strip()]
            return lines[-1] if lines else None
    except FileNotFoundError:
        return None


def build(record: dict, path: str | None) -> tuple[dict, bytes]:
    rec = dict(record)
    rec.setdefault("recorded", datetime.datetime.now(datetime.UTC).isoformat())
    prev = _last_line(path) if path else None
    rec["prev_sha256"] = hashlib.sha256(prev).hexdigest() if prev else None
    line = json.dumps(rec, sort_keys=True, default=str).encode()
    return rec, line


def append_local(path: str, line: bytes) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_chain(path: str) -> list[str]:
    """Problems found in the local file's hash chain (empty when intact)."""
    problems, prev = [], None
    with open(path, "rb") as fh:
        for n, raw in enumerate((ln for ln in fh.read().splitlines() if ln.strip()), 1):
            rec = json.loads(raw)
            want = hashlib.sha256(prev).hexdigest() if prev else None
            if rec.get("prev_sha256") != want:
                problems.append(f"line {n}: prev_sha256 does not match line {n - 1}")
            prev = raw
    return problems


def put_s3(line: bytes, bucket: str, key: str, *, endpoint: str | None, access_key: str | None,
           secret_key: str | None, region: str, retention_days: int, mode: str, ca_bundle: str | None = None) -> dict:
    if not HAS_BOTO3:
        raise AuditError("boto3 is required on the control node to put the audit record to S3")
    client = boto3.client("s3", endpoint_url=endpoint or None, aws_access_key_id=access_key or None,
                          aws_secret_access_key=secret_key or None, region_name=region, verify=ca_bundle or True)
    args = {"Bucket": bucket, "Key": key, "Body": line + b"\n", "ContentType": "application/x-ndjson",
            "ContentMD5": base64.b64encode(hashlib.md5(line + b"\n").digest()).decode()}
    if retention_days > 0:
        args["ObjectLockMode"] = mode
        args["ObjectLockRetainUntilDate"] = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
            days=retention_days)
    try:
        resp = client.put_object(**args)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise AuditError(f"putting the audit record to s3://{bucket}/{key} failed: {exc}") from exc
    return {"bucket": bucket, "key": key, "version_id": resp.get("VersionId"),
            "retain_until": args.get("ObjectLockRetainUntilDate").isoformat() if retention_days > 0 else None}


def object_key(prefix: str, rec: dict, line: bytes) -> str:
    when = datetime.datetime.fromisoformat(rec["recorded"])
    return (f"{prefix.strip('/') + '/' if prefix.strip('/') else ''}{when:%Y/%m/%d}/"
            f"{when:%Y%m%dT%H%M%S}-{hashlib.sha256(line).hexdigest()[:12]}.json")
