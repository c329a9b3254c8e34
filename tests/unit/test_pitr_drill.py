"""PITR drill (module_utils/backup/pitr_drill.py): settings refused before anything runs, scratch restore arguments."""
from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.backup.pitr_drill import (
    PitrDrillError,
    check_settings,
    parse_ts,
    pitr_drill,
    scratch_restore_args,
    scratch_server_options,
)


@pytest.mark.parametrize(("target", "mode"), [("", "marker"), ("marker", "marker"), ("latest", "latest"),
                                              ("2026-11-27 10:15:00+00", "time"),
                                              ("2026-11-27T10:15:00.123+01:00", "time")])
def test_modes(target, mode):
    assert check_settings(stanza="odoo", target=target, scratch_dir="/var/tmp/x", databases=["shop"]) == mode


@pytest.mark.parametrize(("kw", "msg"), [
    ({"stanza": "bad stanza"}, "stanza"),
    ({"target": "yesterday"}, "neither"),
    ({"scratch_dir": "relative/dir"}, "absolute"),
    ({"scratch_dir": "/"}, "absolute"),
    ({"databases": ["shop; drop"]}, "invalid database"),
])
def test_bad_settings_refused(kw, msg):
    args = {"stanza": "odoo", "target": "marker", "scratch_dir": "/var/tmp/x", "databases": [], **kw}
    with pytest.raises(PitrDrillError, match=msg):
        check_settings(**args)


def test_missing_configuration_refused_before_anything(tmp_path):
    with pytest.raises(PitrDrillError, match="not configured"):
        pitr_drill(conf_path=str(tmp_path / "none.conf"), stanza="odoo", scratch_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_restore_args_never_touch_production():
    args = scratch_restore_args("/etc/pgbackrest/pgbackrest.conf", "odoo", "/scratch/pitr-1/data",
                                target_time="2026-11-27 10:15:00+00", databases=["shop"])
    assert "--pg1-path=/scratch/pitr-1/data" in args and "--archive-mode=off" in args
    assert "--tablespace-map-all=/scratch/pitr-1/tblspc" in args and "--db-include=shop" in args
    assert args[-4:] == ["--type=time", "--target=2026-11-27 10:15:00+00", "--target-action=promote", "restore"]
    assert "--delta" not in args
    latest = scratch_restore_args("/c", "odoo", "/s/data")
    assert latest[-2:] == ["--type=default", "restore"]
    opts = scratch_server_options("/s", 54329)
    assert "archive_mode=off" in opts and "listen_addresses=" in opts and "unix_socket_directories=/s/sock" in opts


def test_parse_ts():
    assert parse_ts("2026-11-27 10:15:00+00").isoformat() == "2026-11-27T10:15:00+00:00"
    assert parse_ts("2026-11-27 10:15:00.5+01").utcoffset().total_seconds() == 3600
    assert parse_ts("") is None
