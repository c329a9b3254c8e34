# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that defines every secret of the platform, and how each is generated, rotated and aged.

The secrets live as variables in an Ansible Vault-encrypted vars file (docs/secrets.md). A rotation is
two-phase there too: ``begin`` generates the new values under ``odooops_secrets_pending`` (the live
variables keep the old ones, so anything that fails half-way still has the working secret), ``commit`` moves
them into the live variables and records when, ``discard`` drops them. The backup encryption key is a key
ring: committing adds a key with a new id and makes it current, older keys stay for restores.

Also: the schedule (maximum age per secret, which are due) and the audit record (never values).
Plain Python raising SecretsError; the vault encryption itself is done by the vault_secrets action plugin.
"""
from __future__ import annotations

import base64
import datetime
import fcntl
import json
import os
import secrets as _secrets
import string

PENDING = "odooops_secrets_pending"
ROTATED = "odooops_secrets_rotated"
KEYRING = "odooops_backup_keys"
KEY_ID = "odooops_backup_key_id"

# name -> variables it consists of, how new values come about, default maximum age (days)
CATALOGUE = {
    "db": {"vars": ["odooops_db_password"], "generate": "password", "max_age_days": 90,
           "description": "Odoo's PostgreSQL login password (two alternating login roles)"},
    "master": {"vars": ["odooops_odoo_admin_password"], "generate": "password", "max_age_days": 180,
               "description": "Odoo master password (admin_passwd, stored hashed in odoo.conf)"},
    "replication": {"vars": ["odooops_replication_password"], "generate": "password", "max_age_days": 180,
                    "description": "PostgreSQL replication role password"},
    "redis": {"vars": ["odooops_redis_odoo_password"], "generate": "password", "max_age_days": 90,
              "description": "Redis ACL password of Odoo's user"},
    "redis_admin": {"vars": ["odooops_redis_admin_password"], "generate": "password", "max_age_days": 90,
                    "description": "Redis ACL password of the admin user"},
    "s3": {"vars": ["odooops_s3_access_key", "odooops_s3_secret_key"], "generate": "s3", "max_age_days": 90,
           "description": "object storage access key pair (issued by the storage provider)"},
    "check": {"vars": ["odooops_check_password"], "generate": "password", "max_age_days": 90,
              "description": "password of the Odoo user upgrade.yml's smoke checks log in as (odoo_check_login)"},
    "anonymize": {"vars": ["odooops_anonymize_key"], "generate": "password", "max_age_days": 365,
                  "description": "key of the pseudonyms rehearse.yml gives staging copies (changing it changes them)"},
    "backup_key": {"vars": [KEYRING, KEY_ID], "generate": "keyring", "max_age_days": 365,
                   "description": "backup encryption key ring (AES-256, key ids in each backup manifest)"},
    # Patroni mode: etcd's root user (the role sets up RBAC with it) and Patroni's etcd user. Not rotated by
    # rotate_secrets.yml (etcd would keep the old root password): never due, and refused by begin()
    "etcd": {"vars": ["odooops_etcd_root_password", "odooops_etcd_patroni_password"], "generate": "passwords",
             "max_age_days": 365, "rotate": False,
             "description": "etcd's root and Patroni users (postgres_ha=patroni; RBAC of the leader lock store)"},
}

ALPHABET = string.ascii_letters + string.digits  # safe in YAML, conninfo/service files, URLs and env vars


class SecretsError(Exception):
    """Bad request about secrets; the message says what to do."""


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime.datetime:
    try:
        return datetime.datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError as exc:
        raise SecretsError(f"bad timestamp {text!r}: expected YYYY-MM-DDTHH:MM:SSZ") from exc


def check_names(names) -> list[str]:
    names = list(names or [])
    unknown = sorted(set(names) - set(CATALOGUE))
    if unknown:
        raise SecretsError(f"unknown secret(s) {', '.join(unknown)}; known: {', '.join(CATALOGUE)}")
    return names


def generate_password(length: int = 32) -> str:
    if length < 16:
        raise SecretsError("generated passwords are at least 16 characters")
    return "".join(_secrets.choice(ALPHABET) for _unused in range(length))


def new_backup_key(moment: datetime.datetime) -> dict:
    """{id, key}, the shared key ring format (the id carries the creation time: kYYYYmmddHHMMSS-xxxxxx)."""
    return {"id": "k" + moment.strftime("%Y%m%d%H%M%S") + "-" + _secrets.token_hex(3),
            "key": base64.b64encode(os.urandom(32)).decode()}


def generate(name: str, moment: datetime.datetime) -> dict:
    """New values for secret ``name``: {variable: value} (for the key ring: the new key and its id)."""
    kind = CATALOGUE[name]["generate"]
    if kind == "password":
        return {CATALOGUE[name]["vars"][0]: generate_password()}
    if kind == "passwords":
        return {var: generate_password() for var in CATALOGUE[name]["vars"]}
    if kind == "s3":
        # only meaningful for stores that accept any key pair (moto in the demo); real providers issue keys:
        # pass them to begin() as values
        return {"odooops_s3_access_key": "AK" + "".join(_secrets.choice(string.ascii_uppercase + string.digits)
                                                        for _unused in range(18)),
                "odooops_s3_secret_key": generate_password(40)}
    key = new_backup_key(moment)
    return {KEYRING: [key], KEY_ID: key["id"]}


def present(data: dict, name: str) -> bool:
    return all(data.get(var) not in (None, "", []) for var in CATALOGUE[name]["vars"])


def ensure(data: dict, names, moment: datetime.datetime | None = None) -> list[str]:
    """Generate every missing secret of ``names`` in ``data`` (in place); returns the generated names."""
    moment = moment or now_utc()
    made = []
    for name in check_names(names):
        if not present(data, name):
            data.update(generate(name, moment))
            data.setdefault(ROTATED, {})[name] = iso(moment)
            made.append(name)
    return made


def begin(data: dict, name: str, values: dict | None = None, moment: datetime.datetime | None = None) -> bool:
    """Pending new values for ``name`` (kept if a pending rotation exists: a re-run resumes it)."""
    check_names([name])
    if not CATALOGUE[name].get("rotate", True):
        raise SecretsError(f"secret {name!r} is not rotated by rotate_secrets.yml ({CATALOGUE[name]['description']}); "
                           "see docs/secrets.md")
    pending = data.setdefault(PENDING, {})
    if name in pending:
        new = {**pending[name], **(values or {})}
    elif CATALOGUE[name]["generate"] == "s3" and values:
        new = dict(values)  # issued by the provider
    else:
        new = {**generate(name, moment or now_utc()), **(values or {})}
    missing = [v for v in CATALOGUE[name]["vars"] if new.get(v) in (None, "", [])]
    if missing:
        raise SecretsError(f"no new value for {', '.join(missing)} of secret {name!r}")
    if pending.get(name) == new:
        return False
    pending[name] = new
    return True


def pending_values(data: dict, name: str) -> dict:
    """The variables as they will be once ``name`` is committed (the key ring: old keys plus the new)."""
    new = dict((data.get(PENDING) or {}).get(name) or {})
    if not new:
        return {}
    if CATALOGUE[name]["generate"] == "keyring":
        new[KEYRING] = _ring_with(data.get(KEYRING) or [], new[KEYRING])
    return new


def _ring_with(ring: list, added: list) -> list:
    ids = {k["id"] for k in ring}
    return [*ring, *[k for k in added if k["id"] not in ids]]


def commit(data: dict, name: str, moment: datetime.datetime | None = None) -> dict | None:
    """Pending values become live; returns non-secret details for the audit (or None: nothing pending)."""
    check_names([name])
    pending = data.get(PENDING) or {}
    if name not in pending:
        return None
    details = {}
    if CATALOGUE[name]["generate"] == "keyring":
        details = {"old_key_id": data.get(KEY_ID), "new_key_id": pending[name][KEY_ID]}
    data.update(pending_values(data, name))
    del pending[name]
    if not pending:
        data.pop(PENDING, None)
    data.setdefault(ROTATED, {})[name] = iso(moment or now_utc())
    return details


def discard(data: dict, name: str) -> bool:
    check_names([name])
    pending = data.get(PENDING) or {}
    if name not in pending:
        return False
    del pending[name]
    if not pending:
        data.pop(PENDING, None)
    return True


def due(rotated: dict | None, max_age_days: dict | None = None, moment: datetime.datetime | None = None,
        names=None) -> list[dict]:
    """Age of each secret against its maximum; never-recorded secrets are due."""
    moment = moment or now_utc()
    limits = {n: c["max_age_days"] for n, c in CATALOGUE.items()}
    limits.update(max_age_days or {})
    out = []
    for name in check_names(names or list(CATALOGUE)):
        last = (rotated or {}).get(name)
        age = None if last is None else round((moment - parse_iso(last)).total_seconds() / 86400, 1)
        limit = int(limits[name])
        out.append({"secret": name, "last_rotated": last, "age_days": age, "max_age_days": limit,
                    "due": CATALOGUE[name].get("rotate", True) and (age is None or age >= limit)})
    return out


# -- key ring (the backup encryption key) -------------------------------------------------------------
def ring_key(ring: list, key_id: str) -> bytes:
    for item in ring or []:
        if item.get("id") == key_id:
            key = base64.b64decode(item["key"])
            if len(key) != 32:
                raise SecretsError(f"backup key {key_id!r} is not 32 bytes")
            return key
    raise SecretsError(f"backup key {key_id!r} is not in the key ring (odooops_backup_keys): a backup encrypted "
                       "with it cannot be restored; restore the retired key into the ring")


def encrypt(ring: list, key_id: str, data: bytes, aad: bytes = b"") -> dict:
    """AES-256-GCM with the ring's key ``key_id``: {"key_id", "nonce", "ciphertext"} (base64)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(ring_key(ring, key_id)).encrypt(nonce, data, aad or None)
    return {"key_id": key_id, "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(sealed).decode()}


def decrypt(ring: list, blob: dict, aad: bytes = b"") -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(ring_key(ring, blob["key_id"])).decrypt(base64.b64decode(blob["nonce"]),
                                                          base64.b64decode(blob["ciphertext"]), aad or None)


# -- audit ---------------------------------------------------------------------------------------------
AUDIT_FORBIDDEN = ("password", "secret", "key", "token")


def audit_record(secret: str, action: str, by: str, details: dict | None = None,
                 moment: datetime.datetime | None = None) -> dict:
    details = dict(details or {})
    for field in details:
        if any(word in field.lower() for word in AUDIT_FORBIDDEN) and not field.lower().endswith(("_id", "_role")):
            raise SecretsError(f"audit detail {field!r} looks like a secret value: only ids and role names are "
                               "recorded")
    return {"at": iso(moment or now_utc()), "secret": secret, "action": action, "by": by, **details}


def append_audit(path: str, records: list[dict]) -> None:
    """Append JSON lines under an exclusive lock (several runs may share the log)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        for rec in records:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_UN)
