"""provision.yml on the simulated hosts: Odoo serves, blue/green keeps serving, an over-budget inventory is refused
before any change, secrets stay out of output and files. (That a rerun changes nothing is asserted on every host by
tests/integration/demo/test_demo.py, whose second `make demo` provisions the same platform again.)

Run with a prefix of your own: ODOOOPS_TEST_PREFIX=odooops-<tag>- pytest tests/integration/odoo/test_provision.py
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request

import pytest

from testbed.procs import free_port
from tests.integration.harness.docker import docker
from tests.integration.harness.env import TEST_PREFIX as PREFIX
from tests.integration.harness.postgres import ImpostorCertificate
from tests.integration.harness.stack import TrafficSampler, remove_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK = PREFIX.rstrip("-") + "-st"
HTTP_PORT = free_port()
SECRETS = {
    "odooops_db_password": "db-" + os.urandom(8).hex(),
    "odooops_odoo_admin_password": "master-" + os.urandom(8).hex(),
    "odooops_redis_admin_password": "radmin-" + os.urandom(8).hex(),
    "odooops_redis_odoo_password": "rodoo-" + os.urandom(8).hex(),
    "odooops_replication_password": "repl-" + os.urandom(8).hex(),
    "odooops_check_password": "check-" + os.urandom(8).hex(),
}
VARS = {
    **SECRETS,
    "odooops_stack": STACK,
    # the redis role and the fallback publisher build their images locally where no registry is reachable
    "redis_image_build": True,
    "redis_image": "odooops/redis:7",
    "redis_image_build_base": "odooops/debian:bookworm",
    "traefik_publisher_build_base": "odooops/debian:bookworm",
    "odoo_drain_image_build_base": "odooops/debian:bookworm",
    "traefik_bind_address": "127.0.0.1",
    "traefik_http_port": HTTP_PORT,
    "traefik_https_port": free_port(),
    "traefik_sites": [{"host": "localhost"}],
    "odoo_healthcheck_start_period": "5s",
    "odoo_rollout_timeout": 120,
    # sessions in Redis through the session_redis addon's settings file (the double reads the same variables)
    "odoo_session_redis": True,
    # every statement the db tier runs during provisioning is logged: no secret may be among them
    "postgres_settings": {"log_statement": "'all'"},
}
PLAYBOOK = "playbooks/provision.yml"
# a release rollout: only the odoo role, once provision.yml has converged the rest
ROLLOUT = "tests/integration/odoo/playbooks/odoo_only.yml"


def web_containers() -> dict[str, dict]:
    """name -> {image, set, state, health} of the stack's web containers."""
    ids = docker("ps", "-aq", "--filter", f"label=org.odooops.stack={STACK}",
                 "--filter", "label=org.odooops.odoo-role=web").stdout.split()
    out = {}
    for info in json.loads(docker("inspect", *ids).stdout) if ids else []:
        out[info["Name"].lstrip("/")] = {
            "image": info["Config"]["Image"], "set": info["Config"]["Labels"]["org.odooops.odoo-set"],
            "state": info["State"]["Status"], "health": info["State"].get("Health", {}).get("Status"),
            "networks": sorted(info["NetworkSettings"]["Networks"]), "id": info["Id"],
            # anonymous volumes (the image's VOLUMEs nothing is mounted on: the double declares /mnt/extra-addons
            # as the official image does)
            "anonymous": sorted(m["Name"] for m in info["Mounts"]
                                if m["Type"] == "volume" and re.fullmatch(r"[0-9a-f]{64}", m.get("Name", "")))}
    return out


def volume_exists(name: str) -> bool:
    return docker("volume", "inspect", name, check=False).returncode == 0


def fetch_from_app_network(path: str) -> tuple[int, str]:
    """GET path on the web alias from a throwaway container on the app network (as Traefik reaches Odoo)."""
    code = ("import urllib.request as r, urllib.error as e\n"
            f"try:\n  x = r.urlopen('http://{STACK}-odoo-web:8069{path}', timeout=5); print(x.status); "
            "print(x.read().decode()[:400])\n"
            "except e.HTTPError as h:\n  print(h.code)\n")
    res = docker("run", "--rm", "--network", f"{STACK}-app", "--label", f"org.odooops.stack={STACK}",
                 "--entrypoint", "python3", "odooops/odoo-double:17.0-a", "-c", code)
    status, _sep, body = res.stdout.partition("\n")
    return int(status), body.strip()


@pytest.fixture(scope="module")
def stack(sim_hosts, ansible_playbook):
    first = ansible_playbook(PLAYBOOK, extra_vars=VARS, timeout=2400)  # minutes on a busy machine
    yield {"first": first, "runs": [first]}
    remove_stack(STACK)


def test_provision_serves_odoo(stack):
    run = stack["first"]
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    webs = web_containers()
    assert len(webs) == 2 and all(w["health"] == "healthy" for w in webs.values())
    assert all(f"{STACK}-app" in w["networks"] for w in webs.values())
    assert fetch_from_app_network("/web/health") == (200, '{"status": "pass"}')
    status, body = fetch_from_app_network("/web/login")
    assert status == 200 and "oe_login_form" in body
    # Odoo writes through PostgreSQL on db1 (service file, TLS) and reaches Redis
    status, body = fetch_from_app_network("/odooops/ping?write=1")
    ping = json.loads(body)
    assert status == 200 and ping["db"]["in_recovery"] is False and ping["redis"]["ok"] is True
    assert "login page: HTTP 200, login form" in run.stdout
    # published on the host by the edge (Traefik, or its fallback publisher) in front of the web alias
    with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/web/health", timeout=10) as resp:
        assert resp.status == 200 and json.loads(resp.read()) == {"status": "pass"}
    # the cron container runs, off the app network
    cron = json.loads(docker("inspect", f"{STACK}-odoo-cron").stdout)[0]
    assert cron["State"]["Status"] == "running" and f"{STACK}-app" not in cron["NetworkSettings"]["Networks"]
    # the smoke checks' user exists because the role made it (the double has none built in), portal rights only,
    # and logs in through the edge with the vault's password
    req = urllib.request.Request(f"http://127.0.0.1:{HTTP_PORT}/web/session/authenticate", json.dumps(
        {"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
            "db": "odoo", "login": "odooops-check", "password": SECRETS["odooops_check_password"]}}).encode(),
        {"Content-Type": "application/json"})
    # (a login hashes the password: on a machine as loaded as CI's it can take far longer than a page)
    with urllib.request.urlopen(req, timeout=120) as resp:
        answer = json.loads(resp.read())
    assert answer.get("result", {}).get("uid"), answer
    assert "Check user - the login of upgrade.yml's smoke checks" in run.stdout


def container_file(container: str, path: str) -> str:
    return docker("exec", container, "cat", path).stdout


def test_rendered_odoo_conf_has_only_what_odoo_reads(stack):
    """odoo.conf in the running containers: no redis_* option (Odoo reads none), addons_path = the image's own
    addons (from its configuration file) then /mnt/extra-addons, session_redis loaded server-wide; its settings,
    the Redis password among them, only in a 0600 file of the container's user, and Odoo used them (the ping above
    reached Redis as the ACL user)."""
    names = sorted(web_containers()) + [f"{STACK}-odoo-cron"]
    for name in names:
        conf = container_file(name, "/etc/odoo/odoo.conf")
        keys = {line.split("=", 1)[0].strip() for line in conf.splitlines() if "=" in line and line[:1] not in ";#"}
        assert not {k for k in keys if k.startswith("redis")}, (name, sorted(keys))
        assert "addons_path = /opt/odoo/addons,/mnt/extra-addons\n" in conf, conf
        assert "server_wide_modules = base,web,session_redis\n" in conf, conf
        assert docker("exec", name, "stat", "-c", "%a %u", "/etc/odoo/session_redis.env").stdout.split() == \
            ["600", "101"], name
        env = docker("exec", "-u", "0", name, "cat", "/etc/odoo/session_redis.env").stdout
        password = SECRETS["odooops_redis_odoo_password"]
        # booleans first: a failure must not print the file (it holds the password)
        has_url = f"ODOO_SESSION_REDIS_URL=redis://odoo:{password}@{STACK}-redis:6379/0\n" in env
        assert has_url, f"{name}: no ODOO_SESSION_REDIS_URL with the ACL user odoo and its password"
        assert "ODOO_SESSION_REDIS=1\n" in env, name
        info = json.loads(docker("inspect", name).stdout)[0]
        exposed = json.dumps([info["Config"]["Env"], info["Config"]["Cmd"], info["Config"]["Entrypoint"],
                              info["Path"], info["Args"]])
        assert password not in exposed and "ODOO_SESSION_REDIS" not in exposed, exposed


def test_over_budget_refused_before_any_change(stack, ansible_playbook):
    before = web_containers()
    run = ansible_playbook(PLAYBOOK, extra_vars={**VARS, "odoo_db_max_connections": 40, "odoo_web_replicas": 3})
    stack["runs"].append(run)
    assert run.rc != 0
    assert "connection budget exceeded" in run.stdout and "40 - 10 reserved = 30" in run.stdout
    assert run.changed() == 0
    assert web_containers() == before


def test_blue_green_failing_set_leaves_old_serving(stack, ansible_playbook):
    before = web_containers()
    sampler = TrafficSampler(STACK, "health")
    # a new image straight through the role (upgrade.yml is the governed way): release pinning off
    run = ansible_playbook(ROLLOUT, extra_vars={**VARS, "odoo_image": "odooops/odoo-double:17.0-broken",
                                                "odoo_release_pinning": False})
    samples = sampler.stop()
    stack["runs"].append(run)
    print(f"\nblue/green with a failing image: {samples['ok']} ok, {samples['fail']} failed samples")
    assert run.rc != 0
    assert "did not become healthy" in run.stdout and "keep serving" in run.stdout
    assert web_containers() == before  # the new set was removed, the old one untouched
    assert samples["fail"] == 0 and samples["ok"] > 20, samples


def test_blue_green_good_set_replaces_old_without_a_failed_request(stack, ansible_playbook):
    before = web_containers()
    sampler = TrafficSampler(STACK, "health")
    # and 2-second requests back to back: one is in flight when the old set retires, and must be answered
    slow = TrafficSampler(STACK, "slow")
    started = time.monotonic()
    # a new image straight through the role (upgrade.yml is the governed way): release pinning off
    run = ansible_playbook(ROLLOUT, extra_vars={**VARS, "odoo_image": "odooops/odoo-double:17.0-b",
                                                "odoo_release_pinning": False})
    print(f"\nrollout run: {time.monotonic() - started:.1f} s")
    samples, slow_samples = sampler.stop(), slow.stop()
    stack["runs"].append(run)
    print(f"\nblue/green 17.0-a -> 17.0-b: {samples['ok']} ok, {samples['fail']} failed samples; 2-s requests: "
          f"{slow_samples['ok']} ok, {slow_samples['fail']} failed")
    assert run.rc == 0, run.stdout[-4000:]
    # the old set was drained (new connections refused, requests in flight answered), not cut off the network
    # every old container (both replicas, drained at the same time), not cut off the network
    drains = re.findall(r"(odoo-web-\w+-\d): (drained in \d+ s|\d+ connection)", run.stdout)
    assert sorted({name for name, _unused in drains}) == sorted(n.split(STACK + "-")[-1] for n in before), \
        (drains, run.stdout[-4000:])
    assert slow_samples["fail"] == 0 and slow_samples["ok"] >= 3, slow_samples
    after = web_containers()
    assert len(after) == 2 and not set(after) & set(before)
    # the retired containers went with their anonymous volumes (none left behind at each rollout)
    retired_volumes = [v for w in before.values() for v in w["anonymous"]]
    assert retired_volumes and not [v for v in retired_volumes if volume_exists(v)], retired_volumes
    assert all(w["image"] == "odooops/odoo-double:17.0-b" and w["health"] == "healthy" for w in after.values())
    assert samples["fail"] == 0 and samples["ok"] > 20, samples
    assert fetch_from_app_network("/web/health") == (200, '{"status": "pass"}')


def test_inventory_image_does_not_replace_the_serving_release(stack, ansible_playbook):
    """After a new image went out (17.0-b, as upgrade.yml rolls it), a run with the inventory's older image keeps
    what serves and says so: putting the old code back on an updated database is not provision's to do."""
    before = web_containers()
    assert {w["image"] for w in before.values()} == {"odooops/odoo-double:17.0-b"}
    run = ansible_playbook(ROLLOUT, extra_vars={**VARS, "odoo_image": "odooops/odoo-double:17.0-a"})
    stack["runs"].append(run)
    assert run.rc == 0, run.stdout[-4000:]
    assert "keeping odooops/odoo-double:17.0-b" in " ".join(run.stdout.split())
    assert web_containers() == before


def test_secrets_absent_from_output_and_files(stack, sim_hosts):
    for run in stack["runs"]:
        for name, secret in SECRETS.items():
            assert secret not in run.stdout and secret not in run.stderr, name
    app = sim_hosts["app1"]
    for name, secret in SECRETS.items():
        found = docker("exec", app, "grep", "-rlF", secret, "/etc", "/var/lib/odooops", "/tmp", "/root",
                       check=False).stdout.split()
        for path in found:
            mode = docker("exec", app, "stat", "-c", "%a", path).stdout.strip()
            assert mode == "600", f"{name} found in {path} (mode {mode})"
    # nor in the containers' definitions (environment, command line)
    ids = docker("ps", "-aq", "--filter", f"label=org.odooops.stack={STACK}").stdout.split()
    inspect = docker("inspect", *ids).stdout
    for name, secret in SECRETS.items():
        assert secret not in inspect, name
    # nor in what PostgreSQL logged while provision.yml created roles, databases and Odoo's tables
    # (log_statement = all from the clusters' first start): roles get SCRAM verifiers, never the password
    for host in ("db1", "db2"):
        assert docker("exec", sim_hosts[host], "runuser", "-u", "postgres", "--", "psql", "-XAtqc",
                      "show log_statement").stdout.strip() == "all"
        log = docker("exec", sim_hosts[host], "sh", "-c", "cat /var/log/postgresql/*.log").stdout
        assert "statement:" in log, f"{host}: nothing logged"
        for name, secret in SECRETS.items():
            assert secret not in log, f"{name} in {host}'s PostgreSQL log"
    # the master password is stored hashed
    conf = docker("exec", app, "sh", "-c", f"cat /etc/odooops/{STACK}/odoo/cron.conf").stdout
    assert "admin_passwd = $pbkdf2-sha512$" in conf


def test_odoo_refuses_a_db_host_with_a_certificate_from_another_ca(stack, sim_hosts, project_root):
    """Odoo's own connection (in a web container: odoo.conf, the rendered service file, the CA file) verifies the
    primary's certificate against the platform CA: an impostor on the primary's name and address is refused."""
    web = sorted(web_containers())[0]
    service = docker("exec", web, "cat", "/etc/odoo/pg_service.conf").stdout
    assert "sslmode=verify-full" in service and "sslrootcert=/etc/odoo/db-ca.crt" in service, service
    assert docker("exec", web, "stat", "-c", "%a", "/etc/odoo/db-ca.crt").stdout.strip() == "444"
    with open(os.path.join(project_root, "roles", "odoo", "files", "dbcheck.py"), encoding="utf-8") as fh:
        dbcheck = fh.read()

    def odoo_connects() -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", "-i", web, "python3", "-", "/etc/odoo/odoo.conf", "odoo"],
                              input=dbcheck, check=False, capture_output=True, text=True, timeout=60)

    ok = odoo_connects()
    assert ok.returncode == 0 and json.loads(ok.stdout)["exists"] is True, ok.stdout + ok.stderr
    primary = next(n for n in ("db1", "db2") if docker(
        "exec", sim_hosts[n], "runuser", "-u", "postgres", "--", "psql", "-XAtqc",
        "select pg_is_in_recovery()").stdout.strip() == "f")
    with ImpostorCertificate(sim_hosts[primary], primary):
        refused = odoo_connects()
        assert refused.returncode != 0, refused.stdout
        assert "certificate verify failed" in json.loads(refused.stdout)["error"], refused.stdout
    again = odoo_connects()
    assert again.returncode == 0 and json.loads(again.stdout)["exists"] is True, again.stdout + again.stderr


def odoo_addresses() -> dict[str, dict[str, str]]:
    """container -> {network: address} of the stack's web and cron containers."""
    ids = docker("ps", "-q", "--filter", f"label=org.odooops.stack={STACK}",
                 "--filter", "label=org.odooops.odoo-role").stdout.split()
    out = {}
    for info in json.loads(docker("inspect", *ids).stdout) if ids else []:
        if info["Config"]["Labels"].get("org.odooops.odoo-role") in ("web", "cron"):
            out[info["Name"].lstrip("/")] = {n: v["IPAddress"] for n, v in info["NetworkSettings"]["Networks"].items()}
    return out


def reaches_8069(network: str, addresses: list[str]) -> dict[str, bool]:
    """From a throwaway container on network (another workload of the app host): which addresses accept a TCP
    connection on Odoo's 8069."""
    code = ("import json, socket, sys\nout = {}\nfor a in sys.argv[1:]:\n  try:\n"
            "    socket.create_connection((a, 8069), timeout=3).close(); out[a] = True\n"
            "  except OSError:\n    out[a] = False\nprint(json.dumps(out))\n")
    res = docker("run", "--rm", "--network", network, "--label", f"org.odooops.stack={STACK}",
                 "--entrypoint", "python3", "odooops/odoo-double:17.0-a", "-c", code, *addresses)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_nothing_but_the_edge_reaches_odoo(stack, sim_hosts, ansible_playbook):
    """Odoo's db path is a network of the stack's own (<stack>-db, the role's default on a real app host): a
    container of the app host on Docker's default bridge, on a network of its own, or on the hosts' LAN cannot
    open Odoo's 8069 (web or cron); the edge still serves /web/login and Odoo still writes through PostgreSQL."""
    db_net, other, lan = f"{STACK}-db", f"{STACK}-elsewhere", PREFIX + "lan"
    # a real app host routes <stack>-db to the db hosts; here they are containers of the same engine, so they
    # join <stack>-db under their names as that route would (pg_hba's samenet admits it), before the role runs
    docker("network", "create", "--label", f"org.odooops.stack={STACK}", "--label", "org.odooops.network=db", db_net)
    docker("network", "create", "--label", f"org.odooops.stack={STACK}", other)
    for host in ("db1", "db2"):
        docker("network", "connect", "--alias", host, db_net, sim_hosts[host])
    try:
        run = ansible_playbook(ROLLOUT, extra_vars={**VARS, "odoo_db_network": db_net})
        stack["runs"].append(run)
        assert run.rc == 0, run.stdout[-4000:]
        found = odoo_addresses()
        webs = {n: a for n, a in found.items() if "-odoo-web-" in n}
        assert len(webs) == 2 and f"{STACK}-odoo-cron" in found, found
        for name, nets in found.items():
            expected = {db_net, f"{STACK}-data"} | ({f"{STACK}-app"} if name in webs else set())
            assert set(nets) == expected, (name, nets)  # the cron left the LAN it was on
        addresses = sorted({a for nets in found.values() for a in nets.values()})
        for network in ("bridge", other, lan):
            reached = reaches_8069(network, addresses)
            assert not any(reached.values()), (network, reached)
        # the same probe from the app network, where the edge is: the web containers answer there
        on_app = [nets[f"{STACK}-app"] for nets in webs.values()]
        assert all(reaches_8069(f"{STACK}-app", on_app).values())
        with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/web/login", timeout=10) as resp:
            assert resp.status == 200 and "oe_login_form" in resp.read().decode()
        status, body = fetch_from_app_network("/odooops/ping?write=1")
        assert status == 200 and json.loads(body)["db"]["in_recovery"] is False, body
    finally:
        for host in ("db1", "db2"):
            docker("network", "disconnect", "-f", db_net, sim_hosts[host], check=False)
        docker("network", "rm", other, check=False)
