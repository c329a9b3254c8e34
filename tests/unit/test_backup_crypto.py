"""Chunked AES-256-GCM stream encryption of backup parts."""
from __future__ import annotations

import base64
import io
import os

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.backup.crypto import (
    BackupCryptoError,
    DecryptingWriter,
    DecryptionError,
    EncryptingWriter,
    key_check,
    parse_key_ring,
)

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def encrypt(data: bytes, chunk=64, feed=7) -> bytes:
    out = io.BytesIO()
    enc = EncryptingWriter(out, KEY, "k1", chunk_size=chunk)
    for i in range(0, len(data), feed):
        enc.write(data[i: i + feed])
    enc.close()
    return out.getvalue()


def decrypt(blob: bytes, keys=None, feed=5) -> bytes:
    out = io.BytesIO()
    dec = DecryptingWriter(out, keys or {"k1": KEY})
    for i in range(0, len(blob), feed):
        dec.write(blob[i: i + feed])
    dec.close()
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 128, 1000])
def test_round_trip_any_size(size):
    data = os.urandom(size)
    blob = encrypt(data)
    assert decrypt(blob) == data
    # the plaintext is not in the blob: asked of 16 bytes or more (a shorter random string turns up by chance)
    assert size < 16 or data not in blob


def test_truncated_at_chunk_boundary_is_detected():
    data = os.urandom(640)
    blob = encrypt(data)
    header = 8 + 1 + 2 + 8
    chunk = 4 + 64 + 16
    cut = blob[: header + 3 * chunk]  # whole chunks only, final chunk missing
    with pytest.raises(DecryptionError, match="truncated"):
        decrypt(cut)


def test_flipped_byte_and_reordered_chunks_fail():
    data = os.urandom(300)
    blob = bytearray(encrypt(data))
    blob[40] ^= 1
    with pytest.raises(DecryptionError, match="authentication failed at chunk 0"):
        decrypt(bytes(blob))
    blob = encrypt(data)
    header, chunk = 19, 84
    swapped = blob[:header] + blob[header + chunk: header + 2 * chunk] + blob[header: header + chunk] + \
        blob[header + 2 * chunk:]
    with pytest.raises(DecryptionError, match="authentication failed"):
        decrypt(swapped)


def test_wrong_key_and_unknown_key_id():
    blob = encrypt(b"secret business data" * 10)
    with pytest.raises(DecryptionError, match="authentication failed"):
        decrypt(blob, {"k1": OTHER})
    with pytest.raises(DecryptionError, match="key id 'k1', which is not among the keys given \\(k2\\)"):
        decrypt(blob, {"k2": KEY})


def test_key_ring_validation_never_echoes_keys():
    good = base64.b64encode(KEY).decode()
    assert parse_key_ring([{"id": "a", "key": good}]) == {"a": KEY}
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(BackupCryptoError, match="must be 32 bytes") as err:
        parse_key_ring([{"id": "a", "key": short}])
    assert short not in str(err.value)
    with pytest.raises(BackupCryptoError, match="not valid base64"):
        parse_key_ring([{"id": "a", "key": "%%%"}])
    with pytest.raises(BackupCryptoError, match="twice"):
        parse_key_ring([{"id": "a", "key": good}, {"id": "a", "key": good}])
    assert key_check(KEY) != key_check(OTHER) and len(key_check(KEY)) == 16
