"""rotate_secrets.yml on the simulated hosts with the real roles: PostgreSQL on db1, Redis and the Odoo double on
app1 (blue/green web sets), under continuous traffic to the double's /odooops/ping?write=1 (a PostgreSQL write
and a Redis PING per request, each with a fresh login). The secrets come from a vault file in a copy of
inventories/local (the layout of docs/secrets.md), never from extra vars.

Run with a prefix of your own: ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/secrets/test_rotate_stack.py
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.secrets import store as secrets_store
from testbed.procs import free_port
from tests.integration.harness.docker import docker
from tests.integration.harness.env import TEST_PREFIX as PREFIX
from tests.integration.harness.secrets_env import read_vault
from tests.integration.harness.stack import (
    PROFILE_ENV,
    TrafficSampler,
    local_inventory_copy,
    remove_stack,
    tasks_around,
)

STACK = PREFIX.rstrip("-") + "-sec"
ROTATE = ["db", "replication", "redis", "redis_admin", "master", "backup_key", "check"]

pytestmark = [pytest.mark.slow]


def pg_login_ok(client: str, user: str, password: str, host: str = "127.0.0.1") -> bool:
    """A login over TLS from the client host to host; the password goes on stdin, never on a command line."""
    code = ("import sys, psycopg2\n"
            "try:\n"
            f"  psycopg2.connect(host='{host}', dbname='postgres', user='{user}', password=sys.stdin.read(),"
            " sslmode='require', connect_timeout=3).close(); print('OK')\n"
            "except psycopg2.OperationalError as e:\n  print('REFUSED', str(e).splitlines()[0])\n")
    return docker("exec", "-i", client, "python3", "-c", code, input=password).stdout.startswith("OK")


def psql(host: str, sql: str) -> str:
    return docker("exec", host, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c", sql).stdout.strip()


def standby_streaming(db1: str, db2: str) -> bool:
    return (psql(db2, "select status from pg_stat_wal_receiver") == "streaming"
            and psql(db1, "select count(*) from pg_stat_replication where state = 'streaming'") == "1")


def redis_login_ok(user: str, password: str) -> bool:
    res = docker("exec", "-i", f"{STACK}-redis", "sh", "-c",
                 f"read -r p; REDISCLI_AUTH=\"$p\" redis-cli --no-auth-warning --user {user} ping",
                 input=password + "\n", check=False)
    return res.stdout.strip() == "PONG"


def check_login_ok(http_port: int, password: str) -> bool:
    """A JSON-RPC login of the check user (odoo_check_login of inventories/local) through the stack's edge."""
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}/web/session/authenticate", json.dumps(
        {"jsonrpc": "2.0", "method": "call", "id": 1,
         "params": {"db": "odoo", "login": "odooops-check", "password": password}}).encode(),
        {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return bool((json.loads(resp.read()).get("result") or {}).get("uid"))


@pytest.fixture(scope="module")
def stack_inventory(sim_hosts, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("secrets-stack"))
    http_port = free_port()
    inv = local_inventory_copy(root, PREFIX, STACK, os.path.join(root, "audit.jsonl"), http_port, free_port())
    yield {"root": root, "inventory": inv, "password_file": os.path.join(root, "vault-pass"), "http_port": http_port,
           "vault": os.path.join(inv, "group_vars", "all", "vault.yml")}
    remove_stack(STACK)


def test_rotate_secrets_on_the_stack_under_traffic(stack_inventory, sim_hosts, ansible_playbook):
    inv, pw = stack_inventory["inventory"], stack_inventory["password_file"]

    def play(book, *args, **kw):
        return ansible_playbook(book, "--vault-password-file", pw, *args, inventory=inv, **kw)

    init = ansible_playbook("playbooks/secrets_init.yml", inventory=inv,
                            extra_vars={"secrets_init_password_file": pw,
                                        "secrets_init_audit_log": os.path.join(stack_inventory["root"], "a.jsonl")})
    assert init.rc == 0, init.stdout[-3000:]
    old = read_vault(stack_inventory["vault"], pw)
    provision = play("playbooks/provision.yml")
    assert provision.rc == 0, provision.stdout[-5000:]

    db1, db2 = sim_hosts["db1"], sim_hosts["db2"]
    assert standby_streaming(db1, db2), "provision.yml should leave db2 streaming from db1"

    sampler = TrafficSampler(STACK, "ping")
    started = time.monotonic()
    run = play("playbooks/rotate_secrets.yml", "-vvv", extra_vars={"rotate": ROTATE}, env=PROFILE_ENV)
    took = time.monotonic() - started
    samples = sampler.stop()
    print(f"\nrotation on the stack ({', '.join(ROTATE)}) in {took:.0f} s: {samples['ok']} requests ok, "
          f"{samples['fail']} failed")
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert samples["fail"] == 0 and samples["ok"] > 50, (samples, tasks_around(run.stdout, samples["errors"]))

    new = read_vault(stack_inventory["vault"], pw)
    assert new["odooops_db_user"] == "odoo_b" and secrets_store.PENDING not in new
    assert pg_login_ok(db1, "odoo_b", new["odooops_db_password"])
    assert not pg_login_ok(db1, "odoo", old["odooops_db_password"])
    assert not pg_login_ok(db1, "odoo_b", old["odooops_db_password"])
    # replication: the old password is refused from the standby, and the standby, made to reconnect, streams
    # again with the new one (read from its passfile)
    assert pg_login_ok(db2, "replicator", new["odooops_replication_password"], host="db1")
    assert not pg_login_ok(db2, "replicator", old["odooops_replication_password"], host="db1")
    docker("exec", db2, "kill", "-TERM", psql(db2, "select pid from pg_stat_wal_receiver"))
    deadline = time.monotonic() + 30
    while not standby_streaming(db1, db2) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert standby_streaming(db1, db2), "db2 did not stream again with the rotated replication password"
    assert redis_login_ok("odoo", new["odooops_redis_odoo_password"])
    assert not redis_login_ok("odoo", old["odooops_redis_odoo_password"])
    assert redis_login_ok("admin", new["odooops_redis_admin_password"])
    assert not redis_login_ok("admin", old["odooops_redis_admin_password"])

    # the smoke checks' Odoo user (made by provision.yml through odoo shell) logs in with the new password only
    assert check_login_ok(stack_inventory["http_port"], new["odooops_check_password"])
    assert not check_login_ok(stack_inventory["http_port"], old["odooops_check_password"])

    # Odoo serves as odoo_b now, the master password hash in odoo.conf is the new one
    app1 = sim_hosts["app1"]
    conf = docker("exec", app1, "sh", "-c", f"cat /etc/odooops/{STACK}/odoo/cron.conf").stdout
    from ansible_collections.odooops.hosting.plugins.module_utils.odoo import passwd as odoo_passwd
    stored = [line.split("=", 1)[1].strip() for line in conf.splitlines() if line.startswith("admin_passwd")][0]
    assert odoo_passwd.verify_password(new["odooops_odoo_admin_password"], stored)

    # none of the old or new values in the -vvv output, docker inspect, ps, or non-0600 files on the hosts
    values = {v for d in (old, new) for k, v in d.items() if isinstance(v, str) and k.startswith("odooops_")
              and k not in ("odooops_db_user", secrets_store.KEY_ID)}
    values |= {k["key"] for d in (old, new) for k in d[secrets_store.KEYRING]}
    ids = docker("ps", "-aq").stdout.split()
    haystacks = {"output": run.stdout + run.stderr, "inspect": docker("inspect", *ids).stdout,
                 "ps": subprocess.run(["ps", "-eo", "args"], check=False, capture_output=True, text=True).stdout}
    for host in sim_hosts.values():
        haystacks[f"ps {host}"] = docker("exec", host, "ps", "-eo", "args").stdout
        for value in values:
            found = docker("exec", host, "grep", "-rlF", value, "/etc", "/var/lib/odooops", "/tmp", "/root",
                           "/var/log", check=False).stdout.split()
            for path in found:
                mode = docker("exec", host, "stat", "-c", "%a", path).stdout.strip()
                assert mode == "600", f"a secret in {host}:{path} (mode {mode})"
    leaks = [where for where, text in haystacks.items() for v in values if v in text]
    assert leaks == []
