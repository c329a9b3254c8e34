# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 connection spec (shared by every module that talks to object storage) and streaming helpers.

The argument spec matches the doc fragment ``odooops.hosting.s3``. Streams go up as multipart uploads
with a bounded number of parts in flight (memory stays flat: about ``part_size * (concurrency + 1)``),
and come down in ranges, hashed on the fly.
"""
from __future__ import annotations

import contextlib
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

MIB = 1024 * 1024
MIN_PART = 5 * MIB


class S3Error(Exception):
    """Object storage refused or failed a request; the message names the bucket/key."""


def s3_argument_spec() -> dict:
    return dict(
        endpoint_url=dict(type="str", aliases=["s3_url"], fallback=(_env_fallback, ["S3_ENDPOINT_URL"])),
        region=dict(type="str", fallback=(_env_fallback, ["AWS_DEFAULT_REGION", "AWS_REGION"]), default="us-east-1"),
        access_key=dict(type="str", no_log=True, fallback=(_env_fallback, ["AWS_ACCESS_KEY_ID"])),
        secret_key=dict(type="str", no_log=True, fallback=(_env_fallback, ["AWS_SECRET_ACCESS_KEY"])),
        validate_certs=dict(type="bool", default=True),
        ca_bundle=dict(type="path"),
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default="backups/"),
    )


def _env_fallback(*names):
    # ansible.module_utils.basic.env_fallback raises AnsibleFallbackNotFound; imported lazily so that
    # this file stays importable without Ansible (unit tests, bench).
    import os

    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    from ansible.module_utils.basic import AnsibleFallbackNotFound

    raise AnsibleFallbackNotFound


def s3_client(endpoint_url=None, region="us-east-1", access_key=None, secret_key=None, validate_certs=True,
              ca_bundle=None, max_pool=16, **_ignored):
    """A boto3 S3 client with bounded retries/timeouts (a dead endpoint fails in seconds, not minutes)."""
    import boto3
    from botocore.config import Config

    verify = ca_bundle if ca_bundle else validate_certs
    cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=120,
                 max_pool_connections=max_pool, s3={"addressing_style": "path"})
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region, aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, verify=verify, config=cfg)


def normalise_prefix(prefix: str | None) -> str:
    prefix = (prefix or "").lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def describe_error(exc: Exception) -> str:
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict) and "Error" in resp:
        err = resp["Error"]
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


class S3StreamWriter:
    """File-like writer: bytes written go to one S3 object, as a parallel multipart upload.

    sha256 and size of what was written are kept. close() completes the upload; any failure aborts it
    (best effort) and raises S3Error, so no half object is ever left visible.
    """

    def __init__(self, client, bucket: str, key: str, part_size: int = 16 * MIB, concurrency: int = 4,
                 extra_args: dict | None = None):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.part_size = max(part_size, MIN_PART)
        self.extra = dict(extra_args or {})
        self.buf = bytearray()
        self.sha = hashlib.sha256()
        self.size = 0
        self.upload_id = None
        self.parts: dict[int, str] = {}
        self.next_part = 1
        self.pool = None
        self.slots = threading.BoundedSemaphore(concurrency)
        self.concurrency = concurrency
        self.futures = []
        self.error: Exception | None = None
        self.closed = False
        self.version_id = None

    # file-like ------------------------------------------------------------------------------------------
    def write(self, data) -> int:
        if self.error:
            raise self._fail()
        self.buf += data
        self.sha.update(data)
        self.size += len(data)
        while len(self.buf) >= self.part_size:
            chunk = bytes(self.buf[: self.part_size])
            del self.buf[: self.part_size]
            self._submit(chunk)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    # upload ---------------------------------------------------------------------------------------------
    def _submit(self, chunk: bytes) -> None:
        if self.upload_id is None:
            try:
                resp = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key, **self.extra)
            except Exception as exc:  # noqa: BLE001 - botocore raises many types; all are reported the same way
                self.error = exc
                raise self._fail() from exc
            self.upload_id = resp["UploadId"]
            self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="s3put")
        num = self.next_part
        self.next_part += 1
        self.slots.acquire()
        if self.error:
            self.slots.release()
            raise self._fail()
        self.futures.append(self.pool.submit(self._put_part, num, chunk))

    def _put_part(self, num: int, chunk: bytes) -> None:
        try:
            resp = self.client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                           PartNumber=num, Body=chunk)
            self.parts[num] = resp["ETag"]
        except Exception as exc:  # noqa: BLE001
            self.error = self.error or exc
        finally:
            self.slots.release()

    def _fail(self) -> S3Error:
        self.abort()
        return S3Error(f"upload of s3://{self.bucket}/{self.key} failed: {describe_error(self.error)}")

    def close(self) -> dict:
        if self.closed:
            return {"key": self.key, "size": self.size, "sha256": self.sha.hexdigest()}
        if self.error:
            raise self._fail()
        if self.upload_id is None:
            try:
                resp = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buf), **self.extra)
            except Exception as exc:  # noqa: BLE001
                self.error = exc
                raise self._fail() from exc
        else:
            if self.buf:
                self._submit(bytes(self.buf))
            self.buf = bytearray()
            self.pool.shutdown(wait=True)
            if self.error:
                raise self._fail()
            try:
                resp = self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                    MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in sorted(self.parts.items())]})
            except Exception as exc:  # noqa: BLE001
                self.error = exc
                raise self._fail() from exc
        self.version_id = resp.get("VersionId")
        self.closed = True
        return {"key": self.key, "size": self.size, "sha256": self.sha.hexdigest()}

    def abort(self) -> None:
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.upload_id and not self.closed:
            # best effort: the endpoint may be the thing that failed
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            self.upload_id = None
        self.closed = True


def stream_object(client, bucket: str, key: str, sink, chunk: int = 4 * MIB) -> dict:
    """Download an object into sink.write() in chunks; returns its size and sha256 (of the stored bytes)."""
    sha = hashlib.sha256()
    size = 0
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        for data in iter(lambda: body.read(chunk), b""):
            sha.update(data)
            size += len(data)
            sink.write(data)
    except Exception as exc:  # noqa: BLE001
        if isinstance(exc, S3Error):
            raise
        if getattr(exc, "response", None) is None and not type(exc).__module__.startswith(("botocore", "urllib3")):
            raise
        raise S3Error(f"download of s3://{bucket}/{key} failed: {describe_error(exc)}") from exc
    return {"size": size, "sha256": sha.hexdigest()}
