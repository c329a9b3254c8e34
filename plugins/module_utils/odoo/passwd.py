# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Odoo's master password (admin_passwd) hashing: pbkdf2-sha512 in passlib's modular crypt format.

Odoo stores ``admin_passwd`` hashed with passlib's ``pbkdf2_sha512`` and verifies it with passlib;
this module writes the same format without depending on passlib:
``$pbkdf2-sha512$<rounds>$<ab64 salt>$<ab64 checksum>`` (ab64: base64 with "." for "+", no padding).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

DEFAULT_ROUNDS = 600_000
PREFIX = "$pbkdf2-sha512$"


def _ab64_encode(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=").replace("+", ".")


def _ab64_decode(text: str) -> bytes:
    text = text.replace(".", "+")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, rounds: int = DEFAULT_ROUNDS, salt: bytes | None = None) -> str:
    if not password:
        raise ValueError("the master password must not be empty")
    salt = salt if salt is not None else os.urandom(16)
    checksum = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, rounds)
    return f"{PREFIX}{rounds}${_ab64_encode(salt)}${_ab64_encode(checksum)}"


def is_hashed(value: str) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX) and value.count("$") == 4


def verify_password(password: str, hashed: str) -> bool:
    if not is_hashed(hashed):
        raise ValueError("not a pbkdf2-sha512 hash")
    _empty, _scheme, rounds, salt, checksum = hashed.split("$")
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), _ab64_decode(salt), int(rounds))
    return hmac.compare_digest(candidate, _ab64_decode(checksum))
