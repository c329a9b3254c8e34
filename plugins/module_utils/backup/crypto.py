# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Client-side encryption of backup parts: AES-256-GCM in chunks (authenticated, streamable).

Stream layout (version 1)::

    header   = b"OOBKENC1" | len(key_id) (1 byte) | key_id (utf-8) | nonce prefix (8 random bytes)
    chunk    = len(ciphertext) (4 bytes, big endian) | ciphertext (plaintext + 16-byte GCM tag)

Every chunk is sealed with the nonce ``prefix || counter`` (counter: 4 bytes, big endian) and the associated
data ``header || counter || final flag``. The last chunk carries final flag 1 (it may be empty), so a stream
cut at a chunk boundary, chunks reordered or dropped, or a header swapped between streams all fail
authentication. Memory use is one chunk (1 MiB by default) whatever the size of the stream.

Plain Python; ``cryptography`` is imported on use so that modules can report it missing cleanly.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct

MAGIC = b"OOBKENC1"
ALGORITHM = "AES-256-GCM-CHUNKED-v1"
DEFAULT_CHUNK = 1024 * 1024
TAG = 16


class BackupCryptoError(Exception):
    """Encryption keys or an encrypted stream are not usable."""


class DecryptionError(BackupCryptoError):
    """An encrypted stream failed authentication (wrong key, or altered/truncated data)."""


def _aesgcm(key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def decode_key(key_b64: str, key_id: str = "?") -> bytes:
    """A key from the vault: base64 of 32 bytes."""
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (ValueError, TypeError) as exc:
        raise BackupCryptoError(f"backup key {key_id!r} is not valid base64") from exc
    if len(key) != 32:
        raise BackupCryptoError(f"backup key {key_id!r} must be 32 bytes (base64 of 32 random bytes), not {len(key)}")
    return key


def parse_key_ring(keys: list | None) -> dict:
    """[{id, key}] -> {id: key bytes}; raises on malformed entries (never echoing key material)."""
    ring = {}
    for i, entry in enumerate(keys or []):
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("key"):
            raise BackupCryptoError(f"backup key #{i} must be a mapping with 'id' and 'key'")
        kid = str(entry["id"])
        if kid in ring:
            raise BackupCryptoError(f"backup key id {kid!r} appears twice")
        if len(kid.encode()) > 255:
            raise BackupCryptoError("backup key ids must be at most 255 bytes")
        ring[kid] = decode_key(str(entry["key"]), kid)
    return ring


def key_check(key: bytes) -> str:
    """A short, non-reversible fingerprint of a key, kept in the manifest to name a wrong key before any download."""
    return hmac.new(key, b"odooops-backup-key-check", hashlib.sha256).hexdigest()[:16]


class EncryptingWriter:
    """File-like sink wrapper: write() plaintext, the encrypted stream goes to sink.write()."""

    def __init__(self, sink, key: bytes, key_id: str, chunk_size: int = DEFAULT_CHUNK):
        self.sink = sink
        self.aead = _aesgcm(key)
        self.chunk_size = chunk_size
        kid = key_id.encode()
        self.header = MAGIC + bytes([len(kid)]) + kid + os.urandom(8)
        self.prefix = self.header[-8:]
        self.counter = 0
        self.buf = bytearray()
        self.closed = False
        self.plain_size = 0
        sink.write(self.header)

    def _seal(self, data: bytes, final: bool) -> None:
        if self.counter >= 2**32 - 1:
            raise BackupCryptoError("stream too long for one nonce prefix")
        ctr = struct.pack(">I", self.counter)
        ct = self.aead.encrypt(self.prefix + ctr, bytes(data), self.header + ctr + (b"\x01" if final else b"\x00"))
        self.sink.write(struct.pack(">I", len(ct)) + ct)
        self.counter += 1

    def write(self, data) -> int:
        self.buf += data
        self.plain_size += len(data)
        while len(self.buf) > self.chunk_size:  # keep at least one byte back: the final chunk is sealed in close()
            self._seal(self.buf[: self.chunk_size], False)
            del self.buf[: self.chunk_size]
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self._seal(self.buf, True)
            self.buf = bytearray()
            self.closed = True


class DecryptingWriter:
    """Push-based decryption: write() encrypted bytes as they arrive, plaintext goes to sink.write().

    close() raises DecryptionError when the stream ended before its final chunk (truncation).
    """

    def __init__(self, sink, keys: dict):
        self.sink = sink
        self.keys = keys
        self.buf = bytearray()
        self.header = None
        self.aead = None
        self.prefix = b""
        self.counter = 0
        self.finished = False
        self.key_id = None

    def _parse_header(self) -> bool:
        if len(self.buf) < len(MAGIC) + 1:
            return False
        if bytes(self.buf[: len(MAGIC)]) != MAGIC:
            raise DecryptionError("not an odooops encrypted stream (bad magic)")
        klen = self.buf[len(MAGIC)]
        total = len(MAGIC) + 1 + klen + 8
        if len(self.buf) < total:
            return False
        self.header = bytes(self.buf[:total])
        self.key_id = self.header[len(MAGIC) + 1: len(MAGIC) + 1 + klen].decode()
        if self.key_id not in self.keys:
            raise DecryptionError(f"encrypted with key id {self.key_id!r}, which is not among the keys given "
                                  f"({', '.join(sorted(self.keys)) or 'none'})")
        self.aead = _aesgcm(self.keys[self.key_id])
        self.prefix = self.header[-8:]
        del self.buf[:total]
        return True

    def write(self, data) -> int:
        from cryptography.exceptions import InvalidTag

        self.buf += data
        if self.header is None and not self._parse_header():
            return len(data)
        while len(self.buf) >= 4:
            (clen,) = struct.unpack(">I", self.buf[:4])
            if len(self.buf) < 4 + clen:
                break
            if self.finished:
                raise DecryptionError("data after the final chunk")
            ct = bytes(self.buf[4: 4 + clen])
            del self.buf[: 4 + clen]
            ctr = struct.pack(">I", self.counter)
            plain = None
            for flag in (b"\x00", b"\x01"):
                try:
                    plain = self.aead.decrypt(self.prefix + ctr, ct, self.header + ctr + flag)
                except InvalidTag:
                    continue
                self.finished = flag == b"\x01"
                break
            if plain is None:
                raise DecryptionError(f"authentication failed at chunk {self.counter} (wrong key for key id "
                                      f"{self.key_id!r}, or altered data)")
            self.counter += 1
            self.sink.write(plain)
        return len(data)

    def close(self) -> None:
        if not self.finished:
            raise DecryptionError("encrypted stream is truncated (final chunk missing)")


class NullSink:
    def write(self, data) -> int:
        return len(data)
