"""The Odoo test double's images (odooops/odoo-double:17.0-a/-b/-broken) run as containers."""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid

import pytest

from testbed.procs import free_port
from tests.integration.harness.docker import docker
from tests.integration.harness.odoo_double import DB_PASSWORD, http

pytestmark = pytest.mark.integration


@pytest.fixture
def conf_dir():
    """odoo.conf for the containers (host network: PostgreSQL of the `pg` fixture is on 127.0.0.1)."""
    directory = tempfile.mkdtemp(prefix="odoo-double-img-")
    os.chmod(directory, 0o755)
    yield directory
    subprocess.run(["rm", "-rf", directory], check=False)


def write_conf(directory: str, pg, http_port: int) -> str:
    path = os.path.join(directory, "odoo.conf")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"[options]\ndb_host = 127.0.0.1\ndb_port = {pg.port}\ndb_user = odoo\ndb_password = {DB_PASSWORD}\n"
                 f"db_name = shop\nhttp_port = {http_port}\nhttp_interface = 127.0.0.1\nlist_db = False\n"
                 "data_dir = /var/lib/odoo\naddons_path = /opt/odoo/addons\n")
    os.chown(path, 101, 101)  # the image's odoo user, as the role renders it
    os.chmod(path, 0o600)
    return path


def test_images_release_and_broken_variants(docker_engine, odoo_pg, conf_dir):
    port = free_port()
    conf = write_conf(conf_dir, odoo_pg, port)
    name = "odooops-double-img-" + uuid.uuid4().hex[:8]
    base = ["run", "--rm", "--network", "host", "-v", f"{conf}:/etc/odoo/odoo.conf:ro",
            "--label", "org.odooops.test=odoo-double"]
    try:
        res = docker(*base, "odooops/odoo-double:17.0-a", "-c", "/etc/odoo/odoo.conf", "-i", "stock",
                     "--stop-after-init", check=False)
        assert res.returncode == 0, res.stderr
        assert odoo_pg.psql("SELECT latest_version FROM ir_module_module WHERE name = 'stock'", "shop") == "17.0.1.1"
        res = docker(*base, "odooops/odoo-double:17.0-b", "-c", "/etc/odoo/odoo.conf", "-u", "stock",
                     "--stop-after-init", check=False)
        assert res.returncode == 0, res.stderr
        assert odoo_pg.psql("SELECT latest_version FROM ir_module_module WHERE name = 'stock'", "shop") == "17.0.1.2"
        # the broken variant runs and passes /web/health (as Odoo: no database in it), but its database does not
        # load: the login page answers 500
        docker("run", "-d", "--name", name, *base[2:], "odooops/odoo-double:17.0-broken")
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            try:
                status = http(f"http://127.0.0.1:{port}/web/health", timeout=1)[0]
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200
        assert http(f"http://127.0.0.1:{port}/web/login")[0] == 500
        logs = docker("logs", name).stderr
        assert "TEST DOUBLE" in logs and DB_PASSWORD not in logs
    finally:
        docker("rm", "-f", "-v", name, check=False)
