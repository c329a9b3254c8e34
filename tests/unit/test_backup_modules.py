"""The backup modules' main(): bad input fails with a clear message before any connection; secrets not echoed."""
from __future__ import annotations

import base64
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.odooops.hosting.plugins.modules import (
    odoo_backup,
    odoo_backup_retention,
    odoo_drill_report,
    odoo_restore,
)

S3 = {"endpoint_url": "http://127.0.0.1:9", "access_key": "AK", "secret_key": "very-secret-key-1", "bucket": "b"}
KEY = base64.b64encode(bytes(32)).decode()


def run_main(module, args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        module.main()
    out = json.loads(capsys.readouterr().out)
    return exc.value.code, out


def test_backup_lock_mode_needs_days(capsys):
    rc, out = run_main(odoo_backup, {**S3, "db": "shop", "lock_mode": "COMPLIANCE"}, capsys)
    assert rc == 1 and out["msg"] == "lock_mode needs lock_days > 0"


def test_backup_unknown_key_id_and_short_key(capsys):
    rc, out = run_main(odoo_backup, {**S3, "db": "shop", "encryption_keys": [{"id": "k1", "key": KEY}],
                                     "encryption_key_id": "k2"}, capsys)
    assert rc == 1 and "'k2' is not in the key ring (k1)" in out["msg"]
    short = base64.b64encode(b"0123456789").decode()
    rc, out = run_main(odoo_backup, {**S3, "db": "shop", "encryption_keys": [{"id": "k1", "key": short}],
                                     "encryption_key_id": "k1"}, capsys)
    assert rc == 1 and "must be 32 bytes" in out["msg"]
    assert short not in json.dumps(out) and "very-secret-key-1" not in json.dumps(out)


def test_restore_rejects_bad_choices_before_connecting(capsys):
    rc, out = run_main(odoo_restore, {**S3, "db": "shop", "ssl_mode": "sometimes"}, capsys)
    assert rc == 1 and "ssl_mode" in out["msg"]


def test_retention_negative_count(capsys):
    rc, out = run_main(odoo_backup_retention, {**S3, "daily": -1}, capsys)
    assert rc == 1 and out["msg"] == "daily must be 0 or more"


def test_drill_report_writes_json_and_summary(tmp_path, capsys):
    args = {"db": "shop", "report_dir": str(tmp_path),
            "backup": {"backup_id": "x", "manifest": {"odooops": {"snapshot_at": "2026-11-27T01:00:00+00:00"}}},
            "restore": {"changed": True, "target_db": "shop_drill", "timings": {"total_s": 3.0}},
            "started_at": "2026-11-27T01:10:00+00:00"}
    rc, out = run_main(odoo_drill_report, args, capsys)
    assert rc == 0 and out["report"]["rpo_s"] == 600.0 and out["report"]["passed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.split("/")[-1] for p in out["paths"])
    rc, out = run_main(odoo_drill_report, {**args, "upload": True}, capsys)
    assert rc == 1 and "bucket" in out["msg"]
