"""Fixtures of the backup tests: an Odoo-like database with its filestore, S3 clients, key rings."""
from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.backup.pgbackrest import archive_settings, render_conf
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import s3_client
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import PgConn
from testbed.pg import ROOT as PG_ROOT
from testbed.s3 import ACCESS_KEY, REGION, SECRET_KEY
from tests.integration.backup.backup_seed import BACKUP_PASSWORD, KEY_A, seed_odoo
from tests.integration.harness.backup import STANZA, as_postgres


@pytest.fixture
def key_ring():
    return {"k1": base64.b64decode(KEY_A)}


@pytest.fixture
def odoo_db(pg, tmp_path):
    """Database 'shop' on the pg fixture, a login role for backups (password only via pgpass), filestore."""
    info = seed_odoo(pg, "shop", str(tmp_path / "filestore"))
    pg.psql("CREATE ROLE odoo_owner NOLOGIN CREATEDB")
    escaped = BACKUP_PASSWORD.replace("'", "''")
    pg.psql(f"CREATE ROLE odooops_backup LOGIN PASSWORD '{escaped}' IN ROLE pg_read_all_data")
    info.update(pg=pg, root=str(tmp_path / "filestore"), db="shop",
                conn=PgConn(host="127.0.0.1", port=pg.port, user="odooops_backup", password=BACKUP_PASSWORD),
                admin=PgConn(host="127.0.0.1", port=pg.port, user="postgres"))
    return info


@pytest.fixture
def s3(moto):
    return s3_client(endpoint_url=moto.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY)


@pytest.fixture
def pgbr(pg_factory, moto, moto_tls):
    """A PostgreSQL 15 cluster archiving to an encrypted pgBackRest repository on moto (behind stunnel TLS), with
    the configuration the role renders, the stanza created; yields {pg, conf, run, bucket, cipher_pass, work}."""
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
        pgbr_args = ["pgbackrest", f"--config={conf}", f"--stanza={STANZA}"]
        as_postgres(pgbr_args + ["stanza-create"])
        as_postgres(pgbr_args + ["check"])
        yield {"pg": pg, "conf": conf, "run": lambda *a: as_postgres(pgbr_args + list(a)), "bucket": bucket,
               "cipher_pass": cipher_pass, "work": work}
    finally:
        shutil.rmtree(work, ignore_errors=True)
