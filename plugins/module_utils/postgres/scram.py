# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SCRAM-SHA-256 password verifiers for PostgreSQL, computed on the client.

``ALTER ROLE r PASSWORD 'SCRAM-SHA-256$...'`` stores a verifier sent by the client as it is, so the plain
password never reaches the server (nor its logs, nor pg_stat_statements). The format is PostgreSQL's
(src/common/scram-common.c)::

    SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>

SaltedPassword = PBKDF2-HMAC-SHA256(SASLprep(password), salt, iterations); ClientKey = HMAC(SaltedPassword,
"Client Key"); StoredKey = SHA256(ClientKey); ServerKey = HMAC(SaltedPassword, "Server Key").
Plain Python (hashlib, hmac, stringprep): no libpq needed on the host running the module.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

PREFIX = "SCRAM-SHA-256$"
DEFAULT_ITERATIONS = 4096  # PostgreSQL's scram_iterations default
SALT_BYTES = 16  # PostgreSQL's SCRAM_DEFAULT_SALT_LEN


class ScramError(ValueError):
    """A verifier that is not PostgreSQL's SCRAM-SHA-256 format."""


def _prohibited(ch: str) -> bool:
    return (stringprep.in_table_c12(ch) or stringprep.in_table_c21_c22(ch) or stringprep.in_table_c3(ch)
            or stringprep.in_table_c4(ch) or stringprep.in_table_c5(ch) or stringprep.in_table_c6(ch)
            or stringprep.in_table_c7(ch) or stringprep.in_table_c8(ch) or stringprep.in_table_c9(ch)
            or stringprep.in_table_a1(ch))


def saslprep(password: str) -> bytes:
    """The bytes PostgreSQL hashes: SASLprep (RFC 4013) as pg_saslprep() applies it.

    Like PostgreSQL, an ASCII password is used as is, and a password SASLprep refuses (prohibited or
    unassigned characters, bad bidi, empty result) is used as its raw UTF-8 bytes instead of failing.
    """
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = "".join(" " if stringprep.in_table_c12(ch) else ch for ch in password if not stringprep.in_table_b1(ch))
    norm = unicodedata.normalize("NFKC", mapped)
    if not norm or any(_prohibited(ch) for ch in norm):
        return raw
    ral = [stringprep.in_table_d1(ch) for ch in norm]
    if any(ral) and (any(stringprep.in_table_d2(ch) for ch in norm) or not (ral[0] and ral[-1])):
        return raw
    return norm.encode("utf-8")


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def verifier(password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    """A new SCRAM-SHA-256 verifier for ``password`` (random salt unless given)."""
    if not isinstance(password, str) or password == "":
        raise ScramError("the password must be a non-empty string")
    if iterations < 1:
        raise ScramError("iterations must be positive")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    stored_key, server_key = _keys(password, salt, iterations)
    b64 = base64.b64encode
    return f"{PREFIX}{iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def parse(value: str) -> tuple[int, bytes, bytes, bytes]:
    """(iterations, salt, stored_key, server_key) of a verifier; ScramError when it is not one."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        raise ScramError("not a SCRAM-SHA-256 verifier")
    try:
        head, keys = value[len(PREFIX):].split("$")
        iterations, salt = head.split(":")
        stored_key, server_key = keys.split(":")
        parts = (int(iterations), base64.b64decode(salt, validate=True),
                 base64.b64decode(stored_key, validate=True), base64.b64decode(server_key, validate=True))
    except ValueError as exc:
        raise ScramError("malformed SCRAM-SHA-256 verifier") from exc
    if parts[0] < 1 or len(parts[2]) != 32 or len(parts[3]) != 32:
        raise ScramError("malformed SCRAM-SHA-256 verifier")
    return parts


def is_verifier(value) -> bool:
    try:
        parse(value)
    except ScramError:
        return False
    return True


def matches(password: str, value: str | None) -> bool:
    """True when ``value`` (e.g. pg_authid.rolpassword) is a SCRAM verifier of ``password``."""
    if not value or not is_verifier(value):
        return False
    iterations, salt, stored_key, server_key = parse(value)
    got_stored, got_server = _keys(password, salt, iterations)
    return hmac.compare_digest(got_stored, stored_key) and hmac.compare_digest(got_server, server_key)
