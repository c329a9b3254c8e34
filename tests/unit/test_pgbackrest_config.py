"""pgbackrest.conf rendering and its validation."""
from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.backup.pgbackrest import (
    PgBackRestConfigError,
    archive_settings,
    cron_entries,
    render_conf,
    restore_args,
)

REPO = {"type": "s3", "bucket": "b", "endpoint": "s3.example.com", "region": "eu-west-1", "key": "AK",
        "key_secret": "SK", "cipher_pass": "p" * 24}
NODES = [{"path": "/var/lib/postgresql/15/main", "port": 5432}]


def parse(text):
    out, section = {}, None
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
            out[section] = {}
        elif "=" in line:
            k, v = line.split("=", 1)
            out[section][k] = v
    return out


def test_render_s3_encrypted():
    conf = parse(render_conf("odoo", NODES, REPO))
    g = conf["global"]
    assert g["repo1-type"] == "s3" and g["repo1-s3-uri-style"] == "path" and g["repo1-cipher-type"] == "aes-256-cbc"
    assert g["repo1-cipher-pass"] == "p" * 24 and g["repo1-bundle"] == "y" and g["start-fast"] == "y"
    assert conf["odoo"] == {"pg1-path": "/var/lib/postgresql/15/main", "pg1-port": "5432"}


def test_backup_standby_needs_two_nodes_and_renders_both():
    with pytest.raises(PgBackRestConfigError, match="backup_standby"):
        render_conf("odoo", NODES, REPO, backup_standby=True)
    nodes = [{"path": "/d", "host": "db1"}, {"path": "/d", "host": "db2", "host_type": "tls"}]
    conf = parse(render_conf("odoo", nodes, REPO, backup_standby=True))
    assert conf["global"]["backup-standby"] == "y"
    assert conf["odoo"]["pg2-host"] == "db2" and conf["odoo"]["pg2-host-type"] == "tls"


@pytest.mark.parametrize("change,msg", [
    ({"bucket": ""}, "needs 'bucket'"),
    ({"cipher_pass": "short"}, "at least 20"),
    ({"cipher_type": "rot13"}, "cipher_type"),
    ({"key_secret": "a\nrepo1-path=/x"}, "one line"),
    ({"type": "gcs"}, "not supported"),
])
def test_bad_repo_settings_fail_clearly(change, msg):
    with pytest.raises(PgBackRestConfigError, match=msg):
        render_conf("odoo", NODES, {**REPO, **change})


def test_bad_stanza_and_nodes():
    with pytest.raises(PgBackRestConfigError, match="stanza"):
        render_conf("bad stanza", NODES, REPO)
    with pytest.raises(PgBackRestConfigError, match="path"):
        render_conf("odoo", [{"port": 5432}], REPO)


def test_archive_restore_and_schedules():
    s = archive_settings("/etc/pgbackrest/pgbackrest.conf", "odoo", 30)
    assert s["archive_mode"] == "on" and s["archive_timeout"] == "'30s'"
    assert "archive-push %p" in s["archive_command"]
    args = restore_args("/c", "odoo", "2026-11-27 10:15:00+00")
    assert "--type=time" in args and "--target=2026-11-27 10:15:00+00" in args and args[-1] == "restore"
    assert "--type=default" in restore_args("/c", "odoo")
    with pytest.raises(PgBackRestConfigError, match="timestamp"):
        restore_args("/c", "odoo", "yesterday; rm -rf /")
    cron = cron_entries("/c", "odoo", {"full": "0 1 * * 0", "diff": "0 1 * * 1-6", "incr": ""})
    assert [c["name"] for c in cron] == ["pgbackrest odoo full backup", "pgbackrest odoo diff backup"]
    assert cron[1]["weekday"] == "1-6" and cron[1]["job"].endswith("--type=diff backup")
    with pytest.raises(PgBackRestConfigError, match="5 cron fields"):
        cron_entries("/c", "odoo", {"full": "daily"})
