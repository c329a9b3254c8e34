"""Continuous archiving and point-in-time recovery with pgBackRest (Debian package) on S3 (moto behind stunnel
TLS), against a real PostgreSQL 15 cluster, with the configuration the role renders (module_utils renderer)."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time

from ansible_collections.odooops.hosting.plugins.module_utils.pgbackrest_config import (
    archive_settings,
    render_conf,
    restore_args,
)
from testbed.pg import ROOT as PG_ROOT
from testbed.s3 import ACCESS_KEY, REGION, SECRET_KEY

STANZA = "odoo"


def as_postgres(args, timeout=180):
    res = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{args[:3]} failed: {res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    return res.stdout


def test_pitr_recovers_to_target_time(pg_factory, moto, moto_tls):
    bucket = "pgbr-" + secrets.token_hex(4)
    moto.client().create_bucket(Bucket=bucket)
    os.makedirs(PG_ROOT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pgbr-", dir=PG_ROOT)
    shutil.chown(work, "postgres", "postgres")
    conf = os.path.join(work, "pgbackrest.conf")
    cipher_pass = secrets.token_urlsafe(32)
    try:
        pg = pg_factory("pitr", settings=archive_settings(conf, STANZA, archive_timeout=5))
        text = render_conf(STANZA, [{"path": pg.datadir, "port": pg.port, "socket_path": pg.sockdir}],
                           {"type": "s3", "bucket": bucket, "endpoint": "127.0.0.1", "port": moto_tls.port,
                            "region": REGION, "key": ACCESS_KEY, "key_secret": SECRET_KEY, "verify_tls": False,
                            "cipher_pass": cipher_pass, "path": "/pgbackrest"},
                           {"log-path": work, "lock-path": work, "spool-path": work})
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        shutil.chown(conf, "postgres", "postgres")

        pgbr = ["pgbackrest", f"--config={conf}", f"--stanza={STANZA}"]
        as_postgres(pgbr + ["stanza-create"])
        as_postgres(pgbr + ["check"])
        pg.psql("CREATE TABLE sale (id serial PRIMARY KEY, tag text, at timestamptz DEFAULT clock_timestamp())")
        pg.psql("INSERT INTO sale (tag) SELECT 'in-backup' FROM generate_series(1, 100)")
        as_postgres(pgbr + ["--type=full", "backup"])

        pg.psql("INSERT INTO sale (tag) SELECT 'before-target' FROM generate_series(1, 50)")
        time.sleep(1.2)
        target = pg.psql("SELECT clock_timestamp()::text")
        time.sleep(1.2)
        pg.psql("INSERT INTO sale (tag) SELECT 'after-target' FROM generate_series(1, 25)")
        as_postgres(pgbr + ["check"])  # switches WAL and waits until it is archived

        # WAL and backup are in S3, and the repository is encrypted (OpenSSL "Salted__" envelope)
        keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket)["Contents"]]
        assert any("/archive/" in k for k in keys) and any("/backup/" in k for k in keys)
        info = moto.client().get_object(Bucket=bucket, Key=f"pgbackrest/backup/{STANZA}/backup.info")["Body"].read()
        assert info.startswith(b"Salted__")

        pg.stop("immediate")
        shutil.rmtree(pg.datadir)
        os.mkdir(pg.datadir, 0o700)
        shutil.chown(pg.datadir, "postgres", "postgres")
        as_postgres(restore_args(conf, STANZA, target_time=target))
        pg.start(timeout=120)
        deadline = time.monotonic() + 120
        while pg.psql("SELECT pg_is_in_recovery()") == "t" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert pg.psql("SELECT pg_is_in_recovery()") == "f"
        counts = dict(line.split("|") for line in pg.psql("SELECT tag, count(*) FROM sale GROUP BY tag").splitlines())
        assert counts == {"in-backup": "100", "before-target": "50"}
        assert cipher_pass not in as_postgres(pgbr + ["info"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
