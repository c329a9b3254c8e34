"""Odoo-like data for the backup tests and bench/backup.py: the tables and filestore layout Odoo uses.

Not Odoo: a handful of Odoo's real table names and columns (ir_module_module, ir_attachment with
content-addressed store_fname, res_partner, product_template with jsonb names, ...) so that a backup
has to deal with what a real Odoo database holds: sequences, foreign keys, indexes, bytea, jsonb.
"""
from __future__ import annotations

import base64
import hashlib
import os
import random

BACKUP_PASSWORD = "Bk-pass:word\\with-specials-5a1t"
KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(100, 132))).decode()

SCHEMA = """
CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, state varchar,
                               latest_version varchar);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text);
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar, phone varchar, street varchar,
                          city varchar, comment text, create_date timestamp DEFAULT now());
CREATE INDEX res_partner_email_idx ON res_partner (email);
CREATE TABLE res_users (id serial PRIMARY KEY, login varchar UNIQUE, password varchar, active bool DEFAULT true,
                        partner_id int REFERENCES res_partner(id));
CREATE TABLE ir_cron (id serial PRIMARY KEY, name varchar, active bool DEFAULT true);
CREATE TABLE ir_mail_server (id serial PRIMARY KEY, name varchar, active bool DEFAULT true);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, res_model varchar, res_id int,
                            store_fname varchar, file_size int, checksum varchar, db_datas bytea);
CREATE INDEX ir_attachment_store_fname_idx ON ir_attachment (store_fname);
CREATE TABLE product_template (id serial PRIMARY KEY, name jsonb, list_price numeric, description text);
CREATE TABLE product_product (id serial PRIMARY KEY, product_tmpl_id int REFERENCES product_template(id),
                              default_code varchar);
CREATE INDEX product_product_code_idx ON product_product (default_code);
CREATE TABLE stock_quant (id serial PRIMARY KEY, product_id int REFERENCES product_product(id), quantity numeric);
CREATE TABLE pos_session (id serial PRIMARY KEY, name varchar, state varchar);
"""

MODULES = {"base": "17.0.1.3", "web": "17.0.1.0", "stock": "17.0.1.1", "point_of_sale": "17.0.1.0.1",
           "sale_management": "17.0.1.0"}


def seed_sql(partners: int = 2000, products: int = 500, blob_kib: int = 0) -> str:
    """Bulk data generated inside PostgreSQL (fast at any size)."""
    mods = ",".join(f"('{n}', 'installed', '{v}')" for n, v in MODULES.items())
    sql = [SCHEMA, f"INSERT INTO ir_module_module (name, state, latest_version) VALUES {mods}, "
           "('account_accountant', 'uninstalled', NULL);",
           "INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', gen_random_uuid()::text), "
           "('web.base.url', 'https://shop.example.com');",
           f"INSERT INTO res_partner (name, email, phone, street, city, comment) SELECT 'Partner ' || g, "
           f"'p' || g || '@example.com', '+32 2 ' || g, g || ' Main Street', 'City ' || (g % 97), "
           f"repeat(md5(g::text), 4) FROM generate_series(1, {partners}) g;",
           "INSERT INTO res_users (login, password, partner_id) SELECT 'user' || g, '$pbkdf2-sha512$x', g "
           f"FROM generate_series(1, {min(partners, 50)}) g;",
           "INSERT INTO ir_cron (name) SELECT 'cron ' || g FROM generate_series(1, 12) g;",
           "INSERT INTO ir_mail_server (name) VALUES ('smtp main'), ('smtp bulk');",
           "INSERT INTO product_template (name, list_price, description) SELECT jsonb_build_object('en_US', "
           f"'Product ' || g, 'fr_FR', 'Produit ' || g), (g % 1000) / 10.0, repeat(md5(g::text), 8) "
           f"FROM generate_series(1, {products}) g;",
           "INSERT INTO product_product (product_tmpl_id, default_code) SELECT id, 'SKU-' || id "
           "FROM product_template;",
           "INSERT INTO stock_quant (product_id, quantity) SELECT id, id % 50 FROM product_product;",
           "INSERT INTO pos_session (name, state) SELECT 'POS/' || g, 'closed' FROM generate_series(1, 20) g;"]
    if blob_kib:
        sql.append("INSERT INTO ir_attachment (name, res_model, db_datas) SELECT 'blob ' || g, 'res.partner', "
                   f"decode(string_agg(md5(g::text || '-' || i::text), ''), 'hex') FROM generate_series(1, "
                   f"{blob_kib}) g, generate_series(1, 64) i GROUP BY g;")
    return "\n".join(sql)


def make_filestore(filestore_dir: str, count: int, size: int = 2048, seed: int = 7) -> list[tuple[str, int]]:
    """Content-addressed files (<sha1[:2]>/<sha1>) as Odoo writes them; returns [(store_fname, size)]."""
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        data = rnd.randbytes(max(1, size + rnd.randint(-size // 2, size // 2))) + str(i).encode()
        sha = hashlib.sha1(data).hexdigest()  # noqa: S324 - Odoo's own content addressing
        rel = f"{sha[:2]}/{sha}"
        os.makedirs(os.path.join(filestore_dir, sha[:2]), exist_ok=True)
        with open(os.path.join(filestore_dir, rel), "wb") as fh:
            fh.write(data)
        out.append((rel, len(data)))
    return out


def attachments_sql(files: list[tuple[str, int]]) -> str:
    if not files:
        return ""
    values = ",".join(f"('file {i}', 'product.template', {i + 1}, '{rel}', {size}, '{rel[3:]}')"
                      for i, (rel, size) in enumerate(files))
    return ("INSERT INTO ir_attachment (name, res_model, res_id, store_fname, file_size, checksum) VALUES "
            f"{values};")


def seed_odoo(pg, db: str, filestore_root: str, partners: int = 2000, products: int = 500, files: int = 40,
              orphans: int = 3, blob_kib: int = 0) -> dict:
    """Create database db on the PgCluster pg with Odoo-like data and its filestore under filestore_root/db.

    orphans: files in the filestore that no attachment references (Odoo leaves such files until its GC runs).
    """
    pg.psql(f'CREATE DATABASE "{db}"')
    pg.psql(seed_sql(partners, products, blob_kib), dbname=db)
    fs = os.path.join(filestore_root, db)
    referenced = make_filestore(fs, files)
    orphan = make_filestore(fs, orphans, seed=99)
    pg.psql(attachments_sql(referenced), dbname=db)
    return {"filestore": fs, "referenced": [r for r, _content in referenced], "orphans": [r for r, _content in orphan]}
