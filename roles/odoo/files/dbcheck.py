"""Is Odoo's database there and initialised? Run by the odoo role inside a one-off container of the Odoo image
(every Odoo image has python3 and psycopg2), with odoo.conf and the libpq service file mounted. Prints JSON."""
import configparser
import json
import sys

import psycopg2

conf = configparser.RawConfigParser()
conf.read(sys.argv[1])
opts = dict(conf.items("options"))
kw = {"dbname": sys.argv[2], "user": opts.get("db_user"), "password": opts.get("db_password")}
if opts.get("db_sslmode"):
    kw["sslmode"] = opts["db_sslmode"]
try:
    conn = psycopg2.connect(**{k: v for k, v in kw.items() if v and v != "False"})
except psycopg2.OperationalError as exc:
    missing = "does not exist" in str(exc)
    print(json.dumps({"exists": False, "initialised": False, "error": None if missing else str(exc).splitlines()[0]}))
    sys.exit(0 if missing else 1)
with conn.cursor() as cr:
    cr.execute("SELECT to_regclass('public.ir_module_module') IS NOT NULL")
    initialised = cr.fetchone()[0]
conn.close()
print(json.dumps({"exists": True, "initialised": initialised}))
