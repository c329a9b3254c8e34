"""The upgrade tests' Odoo: an Odoo-shaped database in a real PostgreSQL 15 cluster, and the Odoo test double's
containers (a 'stack') against it.

The schema is the part of Odoo's that the Odoo test double also creates (ir_module_module,
res_partner, res_users, ir_cron, ...); the data is made up. Everything runs on the real engine.
"""
from __future__ import annotations

import json
import os
import tempfile
import uuid

from ansible_collections.odooops.hosting.plugins.module_utils.odoo import health as odoo_health
from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import Engine
from testbed.procs import free_port
from tests.integration.harness.docker import docker_out
from tests.integration.harness.env import TEST_PREFIX
from tests.integration.harness.odoo_double import IMAGE_A

ODOO_SCHEMA = """
CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, state varchar,
                               latest_version varchar);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar UNIQUE, value text);
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar, phone varchar, mobile varchar,
                          street varchar, city varchar, zip varchar);
CREATE TABLE res_users (id serial PRIMARY KEY, login varchar UNIQUE, password varchar, active bool,
                        partner_id int REFERENCES res_partner(id));
CREATE TABLE ir_cron (id serial PRIMARY KEY, name varchar, active bool);
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar, smtp_host varchar, active bool);
CREATE TABLE payment_provider (id serial PRIMARY KEY, name varchar, state varchar);
CREATE TABLE product_template (id serial PRIMARY KEY, name varchar, list_price numeric);
CREATE TABLE stock_quant (id serial PRIMARY KEY, product_id int, quantity numeric);
CREATE TABLE pos_session (id serial PRIMARY KEY, name varchar, state varchar);
INSERT INTO ir_module_module (name, state, latest_version) VALUES
  ('base', 'installed', '17.0.1.3'), ('web', 'installed', '17.0.1.0'), ('stock', 'installed', '17.0.1.1'),
  ('point_of_sale', 'installed', '17.0.1.0'), ('sale', 'uninstalled', NULL);
INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', 'f00'), ('web.base.url', 'https://shop');
INSERT INTO res_partner (name, email, phone, mobile, street, city, zip)
  SELECT 'Customer ' || g, 'customer' || g || '@retail.example.com', '+33 6 12 34 ' || lpad(g::text, 4, '0'),
         '+33 7 00 00 ' || lpad(g::text, 4, '0'), g || ' Rue de la Paix', 'Paris', '75002'
  FROM generate_series(1, 50) g;
INSERT INTO res_partner (name, email) VALUES ('Administrator', 'admin@retail.example.com'),
  ('OdooBot', 'odoobot@example.com');
INSERT INTO res_users (login, password, active, partner_id) VALUES
  ('__system__', NULL, false, 52), ('admin', 'x', true, 51), ('cashier.anne@retail.example.com', 'y', true, 1),
  ('manager.bob@retail.example.com', 'z', true, 2), ('odooops-check', 'c', true, 3);
INSERT INTO ir_cron (name, active) VALUES ('Scheduler', true), ('Mail queue', true);
INSERT INTO ir_mail_server (name, smtp_host, active) VALUES ('prod smtp', 'smtp.retail.example.com', true);
INSERT INTO payment_provider (name, state) VALUES ('Stripe', 'enabled'), ('Wire', 'test');
INSERT INTO product_template (name, list_price) SELECT 'Product ' || g, g * 1.5 FROM generate_series(1, 200) g;
INSERT INTO stock_quant (product_id, quantity) SELECT g, g % 7 FROM generate_series(1, 200) g;
INSERT INTO pos_session (name, state) VALUES ('POS/001', 'opened'), ('POS/002', 'closed');
"""


def make_odoo_db(pg, db: str = "odoo", owner: str = "odoo_owner") -> str:
    pg.psql(f"DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{owner}') THEN "
            f"CREATE ROLE {owner} NOLOGIN CREATEDB; END IF; END$$;")
    pg.psql(f'CREATE DATABASE "{db}" OWNER {owner}')
    pg.psql(f"SET ROLE {owner};\n" + ODOO_SCHEMA, dbname=db)
    return db


class DoubleStack:
    """One Odoo 'stack' of the double: data volume, odoo.conf (0600, secrets inside), a web container on the
    host network (the `pg` cluster listens on 127.0.0.1 only), all named and labelled with the test prefix."""

    def __init__(self, pg, db_password: str):
        self.pg = pg
        self.name = f"{TEST_PREFIX}upg-{uuid.uuid4().hex[:6]}"
        self.label = f"org.odooops.test-stack={self.name}"
        self.volume = f"{self.name}-data"
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="upg-stack-")
        self.conf = os.path.join(self.dir, "odoo.conf")
        self.db_password = db_password
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write("[options]\n" + "".join(f"{k} = {v}\n" for k, v in {
                "db_user": "odoo", "db_password": db_password, "db_name": "odoo", "data_dir": "/var/lib/odoo",
                "http_port": self.port, "http_interface": "127.0.0.1", "list_db": "False",
                "max_cron_threads": 0, "admin_passwd": "x"}.items()))
        os.chown(self.conf, 101, 101)
        os.chmod(self.conf, 0o600)
        self.engine = Engine()
        self.url = f"http://127.0.0.1:{self.port}"
        self.containers: list[str] = []

    def run_args(self, image: str, env: dict | None = None) -> list[str]:
        args = ["--network", "host", "--label", "org.odooops.testbed=1", "--label", self.label,
                "-v", f"{self.volume}:/var/lib/odoo", "-v", f"{self.conf}:/etc/odoo/odoo.conf:ro",
                "-e", "PGHOST=127.0.0.1", "-e", f"PGPORT={self.pg.port}"]
        for k, v in (env or {}).items():
            args += ["-e", f"{k}={v}"]
        return args + [image]

    def init(self, image: str = IMAGE_A, modules: str = "stock,point_of_sale,sale_management,website_sale"):
        docker_out("volume", "create", "--label", "org.odooops.testbed=1", "--label", self.label, self.volume)
        docker_out("run", "--rm", *self.run_args(image), "-c", "/etc/odoo/odoo.conf", "-d", "odoo", "-i", modules,
                   "--stop-after-init", "--without-demo")

    def start_web(self, image: str, color: str, env: dict | None = None) -> str:
        name = f"{self.name}-web-{color}"
        docker_out("rm", "-f", "-v", name, check=False)
        docker_out("run", "-d", "--name", name, *self.run_args(image, env))
        self.containers.append(name)
        return name

    def wait_healthy(self, wait: float = 20) -> dict:
        # admin/admin: the administrator a new Odoo database has (the double has no check user built in)
        return odoo_health.wait_healthy(self.url, wait, interval=0.2, database="odoo", login="admin",
                                        password="admin", timeout=3)

    def attach(self, name: str, data: bytes) -> None:
        import urllib.request
        req = urllib.request.Request(f"{self.url}/odooops/attach?name={name}&db=odoo", data=data, method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200

    def filestore_digest(self, directory: str = "odoo") -> dict:
        res = self.engine.run_oneshot(IMAGE_A, ["-c", f"cd /d/filestore/{directory} && find . -type f | sort | "
                                                "xargs -r sha1sum"], entrypoint=["/bin/sh"],
                                      binds=[f"{self.volume}:/d:ro"], timeout=60)
        assert res["exit_code"] == 0, res["logs"]
        return dict(line.split()[::-1] for line in res["logs"].splitlines() if line.strip())

    def state(self, name: str) -> str:
        return json.loads(docker_out("inspect", name))[0]["State"]["Status"]

    def destroy(self) -> None:
        ids = docker_out("ps", "-aq", "--filter", f"label={self.label}", check=False).split()
        if ids:
            docker_out("rm", "-f", "-v", *ids, check=False)
        docker_out("volume", "rm", "-f", self.volume, check=False)
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)
