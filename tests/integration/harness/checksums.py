"""Fingerprints of a database and a directory tree: a change anywhere shows."""
from __future__ import annotations

import hashlib
import os


def table_checksums(pg, db: str, sequences: bool = False) -> dict:
    """Every public table's row count and md5 of its rows (ordered): a change anywhere shows. sequences: every
    sequence's position too (a restore must bring them back; a rolled-back transaction advances them, so a check
    that "nothing changed" leaves them out)."""
    tables = pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", dbname=db).split()
    sums = {}
    for t in tables:
        sums[t] = pg.psql(f"SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '')"
                          f" FROM public.{t} x", dbname=db)
    if sequences:
        for s in pg.psql("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1",
                         dbname=db).split():
            sums["seq:" + s] = pg.psql(f"SELECT last_value FROM public.{s}", dbname=db)
    return sums


def tree_digest(path: str) -> dict:
    out = {}
    for dirpath, _dirnames, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, path)] = hashlib.sha256(fh.read()).hexdigest()
    return out
