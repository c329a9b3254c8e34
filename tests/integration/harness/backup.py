"""Helpers of the backup tests: pgBackRest run as the postgres user, on the stanza of the `pgbr` fixture."""
from __future__ import annotations

import subprocess

# the stanza of the `pgbr` fixture (tests/integration/backup/conftest.py)
STANZA = "odoo"


def as_postgres(args, timeout=180):
    res = subprocess.run(["runuser", "-u", "postgres", "--", *args], check=False, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, f"{args[:3]} failed: {res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    return res.stdout
