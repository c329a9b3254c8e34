"""Edge of an app host on the simulated VM app1: network segmentation, Redis ACL, secrets kept out of sight,
idempotence, Traefik configuration validated against the official schemas, maintenance switch, and the
fallback publisher (no Traefik image exists here) following the Odoo alias.

The HTTP backends are stand-ins for Odoo web containers (python3 -m http.server), not Odoo.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid

import pytest
import yaml

from ansible_collections.odooops.hosting.plugins.module_utils.edge import traefik as tc
from tests.integration.harness.docker import docker_out
from tests.integration.harness.edge import (
    LOCAL_IMAGES,
    PLAYBOOKS,
    as_odoo_routes,
    cleanup_stack,
    echo_targets,
    echo_targets_since,
    http_get,
    inspect,
    raw_request,
    start_backend,
    start_echo_backend,
    wait_http,
)
from tests.integration.harness.env import TEST_PREFIX as PREFIX

# two converges of the edge on a shared 2-core machine; far quicker on an idle one
pytestmark = pytest.mark.timeout(1800)


def stack_containers(stack: str) -> list[dict]:
    ids = docker_out("ps", "-aq", "--filter", f"label=org.odooops.stack={stack}").split()
    return [json.loads(docker_out("inspect", i))[0] for i in ids]


def redis_cli(container: str, user: str, password: str | None, *args: str) -> str:
    env = ["-e", f"REDISCLI_AUTH={password}"] if password else []
    cmd = ["docker", "exec", *env, container, "redis-cli", "--no-auth-warning"]
    if user:
        cmd += ["--user", user]
    res = subprocess.run([*cmd, *args], capture_output=True, text=True, check=False)
    return (res.stdout + res.stderr).strip()


def app1_file(edge, path: str) -> str:
    return docker_out("exec", edge["app1"], "cat", path)


def test_converges_then_second_run_changes_nothing(edge):
    assert edge["first"].changed() > 0
    assert edge["second"].rc == 0, edge["second"].stdout[-4000:]
    assert edge["second"].recap()["app1"]["changed"] == 0, edge["second"].stdout[-6000:]


def test_networks_are_segmented(edge):
    nets = {n: json.loads(docker_out("network", "inspect", f"{edge['stack']}-{n}"))[0]
            for n in ("ingress", "app", "data")}
    assert nets["ingress"]["Internal"] is False
    assert nets["app"]["Internal"] is True and nets["data"]["Internal"] is True
    assert all(n["Labels"]["org.odooops.stack"] == edge["stack"] for n in nets.values())
    redis = inspect(f"{edge['stack']}-redis")
    assert set(redis["NetworkSettings"]["Networks"]) == {f"{edge['stack']}-data"}
    assert f"{edge['stack']}-redis" in redis["NetworkSettings"]["Networks"][f"{edge['stack']}-data"]["Aliases"]


def test_nothing_but_the_edge_publishes_ports(edge):
    start_backend(edge["stack"], "blue-ports", "x")
    containers = stack_containers(edge["stack"])
    published = {c["Name"].lstrip("/"): c["HostConfig"]["PortBindings"] or {} for c in containers}
    assert f"{edge['stack']}-redis" in published
    publisher = published.pop(f"{edge['stack']}-publisher")
    assert publisher == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(edge["http_port"])}]}
    assert all(not bindings for bindings in published.values()), published
    docker_out("rm", "-f", "-v", f"{edge['stack']}-blue-ports")


def test_redis_acl(edge):
    primary = f"{edge['stack']}-redis"
    odoo, admin = edge["odoo_password"], edge["admin_password"]
    assert "NOAUTH" in redis_cli(primary, "", None, "ping")  # default user is off
    assert "WRONGPASS" in redis_cli(primary, "odoo", "wrong-password", "ping")
    assert redis_cli(primary, "odoo", odoo, "set", "session:abc", "1") == "OK"
    assert "NOPERM" in redis_cli(primary, "odoo", odoo, "set", "other:abc", "1")
    refused = (["flushall"], ["config", "get", "maxmemory"], ["keys", "*"], ["acl", "list"],
               ["client", "kill", "id", "1"])
    for cmd in refused:
        assert "NOPERM" in redis_cli(primary, "odoo", odoo, *cmd), cmd
    assert redis_cli(primary, "admin", admin, "config", "get", "maxmemory-policy").split() == \
        ["maxmemory-policy", "allkeys-lru"]
    assert redis_cli(primary, "admin", admin, "config", "get", "appendonly").split() == ["appendonly", "yes"]


def test_redis_passwords_out_of_sight(edge):
    secrets = [edge["admin_password"], edge["odoo_password"]]
    # docker inspect of every container of the stack
    for c in stack_containers(edge["stack"]):
        dump = json.dumps(c)
        assert not any(s in dump for s in secrets), c["Name"]
    # every process on the machine (containers share the kernel): command lines and environments we can read
    ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
    assert not any(s in ps for s in secrets)
    # the playbook output, at -vvv
    out = edge["first"].stdout + edge["first"].stderr + edge["second"].stdout + edge["second"].stderr
    assert "censored" in out and "ESTABLISH" in out  # no_log took effect, and the first run was really -vvv
    assert not any(s in out for s in secrets)
    # files on the app host: the ACL file holds digests only; files holding any secret are 0600
    found = docker_out("exec", edge["app1"], "sh", "-c",
                       f"grep -rlF -e '{secrets[0]}' -e '{secrets[1]}' /etc/odooops/{edge['stack']} /var/lib/odooops "
                       "|| true")
    assert found == ""
    acl = app1_file(edge, f"/etc/odooops/{edge['stack']}/redis/users.acl")
    assert hashlib.sha256(secrets[1].encode()).hexdigest() in acl
    modes = docker_out("exec", edge["app1"], "stat", "-c", "%a %n", f"/etc/odooops/{edge['stack']}/redis/users.acl",
                       f"/etc/odooops/{edge['stack']}/redis/{edge['stack']}-redis.conf").splitlines()
    assert all(m.startswith("600 ") for m in modes), modes
    inside = docker_out("exec", f"{edge['stack']}-redis", "stat", "-c", "%a %u", "/usr/local/etc/redis/users.acl")
    assert inside == "600 999"


def test_rendered_traefik_configuration_validates(edge, shared_dir):
    base = f"/etc/odooops/{edge['stack']}/traefik"
    static = yaml.safe_load(app1_file(edge, f"{base}/traefik.yml"))
    dynamic = {f: yaml.safe_load(app1_file(edge, f"{base}/dynamic/{f}")) for f in ("odoo.yml", "maintenance.yml")}
    schemas = os.path.join(shared_dir, "schemas", "traefik")
    tc.validate(schemas, static, dynamic)
    routers = dynamic["odoo.yml"]["http"]["routers"]
    assert {"shop-example-test", "shop-example-test-websocket", "b2b-dbmanager"} <= set(routers)
    assert routers["b2b-dbmanager"]["middlewares"][0] == "database-manager-allowlist"
    service = dynamic["odoo.yml"]["http"]["services"]["odoo"]["loadBalancer"]
    assert service["servers"] == [{"url": f"http://{edge['stack']}-odoo-web:8069"}]
    # readiness: the login page loads the database (/web/health answers without one)
    assert service["healthCheck"]["path"] == "/web/login"
    assert service["healthCheck"]["hostname"] == "shop.example.test"
    assert static["entryPoints"]["web"]["http"]["redirections"]["entryPoint"]["to"] == "websecure"
    assert static["accessLog"]["format"] == "json" and "prometheus" in static["metrics"]
    # a deliberately broken copy fails
    routers["b2b"]["service"] = "missing"
    routers["b2b"]["rule"] = 42
    with pytest.raises(tc.TraefikConfigError) as err:
        tc.validate(schemas, static, dynamic)
    assert any("b2b/rule" in p for p in err.value.problems) and any("'missing'" in p for p in err.value.problems)


@pytest.mark.parametrize("variant", ["full"])
def test_every_template_variant_validates(variant, ansible_playbook, shared_dir, tmp_path):
    extra = {"render_dest": str(tmp_path), "traefik_stack": "v", "traefik_acme_enabled": True,
             "traefik_acme_email": "ops@example.test", "traefik_acme_challenge": "http", "traefik_maintenance": True,
             "traefik_maintenance_bypass": ["10.0.0.0/8", "192.168.1.5/32"], "traefik_redirect_https": False,
             "traefik_sites": [{"host": "a.example.test", "service": "tenant_a"},
                               {"host": "b.example.test", "tls": False}],
             "traefik_tls_certificates": [{"name": "a", "cert": "C", "key": "K"}]}
    run = ansible_playbook(os.path.join(PLAYBOOKS, "render_traefik.yml"), extra_vars=extra)
    assert run.rc == 0, run.stdout[-3000:]

    def load(f):
        return yaml.safe_load((tmp_path / f).read_text())
    tc.validate(os.path.join(shared_dir, "schemas", "traefik"), load("traefik.yml"),
                {"odoo.yml": load("odoo.yml"), "maintenance.yml": load("maintenance.yml")})
    assert load("traefik.yml")["certificatesResolvers"]["acme"]["acme"]["httpChallenge"] == {"entryPoint": "web"}
    # each service's health check asks for the login page as one of its sites (a host-based dbfilter picks the
    # database from the Host)
    services = load("odoo.yml")["http"]["services"]
    assert services["tenant_a"]["loadBalancer"]["healthCheck"]["hostname"] == "a.example.test"
    assert services["odoo"]["loadBalancer"]["healthCheck"]["hostname"] == "b.example.test"
    assert "ClientIP(`10.0.0.0/8`)" in load("maintenance.yml")["http"]["routers"]["maintenance-websecure"]["rule"]


def test_fallback_publisher_forwards_and_follows_the_alias(edge):
    """Blue/green moves the alias <stack>-odoo-web; the published URL keeps serving whichever set carries it."""
    # the run says, once, that a stand-in publishes Odoo (the test opted in with traefik_fallback: auto)
    out = " ".join(edge["first"].stdout.split())  # the callback wraps long messages
    assert out.count("NOTICE: no Traefik on app1") == 1
    notice = out[out.index("NOTICE: no Traefik on app1"):][:700]
    assert "published by a STAND-IN" in notice and "no TLS, no HSTS" in notice, notice
    blue = start_backend(edge["stack"], "blue", "blue")
    try:
        assert wait_http(edge["url"] + "/web/health")[1] == "blue"
        # /websocket goes to the gevent port (the stand-in starts that server in the background: wait for it)
        assert wait_http(edge["url"] + "/websocket/")[1] == "ws-blue"
        green = start_backend(edge["stack"], "green", "green")
        docker_out("rm", "-f", "-v", blue)
        assert wait_http(edge["url"] + "/web/health")[1] == "green"
        # the database manager is only for the allowlist (127.0.0.1/32 seen from inside: the engine's proxy is not)
        assert http_get(edge["url"] + "/web/database/manager")[0] == 403
        docker_out("rm", "-f", "-v", green)
        assert wait_http(edge["url"] + "/web/health", status=502)[0] == 502
    finally:
        docker_out("rm", "-f", "-v", f"{edge['stack']}-blue", f"{edge['stack']}-green", check=False)


def test_maintenance_switch_changes_only_the_dynamic_file(edge, ansible_playbook, shared_dir):
    base = f"/etc/odooops/{edge['stack']}/traefik"
    files = [f"{base}/traefik.yml", f"{base}/dynamic/odoo.yml", f"{base}/dynamic/maintenance.yml"]

    def digests():
        return dict(zip(files, docker_out("exec", edge["app1"], "sha256sum", *files).split()[::2], strict=True))

    publisher = f"{edge['stack']}-publisher"
    started = inspect(publisher)["State"]["StartedAt"]
    backend = start_backend(edge["stack"], "maint", "serving")
    try:
        wait_http(edge["url"] + "/web/health")
        before = digests()
        extra = {"odooops_stack": edge["stack"], "traefik_maintenance": True}
        on = ansible_playbook(os.path.join(PLAYBOOKS, "maintenance.yml"), extra_vars=extra)
        assert on.rc == 0 and on.changed() >= 1, on.stdout[-3000:]
        status, body = wait_http(edge["url"] + "/web/health", status=503)
        assert "Down for maintenance" in body
        during = digests()
        changed = [f for f in files if before[f] != during[f]]
        assert changed == [f"{base}/dynamic/maintenance.yml"]
        doc = yaml.safe_load(app1_file(edge, f"{base}/dynamic/maintenance.yml"))
        assert set(doc["http"]["routers"]) == {"maintenance-web", "maintenance-websecure"}
        tc.validate(os.path.join(shared_dir, "schemas", "traefik"), None,
                    {"maintenance.yml": doc, "odoo.yml": yaml.safe_load(app1_file(edge, f"{base}/dynamic/odoo.yml"))})
        off = ansible_playbook(os.path.join(PLAYBOOKS, "maintenance.yml"),
                               extra_vars={**extra, "traefik_maintenance": False})
        assert off.rc == 0, off.stdout[-3000:]
        assert wait_http(edge["url"] + "/web/health")[1] == "serving"
        assert digests() == before
        assert inspect(publisher)["State"]["StartedAt"] == started  # never restarted
    finally:
        docker_out("rm", "-f", "-v", backend, check=False)


@pytest.mark.parametrize(
    ("role", "extra", "message"),
    [
        ("traefik", {"traefik_sites": [{"host": "bad host!"}]}, "traefik_sites needs a unique, valid 'host'"),
        ("traefik", {"traefik_sites": [{"service": "odoo"}]}, "host"),
        ("redis", {"odooops_redis_admin_password": "short", "odooops_redis_odoo_password": "x" * 20},
         "must be set, at least 12 characters"),
        ("redis", {"redis_persistence": "sometimes"}, "redis_persistence"),
    ],
    ids=["traefik-bad-host", "traefik-site-without-host", "redis-short-password", "redis-bad-persistence"],
)
def test_bad_input_refused_before_any_change(role, extra, message, sim_hosts, ansible_playbook):
    stack = f"{PREFIX}bad{uuid.uuid4().hex[:4]}"
    try:
        run = ansible_playbook(os.path.join(PLAYBOOKS, "bad_input.yml"), extra_vars={
            "bad_role": role, "odooops_stack": stack, "odooops_redis_admin_password": "a" * 20,
            "odooops_redis_odoo_password": "b" * 20, **extra})
        assert run.rc != 0
        assert message in run.stdout + run.stderr, run.stdout[-3000:]
        assert run.changed() == 0
        assert docker_out("ps", "-aq", "--filter", f"label=org.odooops.stack={stack}") == ""
        assert docker_out("exec", sim_hosts["app1"], "ls", "/etc/odooops/", check=False).find(stack) == -1
    finally:
        cleanup_stack(stack)


# --- the stand-in publisher refuses the bypasses of the database-manager allowlist and of X-Forwarded-* ---------

HOST = b"Host: shop.example.test\r\n"
BYPASSES = {
    "absolute-form": (b"GET http://shop.example.test/web/database/manager HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "percent-encoded": (b"GET /web/%64atabase/manager HTTP/1.1\r\n" + HOST + b"\r\n", 403),
    "encoded-slash": (b"GET /web%2Fdatabase/manager HTTP/1.1\r\n" + HOST + b"\r\n", 403),
    "double-slash": (b"GET /web//database HTTP/1.1\r\n" + HOST + b"\r\n", 403),
    "dot-dot": (b"GET /web/login/../database/manager HTTP/1.1\r\n" + HOST + b"\r\n", 403),
    "climbs-above-root": (b"GET /../web/database/manager HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    # a second request behind an allowed one on the same connection never reaches Odoo
    "pipelined": (b"GET /web/login HTTP/1.1\r\n" + HOST + b"\r\nGET /web/database/manager HTTP/1.1\r\n" + HOST
                  + b"\r\n", 200),
    # an "upgrade" outside /websocket is a plain request (Connection: close), so nothing follows it
    "fake-upgrade": (b"GET /web/login HTTP/1.1\r\n" + HOST + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                     b"GET /web/database/manager HTTP/1.1\r\n" + HOST + b"\r\n", 200),
    # a websocket upgrade Odoo does not accept (no 101): the bytes after it are not forwarded
    "refused-upgrade": (b"GET /websocket HTTP/1.1\r\n" + HOST + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                        b"GET /web/database/manager HTTP/1.1\r\n" + HOST + b"\r\n", 200),
    "chunked-body": (b"POST /web/login HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                     b"GET /web/database/manager HTTP/1.1\r\n" + HOST + b"\r\n", 411),
}


@pytest.fixture(scope="module")
def echo(edge):
    """An echo backend (not Odoo) carrying the Odoo alias behind the stand-in publisher of the edge fixture."""
    name = start_echo_backend(edge["stack"], "echo")
    try:
        wait_http(edge["url"] + "/web/health")
        yield name
    finally:
        docker_out("rm", "-f", "-v", name, check=False)


@pytest.mark.parametrize("case", list(BYPASSES))
def test_stand_in_refuses_database_manager_bypass(case, edge, echo):
    data, expected = BYPASSES[case]
    seen = len(echo_targets(echo))
    status, answer = raw_request(edge["http_port"], data, timeout=8)
    reached = echo_targets_since(echo, seen, 1 if expected == 200 else 0)
    assert status == expected, (answer[:400], reached)
    assert not [t for t in reached if as_odoo_routes(t).lower().startswith("/web/database")], reached
    if expected == 200:  # the allowed first request itself was served, in its normalised form
        assert len(reached) == 1 and reached[0] in ("/web/login", "/websocket"), reached


def test_stand_in_replaces_client_forwarded_headers(edge, echo):
    spoof = (b"GET /web/login?redirect=%2Fodoo HTTP/1.1\r\n" + HOST + b"X-Forwarded-Host: evil.example.test\r\n"
             b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n"
             b"X_Forwarded_Host: evil2.example.test\r\nForwarded: for=6.6.6.6;host=evil3.example.test\r\n"
             b"X-Real-IP: 6.6.6.6\r\n\r\n")
    status, answer = raw_request(edge["http_port"], spoof)
    assert status == 200, answer[:400]
    seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    headers = [(k.lower(), v) for k, v in seen["headers"]]
    assert seen["target"] == "/web/login?redirect=%2Fodoo"
    assert not [h for h in headers if "evil" in h[1] or "6.6.6.6" in h[1]], headers
    forwarded = {k: v for k, v in headers if k.replace("_", "-").startswith("x-forwarded") or k == "forwarded"}
    assert [k for k, _v in headers if k.replace("_", "-").startswith("x-forwarded")].count("x-forwarded-host") == 1
    assert forwarded["x-forwarded-host"] == "shop.example.test" and forwarded["x-forwarded-proto"] == "http"
    assert set(forwarded) == {"x-forwarded-host", "x-forwarded-proto", "x-forwarded-for"}, headers
    # the publisher's peer: the engine's port publishing (gateway or loopback), never what the client claimed
    assert forwarded["x-forwarded-for"].count(".") == 3 and "," not in forwarded["x-forwarded-for"]


def test_product_default_refuses_without_traefik_and_changes_nothing(sim_hosts, ansible_playbook, tmp_path):
    """An inventory that does not opt in (no traefik_fallback anywhere): the role stops on the missing image,
    naming it and the variable, before it renders, builds or starts anything."""
    if docker_out("images", "-q", "traefik:v3.1"):
        pytest.skip("a Traefik image exists on this engine: the default would run Traefik")
    stack = f"{PREFIX}dflt{uuid.uuid4().hex[:4]}"
    app1 = sim_hosts["app1"]
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"app": {"hosts": {"app1": {
        "ansible_connection": "odooops.hosting.sim_host", "ansible_user": "root", "ansible_host": app1}}}}}}))

    def snapshot():
        return {
            "containers": docker_out("ps", "-aq", "--filter", f"label=org.odooops.stack={stack}"),
            "networks": docker_out("network", "ls", "-q", "--filter", f"name={stack}"),
            "volumes": docker_out("volume", "ls", "-q", "--filter", f"name={stack}"),
            "config": docker_out("exec", app1, "sh", "-c", f"ls -d /etc/odooops/{stack} 2>&1 || true"),
            "build": docker_out("exec", app1, "sh", "-c", "find /var/lib/odooops/build -type f -exec sha256sum {} + "
                                "2>/dev/null | sort || true"),
            "image": docker_out("images", "-q", "odooops/edge-publisher:2"),
        }

    before = snapshot()
    try:
        run = ansible_playbook(os.path.join(PLAYBOOKS, "bad_input.yml"), inventory=str(inventory), extra_vars={
            "bad_role": "traefik", "odooops_stack": stack, **LOCAL_IMAGES,
            "traefik_sites": [{"host": "shop.example.test"}]})
        out = run.stdout + run.stderr
        assert run.rc != 0, out[-3000:]
        assert "The Traefik image traefik:v3.1 (traefik_image)" in out and "traefik_fallback" in out, out[-3000:]
        assert run.changed() == 0, out[-3000:]
        assert "STAND-IN" not in out
        after = snapshot()
        assert after == before
        assert after["containers"] == "" and after["networks"] == "" and "No such file" in after["config"]
    finally:
        cleanup_stack(stack, app1)
