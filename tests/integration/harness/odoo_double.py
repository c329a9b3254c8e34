"""The Odoo test double (tests/odoo_double, NOT Odoo): its images, and its `odoo` command run as a process."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from testbed.procs import free_port
from tests.integration.harness.env import ROOT

DOUBLE = os.path.join(ROOT, "tests", "odoo_double")
# the double's images (testbed/images.py): two releases with different addon manifest versions
IMAGE_A = "odooops/odoo-double:17.0-a"
IMAGE_B = "odooops/odoo-double:17.0-b"
# the password of the login role odoo of the odoo area's `odoo_pg` fixture (one per test session)
DB_PASSWORD = "dbpw-" + os.urandom(6).hex()


def http(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 5.0):
    """(status, body) of a request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class DoubleRun:
    """The double's `odoo` command as a process: conf file, addons of a variant, data_dir, environment."""

    def __init__(self, pg, variant: str = "a", extra_conf: dict | None = None, env: dict | None = None):
        self.pg = pg
        self.dir = tempfile.mkdtemp(prefix="odoo-double-")
        self.addons = os.path.join(self.dir, "addons")
        self.data_dir = os.path.join(self.dir, "data")
        self.set_variant(variant)
        self.http_port = free_port()
        self.conf = os.path.join(self.dir, "odoo.conf")
        opts = {"db_user": "odoo", "db_password": DB_PASSWORD, "addons_path": self.addons,
                "data_dir": self.data_dir, "http_port": self.http_port, "http_interface": "127.0.0.1",
                "list_db": "False", "max_cron_threads": 0, **(extra_conf or {})}
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write("[options]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items()))
        os.chmod(self.conf, 0o600)
        # no db_host/db_port in odoo.conf: libpq's environment, as with the service file in the role
        self.env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(pg.port), "ODOO_DOUBLE_CRON_INTERVAL": "0.5",
                    **(env or {})}
        self.proc: subprocess.Popen | None = None

    def set_variant(self, variant: str) -> None:
        shutil.rmtree(self.addons, ignore_errors=True)
        subprocess.run([sys.executable, os.path.join(DOUBLE, "make_addons.py"), variant, self.addons], check=True)

    def run(self, *args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, os.path.join(DOUBLE, "odoo"), "-c", self.conf, *args],
                              check=False, capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})})

    def start(self, *args: str, env: dict | None = None, wait: bool = True) -> DoubleRun:
        self.proc = subprocess.Popen([sys.executable, os.path.join(DOUBLE, "odoo"), "-c", self.conf, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**self.env, **(env or {})})
        if wait:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if http(self.url("/web/health"), timeout=1)[0] in (200, 503):
                        return self
                except OSError:
                    time.sleep(0.1)
            raise AssertionError("the double did not answer on /web/health")
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def stop(self) -> str:
        out = ""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                out = self.proc.communicate(timeout=10)[0]
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out = self.proc.communicate()[0]
        self.proc = None
        return out

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
