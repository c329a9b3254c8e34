from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import passwd as odoo_passwd


def test_hash_verifies_and_differs_per_salt():
    h1 = odoo_passwd.hash_password("s3cret-master", rounds=1000)
    h2 = odoo_passwd.hash_password("s3cret-master", rounds=1000)
    assert h1 != h2 and h1.startswith("$pbkdf2-sha512$1000$")
    assert "s3cret-master" not in h1
    assert odoo_passwd.verify_password("s3cret-master", h1)
    assert not odoo_passwd.verify_password("wrong", h1)


def test_known_vector_matches_passlib_format():
    # passlib: pbkdf2_sha512.using(rounds=1000, salt=b"\x00"*16).hash("password") -- ab64, no padding
    h = odoo_passwd.hash_password("password", rounds=1000, salt=b"\x00" * 16)
    assert h.split("$")[3] == "AAAAAAAAAAAAAAAAAAAAAA"
    assert len(h.split("$")[4]) == 86  # 64 bytes in ab64 without padding


def test_empty_password_refused():
    with pytest.raises(ValueError):
        odoo_passwd.hash_password("")
