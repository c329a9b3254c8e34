"""ansible-playbook as the tests run it (the `ansible_playbook` fixture of tests/conftest.py calls run_playbook).

A run's results (each host's PLAY RECAP counters, the task results that reported a change) come from the
callback plugin callback_plugins/odooops_test_results.py, enabled for the test's runs only: it writes them as
JSON into a file the runner reads after the run, then deletes. The human-readable output (run.stdout, which the
tests search) is the stdout callback's, the same with or without it.
"""
from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import tempfile
import time

from tests.integration.harness.env import ROOT, TEST_PREFIX

CALLBACK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins")
RESULTS_CALLBACK = "odooops_test_results"
# the environment variable that tells the callback where to write (its RESULTS_ENV)
RESULTS_ENV = "ODOOOPS_TEST_RESULTS"


class PlaybookRun:
    """rc, stdout and stderr of an ansible-playbook run, and its results as the callback wrote them (empty when
    it wrote none: the run was killed, or ended before its stats, as with a syntax error)."""

    def __init__(self, proc: subprocess.CompletedProcess, results: dict | None = None):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.results = results or {}

    def recap(self) -> dict:
        """host -> the counters of the PLAY RECAP (ok, changed, unreachable, failed, skipped, rescued, ignored)."""
        return {host: dict(counters) for host, counters in self.results.get("stats", {}).items()}

    def changed(self) -> int:
        return sum(h.get("changed", 0) for h in self.recap().values())

    def changed_tasks(self) -> list[str]:
        """'TASK name: changed: [host]' for every task result that reported a change (the first thing an
        idempotence failure should say: CI keeps only the end of a long output)."""
        return list(self.results.get("changed", []))


def _run_until(cmd: list[str], env: dict, timeout: float, kill_when) -> subprocess.CompletedProcess:
    """Run cmd in a process group of its own; kill the group once kill_when() is true (returncode -9)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None:
                if kill_when() or time.monotonic() > deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                time.sleep(0.5)
        finally:
            proc.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())


def _config_defaults(env: dict) -> tuple[dict, str]:
    """[defaults] of the ansible.cfg the run uses (ANSIBLE_CONFIG of its environment), and that file's folder."""
    path = env.get("ANSIBLE_CONFIG", "")
    parser = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)  # as ansible reads it
    if path and os.path.isfile(path):
        parser.read(path, encoding="utf-8")
    return (dict(parser["defaults"]) if parser.has_section("defaults") else {}), os.path.dirname(path)


def with_results_callback(env: dict, results_file: str) -> dict:
    """env with the results callback enabled beside the callbacks the run would have enabled anyway (those of
    ANSIBLE_CALLBACKS_ENABLED when the environment sets it, else those of ansible.cfg: odooops.hosting.preload),
    its folder searched before the callback folders the run would search anyway."""
    defaults, cfg_dir = _config_defaults(env)
    enabled = env.get("ANSIBLE_CALLBACKS_ENABLED", defaults.get("callbacks_enabled", ""))
    names = [name.strip() for name in enabled.split(",") if name.strip()]
    paths = env.get("ANSIBLE_CALLBACK_PLUGINS")
    if paths is None:
        if "callback_plugins" in defaults:
            # relative paths of ansible.cfg are relative to its folder
            paths = os.pathsep.join(os.path.join(cfg_dir, os.path.expanduser(p))
                                    for p in defaults["callback_plugins"].split(os.pathsep) if p)
        else:
            # ansible's default (DEFAULT_CALLBACK_PLUGIN_PATH)
            home = env.get("ANSIBLE_HOME", defaults.get("home", "~/.ansible"))
            paths = f"{home}/plugins/callback:/usr/share/ansible/plugins/callback"
    return {**env, "ANSIBLE_CALLBACKS_ENABLED": ",".join([*names, RESULTS_CALLBACK]),
            "ANSIBLE_CALLBACK_PLUGINS": os.pathsep.join([CALLBACK_DIR, paths]), RESULTS_ENV: results_file}


def read_results(path: str) -> dict:
    """What the callback wrote; {} when it wrote nothing (or not the whole of it)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def run_playbook(playbook: str, *args: str, inventory: str | None = None, extra_vars: dict | None = None,
                 check: bool = False, env: dict | None = None, timeout: int = 1800, kill_when=None) -> PlaybookRun:
    """Run a playbook of the project against the tests' simulated hosts (or another inventory).

    kill_when: a callable asked twice a second while the playbook runs; once it returns true, the whole
    ansible-playbook process group is killed (SIGKILL), as when the control node is lost."""
    # extra vars (secrets among them) go through a 0600 file, never on the command line where ps shows them
    fd, vars_file = tempfile.mkstemp(prefix="odooops-extra-vars-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"odooops_local_prefix": TEST_PREFIX, **(extra_vars or {})}, fh)
    fd, results_file = tempfile.mkstemp(prefix="odooops-test-results-", suffix=".json")
    os.close(fd)
    cmd = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i",
           inventory or os.path.join(ROOT, "inventories", "local"), "-e", "@" + vars_file]
    vault_pass = os.path.join(ROOT, ".odooops", "vault-pass")
    if inventory is None and os.path.exists(vault_pass):
        # after `make demo`, inventories/local holds an encrypted vault.yml (playbooks/secrets_init.yml)
        cmd += ["--vault-password-file", vault_pass]
    if check:
        cmd.append("--check")
    cmd += [*args, os.path.join(ROOT, playbook) if not os.path.isabs(playbook) else playbook]
    full_env = with_results_callback({**os.environ, "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                                      "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", **(env or {})},
                                     results_file)
    try:
        if kill_when is None:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=full_env, cwd=ROOT,
                                  timeout=timeout)
        else:
            proc = _run_until(cmd, full_env, timeout, kill_when)
        results = read_results(results_file)
    finally:
        os.unlink(vars_file)
        for path in (results_file, results_file + ".partial"):
            if os.path.exists(path):
                os.unlink(path)
    return PlaybookRun(proc, results)
