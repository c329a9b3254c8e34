"""Unit tests of the secrets catalogue, pending/commit/discard, schedule, key ring and audit (no engines)."""
from __future__ import annotations

import base64
import datetime
import json

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import scram
from ansible_collections.odooops.hosting.plugins.module_utils.secrets import store as st

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def test_ensure_generates_only_missing_secrets():
    data = {"odooops_db_password": "keep-me-please-0123456789"}
    made = st.ensure(data, list(st.CATALOGUE), T0)
    assert "db" not in made and set(made) == set(st.CATALOGUE) - {"db"}
    assert data["odooops_db_password"] == "keep-me-please-0123456789"
    assert len(data["odooops_redis_odoo_password"]) == 32
    assert data["odooops_redis_odoo_password"] != data["odooops_redis_admin_password"]
    assert data[st.KEY_ID] == data[st.KEYRING][0]["id"]
    assert len(base64.b64decode(data[st.KEYRING][0]["key"])) == 32
    assert st.ensure(data, list(st.CATALOGUE), T0) == []


def test_generated_passwords_are_plain_alphanumerics():
    pw = st.generate_password()
    assert len(pw) == 32 and pw.isalnum() and pw.isascii()
    with pytest.raises(st.SecretsError):
        st.generate_password(8)


def test_begin_keeps_live_value_until_commit_and_resumes():
    data = {}
    st.ensure(data, ["db"], T0)
    old = data["odooops_db_password"]
    assert st.begin(data, "db", {"odooops_db_user": "odoo_b"}, T0)
    new = data[st.PENDING]["db"]["odooops_db_password"]
    assert new != old and data["odooops_db_password"] == old
    # a re-run resumes the same pending password (phase 1 already used it)
    assert not st.begin(data, "db", {"odooops_db_user": "odoo_b"}, T0)
    assert data[st.PENDING]["db"]["odooops_db_password"] == new
    later = T0 + datetime.timedelta(days=3)
    assert st.commit(data, "db", later) == {}
    assert data["odooops_db_password"] == new and data["odooops_db_user"] == "odoo_b"
    assert st.PENDING not in data and data[st.ROTATED]["db"] == "2026-01-04T12:00:00Z"
    assert st.commit(data, "db") is None


def test_discard_leaves_old_value():
    data = {}
    st.ensure(data, ["redis"], T0)
    old = data["odooops_redis_odoo_password"]
    st.begin(data, "redis", None, T0)
    assert st.discard(data, "redis") and not st.discard(data, "redis")
    assert data["odooops_redis_odoo_password"] == old and st.PENDING not in data


def test_keyring_commit_keeps_old_keys_and_switches_current():
    data = {}
    st.ensure(data, ["backup_key"], T0)
    first = data[st.KEY_ID]
    blob = st.encrypt(data[st.KEYRING], first, b"dump before rotation")
    st.begin(data, "backup_key", None, T0 + datetime.timedelta(days=1))
    details = st.commit(data, "backup_key")
    assert details["old_key_id"] == first and details["new_key_id"] == data[st.KEY_ID] != first
    assert [k["id"] for k in data[st.KEYRING]] == [first, data[st.KEY_ID]]
    assert st.decrypt(data[st.KEYRING], blob) == b"dump before rotation"
    new_blob = st.encrypt(data[st.KEYRING], data[st.KEY_ID], b"after")
    assert new_blob["key_id"] != blob["key_id"]
    with pytest.raises(st.SecretsError, match="not in the key ring"):
        st.decrypt(data[st.KEYRING][1:], blob)


def test_s3_keys_come_from_the_provider():
    data = {}
    with pytest.raises(st.SecretsError, match="odooops_s3_secret_key"):
        st.begin(data, "s3", {"odooops_s3_access_key": "AKNEW"})
    assert st.begin(data, "s3", {"odooops_s3_access_key": "AKNEW", "odooops_s3_secret_key": "x" * 40})
    assert data[st.PENDING]["s3"]["odooops_s3_access_key"] == "AKNEW"


def test_unknown_secret_named():
    with pytest.raises(st.SecretsError, match="unknown secret.*tls_wrong"):
        st.ensure({}, ["tls_wrong"])


@pytest.mark.parametrize("age_days, limit, is_due", [(10, 90, False), (90, 90, True), (200, 90, True)])
def test_due_against_max_age(age_days, limit, is_due):
    rotated = {"db": st.iso(T0 - datetime.timedelta(days=age_days))}
    row = st.due(rotated, {"db": limit}, T0, names=["db"])[0]
    assert row["due"] is is_due and row["age_days"] == age_days and row["max_age_days"] == limit


def test_never_rotated_is_due():
    rows = {r["secret"]: r for r in st.due({}, None, T0)}
    assert set(rows) == set(st.CATALOGUE)
    assert all(r["due"] for n, r in rows.items() if n != "etcd")


def test_etcd_passwords_are_generated_but_never_rotated_by_the_playbook():
    data = {}
    assert st.ensure(data, ["etcd"], T0) == ["etcd"]
    root, patroni = data["odooops_etcd_root_password"], data["odooops_etcd_patroni_password"]
    assert len(root) == 32 and len(patroni) == 32 and root != patroni
    # etcd would keep its old root password: rotate_secrets.yml never picks it, and refuses it when asked
    old = {"etcd": st.iso(T0 - datetime.timedelta(days=4000))}
    assert st.due(old, None, T0, names=["etcd"])[0]["due"] is False
    with pytest.raises(st.SecretsError, match="'etcd' is not rotated by rotate_secrets.yml"):
        st.begin(data, "etcd", moment=T0)
    assert st.PENDING not in data or "etcd" not in data[st.PENDING]


def test_audit_records_never_take_values(tmp_path):
    rec = st.audit_record("db", "rotated", "alice", {"old_role": "odoo", "new_role": "odoo_b"}, T0)
    assert rec == {"at": "2026-01-01T12:00:00Z", "secret": "db", "action": "rotated", "by": "alice",
                   "old_role": "odoo", "new_role": "odoo_b"}
    with pytest.raises(st.SecretsError, match="looks like a secret"):
        st.audit_record("db", "rotated", "alice", {"new_password": "x"})
    log = tmp_path / "audit" / "secrets.jsonl"
    st.append_audit(str(log), [rec])
    st.append_audit(str(log), [rec])
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["secret"] == "db"


def test_scram_verifier_format_and_match():
    v = scram.verifier("pässwörd ok", salt=b"\x01" * 16, iterations=4096)
    iterations, salt, stored, server = scram.parse(v)
    assert v.startswith("SCRAM-SHA-256$4096:AQEBAQEBAQEBAQEBAQEBAQ==$")
    assert iterations == 4096 and salt == b"\x01" * 16 and len(stored) == len(server) == 32
    assert scram.matches("pässwörd ok", v) and not scram.matches("passwörd ok", v)
    assert scram.verifier("a", salt=b"s" * 16) == scram.verifier("a", salt=b"s" * 16)
    assert scram.verifier("a") != scram.verifier("a")  # random salt
    assert not scram.matches("a", None) and not scram.matches("a", "md5abc")
    with pytest.raises(scram.ScramError):
        scram.parse("SCRAM-SHA-256$x:y$z")


def test_saslprep_maps_like_postgres():
    # non-ASCII space maps to space, soft hyphen (B.1) to nothing, NFKC folds the ligature
    assert scram.saslprep("a\u00a0b") == b"a b"
    assert scram.saslprep("a\u00adb") == b"ab"
    assert scram.saslprep("\ufb01x") == b"fix"
    # prohibited (a control character) -> raw bytes, as pg_saslprep's caller does
    assert scram.saslprep("é\u0007") == "é\u0007".encode()
    assert scram.saslprep("plain ascii\x07") == b"plain ascii\x07"
