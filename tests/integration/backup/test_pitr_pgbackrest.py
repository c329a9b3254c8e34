"""Continuous archiving and point-in-time recovery with pgBackRest (Debian package) on S3 (moto behind stunnel
TLS), against a real PostgreSQL 15 cluster, with the configuration the role renders (module_utils renderer):
fixture `pgbr` in conftest.py."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.backup.pgbackrest import restore_args
from ansible_collections.odooops.hosting.plugins.module_utils.backup.pitr_drill import (
    Runner,
    pitr_drill,
    repository_info,
)
from testbed.pg import PG_BIN
from testbed.procs import free_port
from tests.integration.harness.backup import STANZA, as_postgres


def test_pitr_recovers_to_target_time(pgbr, moto):
    pg, bucket, cipher_pass = pgbr["pg"], pgbr["bucket"], pgbr["cipher_pass"]
    pg.psql("CREATE TABLE sale (id serial PRIMARY KEY, tag text, at timestamptz DEFAULT clock_timestamp())")
    pg.psql("INSERT INTO sale (tag) SELECT 'in-backup' FROM generate_series(1, 100)")
    pgbr["run"]("--type=full", "backup")

    pg.psql("INSERT INTO sale (tag) SELECT 'before-target' FROM generate_series(1, 50)")
    time.sleep(1.2)
    target = pg.psql("SELECT clock_timestamp()::text")
    time.sleep(1.2)
    pg.psql("INSERT INTO sale (tag) SELECT 'after-target' FROM generate_series(1, 25)")
    pgbr["run"]("check")  # switches WAL and waits until it is archived

    # WAL and backup are in S3, and the repository is encrypted (OpenSSL "Salted__" envelope)
    keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any("/archive/" in k for k in keys) and any("/backup/" in k for k in keys)
    info = moto.client().get_object(Bucket=bucket, Key=f"pgbackrest/backup/{STANZA}/backup.info")["Body"].read()
    assert info.startswith(b"Salted__")

    pg.stop("immediate")
    shutil.rmtree(pg.datadir)
    os.mkdir(pg.datadir, 0o700)
    shutil.chown(pg.datadir, "postgres", "postgres")
    as_postgres(restore_args(pgbr["conf"], STANZA, target_time=target))
    pg.start(timeout=120)
    deadline = time.monotonic() + 120
    while pg.psql("SELECT pg_is_in_recovery()") == "t" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert pg.psql("SELECT pg_is_in_recovery()") == "f"
    counts = dict(line.split("|") for line in pg.psql("SELECT tag, count(*) FROM sale GROUP BY tag").splitlines())
    assert counts == {"in-backup": "100", "before-target": "50"}
    assert cipher_pass not in pgbr["run"]("info")


@pytest.mark.slow  # two drills through S3 (about 20 s with its fixture)
def test_pitr_drill_into_scratch_instance(pgbr):
    """The drill's PITR half (module_utils/backup/pitr_drill.py): markers bracket the target, the scratch instance is
    restored beside the running cluster, checked, and removed; the production cluster is untouched."""
    pg = pgbr["pg"]
    pg.psql("CREATE DATABASE shop")
    pg.psql("CREATE TABLE res_partner (id serial PRIMARY KEY, name text); "
            "INSERT INTO res_partner (name) SELECT 'p' || g FROM generate_series(1, 40) g", dbname="shop")
    pgbr["run"]("--type=full", "backup")
    pg.psql("INSERT INTO res_partner (name) VALUES ('after-backup')", dbname="shop")
    # what check mode reads: the repository holds a backup to restore from
    assert repository_info(pgbr["conf"], STANZA, Runner(pg_bin=PG_BIN))["backups"] == 1
    scratch = os.path.join(pgbr["work"], "scratch")
    os.mkdir(scratch, 0o700)
    shutil.chown(scratch, "postgres", "postgres")

    res = pitr_drill(conf_path=pgbr["conf"], stanza=STANZA, scratch_dir=scratch, databases=["shop"],
                     source_socket=pg.sockdir, source_port=pg.port, scratch_port=free_port(),
                     runner=Runner(pg_bin=PG_BIN), recovery_timeout=120)
    checks = {c["name"]: c for c in res["checks"]}
    assert res["passed"], res
    assert set(checks) == {"archive", "restore", "recovery", "target", "marker_before", "marker_after",
                           "database:shop"}
    assert "res_partner 41" in checks["database:shop"]["detail"]  # the row written after the backup came back
    assert res["rto_s"] > 0 and res["rpo_s"] is not None and res["recovered_to"] <= res["target_time"].replace(" ", "T")
    assert os.listdir(scratch) == []  # scratch instance stopped and removed
    # production: still running, not in recovery, both markers there, nothing new pushed from a new timeline
    assert pg.psql("SELECT pg_is_in_recovery()") == "f"
    assert pg.psql(f"SELECT count(*) FROM odooops_drill.pitr_marker WHERE drill_id = '{res['drill_id']}'") == "2"
    assert "000000020" not in pgbr["run"]("info", "--output=json")  # the scratch timeline 2 never archived

    # a target after the end of the archive: the drill fails, names the cause, and still cleans up
    later = pg.psql("SELECT (now() + interval '1 hour')::text")
    late = pitr_drill(conf_path=pgbr["conf"], stanza=STANZA, scratch_dir=scratch, target=later,
                      source_socket=pg.sockdir, source_port=pg.port, scratch_port=free_port(),
                      runner=Runner(pg_bin=PG_BIN), recovery_timeout=120)
    failed = {c["name"]: c["detail"] for c in late["checks"] if not c["ok"]}
    assert not late["passed"] and set(failed) == {"recovery"}, failed
    assert os.listdir(scratch) == []
