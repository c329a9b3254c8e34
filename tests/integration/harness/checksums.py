"""Fingerprints of a database and a directory tree: a change anywhere shows."""
from __future__ import annotations

import hashlib
import os


def table_checksums(pg, db: str) -> dict:
    """md5 of every user table's rows in primary-key order: a change anywhere shows."""
    tables = pg.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
                     "WHERE schemaname = 'public'", dbname=db).split(",")
    out = {}
    for t in tables:
        out[t] = pg.psql(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {t} t",
                         dbname=db)
    return out


def tree_digest(path: str) -> dict:
    out = {}
    for dirpath, _dirnames, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, path)] = hashlib.sha256(fh.read()).hexdigest()
    return out
