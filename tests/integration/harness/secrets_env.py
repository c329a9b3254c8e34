"""The secrets tests' small platform on the test bed's real engines, driven through a throw-away inventory
(localhost) with its own vault file and vault password file (the `secrets_env` fixture of
tests/integration/secrets/conftest.py); and the vault file's values, as a test reads them.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

from testbed.pg import PgCluster
from testbed.redis_server import RedisServer
from tests.integration.harness.env import ROOT

# the secrets tests' own tasks (the app's rollout in the test's inventory)
SECRETS_TESTS = os.path.join(ROOT, "tests", "integration", "secrets")


def read_vault(path: str, password_file: str) -> dict:
    import yaml
    from ansible.parsing.vault import VaultLib, VaultSecret

    with open(password_file, "rb") as fh:
        secret = VaultSecret(fh.read().strip())
    with open(path, "rb") as fh:
        return yaml.safe_load(VaultLib([("default", secret)]).decrypt(fh.read()))


@dataclass
class SecretsEnv:
    root: str
    inventory: str
    vault_file: str
    password_file: str
    audit_log: str
    app_env: str
    pg: PgCluster
    standby: PgCluster
    redis: RedisServer
    initial: dict
    runner: object
    runs: list = field(default_factory=list)

    def vault(self) -> dict:
        return read_vault(self.vault_file, self.password_file)

    def playbook(self, playbook: str, *args: str, extra_vars: dict | None = None, check: bool = False,
                 vault: bool = True):
        vault_args = ["--vault-password-file", self.password_file] if vault else []
        run = self.runner(playbook, *vault_args, *args, inventory=self.inventory, extra_vars=extra_vars, check=check)
        self.runs.append(run)
        return run


def write_inventory(root: str, pg: PgCluster, redis_port: int, passfile: str, app_env: str, audit: str) -> str:
    inv = os.path.join(root, "inventory")
    os.makedirs(os.path.join(inv, "group_vars", "all"), exist_ok=True)
    py = sys.executable
    with open(os.path.join(inv, "hosts.yml"), "w", encoding="utf-8") as fh:
        fh.write(f"""---
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: {py}
    rotate_secrets_pg_port: {pg.port}
    rotate_secrets_pg_socket: {pg.sockdir}
    rotate_secrets_pg_become: false
    rotate_secrets_redis_transport: tcp
    rotate_secrets_redis_port: {redis_port}
    rotate_secrets_replication_passfile: {passfile}
    rotate_secrets_rollout_tasks: {os.path.join(SECRETS_TESTS, 'tasks', 'rollout_app.yml')}
    rotate_secrets_audit_log: {audit}
    rotate_secrets_drain_timeout: 5
    secrets_test_app_env: {app_env}
    # the test's app uses Redis as Odoo does with the session_redis addon: a Redis rotation rolls it
    odoo_session_redis: true
  children:
    db:
      hosts:
        dbhost:
    app:
      hosts:
        apphost:
""")
    return inv


def wait_streaming(pg: PgCluster, user: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pg.psql(f"SELECT count(*) FROM pg_stat_replication WHERE usename = '{user}' AND state = 'streaming'") \
                == "1":
            return
        time.sleep(0.2)
    raise TimeoutError(f"no streaming standby as {user} after {timeout} s: "
                       + pg.psql("SELECT usename, state FROM pg_stat_replication"))
