"""playbooks/rotate_secrets.yml end to end on real PostgreSQL (primary + streaming standby) and Redis.

Traffic: until the Odoo double's page that queries PostgreSQL and Redis is wired here, the "app" is a client
loop of our own (AppLoop) that behaves as the blue/green rollout does: it reads its credentials from a 0600 env
file written by the rollout step; green connects with the new credentials, then blue drains. Every request
writes a row in PostgreSQL and a key in Redis; every 10th request also opens fresh connections (an app
reconnecting). The test counts requests and failures during the rotation.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
import time

import psycopg2
import pytest
import redis

from ansible_collections.odooops.hosting.plugins.module_utils.secrets import store as secrets_store
from tests.integration.harness.secrets_env import wait_streaming

ALL = ["db", "replication", "redis", "redis_admin", "master", "backup_key", "s3"]


class AppLoop(threading.Thread):
    def __init__(self, env, user: str, db_password: str, redis_password: str):
        super().__init__(daemon=True)
        self.env = env
        self.creds = {"generation": "initial", "db_user": user, "db_password": db_password,
                      "redis_password": redis_password}
        self.ok = 0
        self.failures: list[str] = []
        self.ps_samples: list[str] = []
        self.switches = 0
        self.stop_flag = threading.Event()
        self.pg_conn, self.redis = self._connect(self.creds)
        self._mtime = None

    def _connect(self, creds):
        conn = psycopg2.connect(host="127.0.0.1", port=self.env.pg.port, dbname="odoo", user=creds["db_user"],
                                password=creds["db_password"], connect_timeout=3)
        conn.autocommit = True
        client = redis.Redis(host="127.0.0.1", port=self.env.redis.port, username="odoo",
                             password=creds["redis_password"], socket_timeout=3)
        client.ping()
        return conn, client

    def _maybe_roll(self):
        try:
            mtime = os.stat(self.env.app_env).st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        with open(self.env.app_env, encoding="utf-8") as fh:
            creds = json.load(fh)
        green = self._connect(creds)  # green comes up with the new secrets first...
        blue = (self.pg_conn, self.redis)
        self.pg_conn, self.redis, self.creds = green[0], green[1], creds
        blue[0].close()  # ...then blue drains
        blue[1].close()
        self.switches += 1
        with open(self.env.app_env + ".ack", "w", encoding="utf-8") as fh:
            fh.write(creds["generation"] + "\n")

    def request(self, n: int):
        with self.pg_conn.cursor() as cur:
            cur.execute("INSERT INTO res_partner (name) VALUES (%s) RETURNING id", (f"req-{n}",))
            cur.fetchone()
        self.redis.set(f"session:{n % 50}", n)
        if n % 10 == 0:  # an app worker reconnecting
            conn, client = self._connect(self.creds)
            conn.close()
            client.close()

    def run(self):
        n = 0
        last_ps = 0.0
        while not self.stop_flag.is_set():
            n += 1
            try:
                self._maybe_roll()
                self.request(n)
                self.ok += 1
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                self.failures.append(f"{type(exc).__name__}: {exc}")
            if time.monotonic() - last_ps > 0.5:
                last_ps = time.monotonic()
                self.ps_samples.append(subprocess.run(["ps", "-eo", "args"], check=False, capture_output=True,
                                                      text=True).stdout)
            time.sleep(0.01)

    def stop(self):
        self.stop_flag.set()
        self.join(10)
        self.pg_conn.close()
        self.redis.close()


def read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def audit_lines(env) -> list[dict]:
    return [json.loads(line) for line in read(env.audit_log).splitlines()]


def secret_values(values: dict) -> set[str]:
    out = set()
    for name, spec in secrets_store.CATALOGUE.items():
        del name
        for var in spec["vars"]:
            val = values.get(var)
            if var == secrets_store.KEYRING:
                out.update(k["key"] for k in val or [])
            elif var != secrets_store.KEY_ID and val:
                out.add(val)
    return out


def files_to_scan(*roots: str):
    for root in roots:
        for base, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(base, name)
                st_ = os.lstat(path)
                # 0600 targets meant to hold secrets are excepted
                if not stat.S_ISREG(st_.st_mode) or stat.S_IMODE(st_.st_mode) & 0o077 == 0:
                    continue
                yield path


def pg_login_fails(env, user: str, password: str) -> bool:
    try:
        psycopg2.connect(host="127.0.0.1", port=env.pg.port, dbname="odoo", user=user, password=password,
                         connect_timeout=3).close()
    except psycopg2.OperationalError:
        return True
    return False


def redis_login_fails(env, user: str, password: str) -> bool:
    try:
        redis.Redis(host="127.0.0.1", port=env.redis.port, username=user, password=password).ping()
    except redis.exceptions.AuthenticationError:
        return True
    return False


def test_check_mode_reports_due_and_changes_nothing(secrets_env):
    env = secrets_env
    before = read_bytes(env.vault_file)
    # the init just generated everything: nothing due with the defaults, all due with max age 0
    run = env.playbook("playbooks/rotate_secrets.yml", check=True)
    assert run.rc == 0, run.stdout + run.stderr
    assert "due (would rotate): none" in run.stdout
    run = env.playbook("playbooks/rotate_secrets.yml", check=True,
                       extra_vars={"rotate_secrets_max_age_days": {"db": 0, "redis": 0}})
    assert run.rc == 0, run.stdout + run.stderr
    assert "due (would rotate): db, redis" in run.stdout
    assert read_bytes(env.vault_file) == before
    assert not pg_login_fails(env, "odoo", env.initial["odooops_db_password"])
    assert pg_login_fails(env, "odoo_b", env.initial["odooops_db_password"])


def test_rotate_every_secret_under_traffic(secrets_env):
    env = secrets_env
    old = env.initial
    blob = secrets_store.encrypt(old[secrets_store.KEYRING], old[secrets_store.KEY_ID], b"backup before rotation")
    app = AppLoop(env, "odoo", old["odooops_db_password"], old["odooops_redis_odoo_password"])
    app.start()
    time.sleep(1)
    try:
        run = env.playbook("playbooks/rotate_secrets.yml", "-vvv", extra_vars={"rotate": ALL})
        time.sleep(1)
    finally:
        app.stop()
    during = app.ok
    print(f"\nrequests during rotation: {during} ok, {len(app.failures)} failed, "
          f"{app.switches} blue/green switch")
    assert run.rc == 0, run.stdout[-6000:] + run.stderr
    assert app.failures == [], app.failures[:5]
    assert during > 50 and app.switches == 1

    new = env.vault()
    assert secrets_store.PENDING not in new
    for var in ("odooops_db_password", "odooops_replication_password", "odooops_redis_odoo_password",
                "odooops_redis_admin_password", "odooops_odoo_admin_password", "odooops_s3_secret_key"):
        assert new[var] != old[var], var
    assert new["odooops_db_user"] == "odoo_b"
    # every rotated secret has its new date; the ones not asked for (the anonymisation key) keep theirs
    rotated = new[secrets_store.ROTATED]
    assert set(rotated) == set(secrets_store.CATALOGUE)
    assert all(rotated[n] != old[secrets_store.ROTATED][n] for n in ALL)
    assert all(rotated[n] == old[secrets_store.ROTATED][n] for n in set(secrets_store.CATALOGUE) - set(ALL))

    # PostgreSQL: the old login role and password are gone, the new ones work, objects belong to the owner
    assert pg_login_fails(env, "odoo", old["odooops_db_password"])
    assert pg_login_fails(env, "odoo_b", old["odooops_db_password"])
    conn = psycopg2.connect(host="127.0.0.1", port=env.pg.port, dbname="odoo", user="odoo_b",
                            password=new["odooops_db_password"])
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE after_rotation (id int)")
        cur.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'after_rotation'")
        assert cur.fetchone()[0] == "odoo_owner"
        cur.execute("SELECT count(*) FROM res_partner")
        assert cur.fetchone()[0] == during
    conn.close()
    assert env.pg.psql("SELECT rolcanlogin::text || coalesce(rolpassword, 'null') FROM pg_authid "
                       "WHERE rolname = 'odoo'") == "falsenull"

    # replication: streaming survived; after a forced reconnect the standby logs in with the new password
    env.pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication")
    wait_streaming(env.pg, "replicator")
    env.pg.psql("INSERT INTO res_partner (name) VALUES ('replicated-after-rotation')", dbname="odoo")
    deadline = time.monotonic() + 20
    while env.standby.psql("SELECT count(*) FROM res_partner WHERE name = 'replicated-after-rotation'",
                           dbname="odoo") != "1":
        assert time.monotonic() < deadline, "the standby did not replay the write"
        time.sleep(0.2)
    assert pg_login_fails(env, "replicator", old["odooops_replication_password"])

    # Redis: only the new passwords work (and the ACL was saved to the aclfile)
    assert redis_login_fails(env, "odoo", old["odooops_redis_odoo_password"])
    assert redis_login_fails(env, "admin", old["odooops_redis_admin_password"])
    assert not redis_login_fails(env, "odoo", new["odooops_redis_odoo_password"])
    assert not redis_login_fails(env, "admin", new["odooops_redis_admin_password"])
    import hashlib
    acl = read(env.redis.acl_file)
    assert hashlib.sha256(new["odooops_redis_odoo_password"].encode()).hexdigest() in acl
    assert hashlib.sha256(old["odooops_redis_odoo_password"].encode()).hexdigest() not in acl

    # backup key: new id current, the old key kept, a backup encrypted before the rotation still decrypts
    assert new[secrets_store.KEY_ID] != old[secrets_store.KEY_ID]
    assert secrets_store.decrypt(new[secrets_store.KEYRING], blob) == b"backup before rotation"

    # audit: one record per secret, ids and role names only
    records = audit_lines(env)
    rotated = {r["secret"]: r for r in records if r["action"] == "rotated"}
    assert set(rotated) == set(ALL)
    assert rotated["db"]["old_role"] == "odoo" and rotated["db"]["new_role"] == "odoo_b"
    assert rotated["backup_key"]["new_key_id"] == new[secrets_store.KEY_ID]

    # no old or new secret value in the -vvv output, ps, logs or any non-0600 file
    values = secret_values(old) | secret_values(new)
    assert len(values) >= 14
    haystacks = {"ansible output": run.stdout + run.stderr, "ps": "\n".join(app.ps_samples)}
    logs = [env.pg.logfile, env.standby.logfile, os.path.join(env.redis.dir, "redis.log"), env.audit_log]
    for path in [*files_to_scan(env.root, env.pg.base, env.standby.base, env.redis.dir), *logs]:
        with open(path, "rb") as fh:
            haystacks[path] = fh.read().decode("utf-8", "replace")
    leaks = [(where, v[:4] + "...") for where, text in haystacks.items() for v in values if v in text]
    assert leaks == []
    assert len(haystacks) > 5, sorted(haystacks)  # the logs and rendered files were really searched
    # the server logged every statement (log_statement=all): the role changes are there, the passwords not
    assert "ALTER ROLE" in haystacks[env.pg.logfile] and "SCRAM-SHA-256$" in haystacks[env.pg.logfile]
    assert len(app.ps_samples) > 5


def test_failed_rollout_leaves_old_secrets_working(secrets_env):
    env = secrets_env
    old = env.initial
    run = env.playbook("playbooks/rotate_secrets.yml",
                       extra_vars={"rotate": ["db", "redis", "backup_key"], "secrets_test_fail_rollout": True})
    assert run.rc != 0, run.stdout[-3000:]
    assert "the old ones are" in run.stdout and "still in force" in run.stdout
    # the old secrets work, the prepared ones were revoked again
    assert not pg_login_fails(env, "odoo", old["odooops_db_password"])
    assert env.pg.psql("SELECT rolcanlogin::text || coalesce(rolpassword, 'null') FROM pg_authid "
                       "WHERE rolname = 'odoo_b'") == "falsenull"
    assert not redis_login_fails(env, "odoo", old["odooops_redis_odoo_password"])
    info = env.redis.client().acl_getuser("odoo")
    assert len(info["passwords"]) == 1
    # the vault still holds the old values, nothing pending, the abort is audited
    now = env.vault()
    assert secrets_store.PENDING not in now
    for var in ("odooops_db_password", "odooops_redis_odoo_password", secrets_store.KEY_ID):
        assert now[var] == old[var]
    actions = [r["action"] for r in audit_lines(env)]
    assert actions.count("aborted") == 3
    # and a second attempt (rollout fixed) goes through, with the app serving throughout
    app = AppLoop(env, "odoo", old["odooops_db_password"], old["odooops_redis_odoo_password"])
    app.start()
    try:
        run = env.playbook("playbooks/rotate_secrets.yml", extra_vars={"rotate": ["db"]})
    finally:
        app.stop()
    assert run.rc == 0, run.stdout[-4000:]
    assert app.failures == [] and app.switches == 1
    assert env.vault()["odooops_db_user"] == "odoo_b"
    assert pg_login_fails(env, "odoo", old["odooops_db_password"])


@pytest.mark.parametrize("bad", [{"rotate": ["db", "nope"]}])
def test_unknown_secret_refused_before_any_change(secrets_env, bad):
    env = secrets_env
    before = read_bytes(env.vault_file)
    run = env.playbook("playbooks/rotate_secrets.yml", extra_vars=bad)
    assert run.rc != 0 and "unknown secret(s) nope" in run.stdout
    assert read_bytes(env.vault_file) == before
    assert env.pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'odoo_b'") == "0"


def test_secrets_init_is_encrypted_private_and_idempotent(secrets_env):
    env = secrets_env
    raw = read_bytes(env.vault_file)
    assert raw.startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert stat.S_IMODE(os.stat(env.vault_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(env.password_file).st_mode) == 0o600
    assert not any(v.encode() in raw for v in secret_values(env.initial))
    run = env.playbook("playbooks/secrets_init.yml", extra_vars={"secrets_init_password_file": env.password_file,
                                                                 "secrets_init_audit_log": env.audit_log})
    assert run.rc == 0 and run.recap()["localhost"]["changed"] == 0, run.stdout
    assert read_bytes(env.vault_file) == raw
    assert [r["action"] for r in audit_lines(env)] == ["generated"] * len(secrets_store.CATALOGUE)


def test_backup_taken_before_key_rotation_restores_after(secrets_env, moto, s3_bucket):
    """With the backup modules (odoo_backup / odoo_restore) and the key ring of the vault file."""
    env = secrets_env
    env.pg.psql("CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar UNIQUE, state varchar, "
                "latest_version varchar); INSERT INTO ir_module_module (name, state, latest_version) "
                "VALUES ('base', 'installed', '17.0.1.3');"
                "INSERT INTO res_partner (name) SELECT 'p' || g FROM generate_series(1, 250) g;", dbname="odoo")
    common = {"s3_endpoint": moto.endpoint, "bucket": s3_bucket, "pg_port": env.pg.port,
              **dict(zip(("s3_access_key", "s3_secret_key"), moto_keys(moto), strict=True))}
    book = os.path.join(os.path.dirname(__file__), "module_playbooks", "backup_keyring.yml")
    first = env.playbook(book, extra_vars={**common, "keyring_step": "backup"})
    assert first.rc == 0, first.stdout[-3000:]
    old_id = env.initial[secrets_store.KEY_ID]
    backup_id = first.stdout.split("BACKUP ", 1)[1].split(" KEY ", 1)[0].strip()
    manifest = s3_manifest(moto, s3_bucket, backup_id)
    assert old_id in json.dumps(manifest)

    run = env.playbook("playbooks/rotate_secrets.yml", extra_vars={"rotate": ["backup_key"]})
    assert run.rc == 0, run.stdout[-3000:]
    ring = env.vault()
    assert ring[secrets_store.KEY_ID] != old_id and len(ring[secrets_store.KEYRING]) == 2

    restore = env.playbook(book, extra_vars={**common, "keyring_step": "restore", "restore_backup_id": backup_id,
                                             "restore_target": "odoo_restored"})
    assert restore.rc == 0, restore.stdout[-3000:]
    assert env.pg.psql("SELECT count(*) FROM res_partner", dbname="odoo_restored") == "250"
    # a new backup uses the new key id
    second = env.playbook(book, extra_vars={**common, "keyring_step": "backup"})
    assert second.rc == 0, second.stdout[-3000:]
    new_backup = second.stdout.split("BACKUP ", 1)[1].split(" KEY ", 1)[0].strip()
    text = json.dumps(s3_manifest(moto, s3_bucket, new_backup))
    assert ring[secrets_store.KEY_ID] in text and old_id not in text
    for key in ring[secrets_store.KEYRING]:
        assert key["key"] not in first.stdout + restore.stdout + second.stdout


def moto_keys(moto) -> tuple[str, str]:
    env = moto.env()
    return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]


def s3_manifest(moto, bucket: str, backup_id: str) -> dict:
    client = moto.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]
            if backup_id in o["Key"] and o["Key"].endswith("manifest.json")]
    assert len(keys) == 1, keys
    return json.loads(client.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
