"""The Kubernetes renderer: objects per tenant, sizing from the connection budget, input errors."""
from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.k8s import render as r
from ansible_collections.odooops.hosting.plugins.module_utils.odoo import sizing
from tests.unit.kubernetes.k8s_specs import base_spec


def by_id(tenant) -> dict:
    return {r.object_id(o): o for o in tenant.objects}


def test_single_tenant_objects(single_spec):
    _unused, tenants = r.render(single_spec)
    assert [t.key for t in tenants] == ["prod/shop"]
    objs = by_id(tenants[0])
    ns = "retail-prod-shop"
    for oid in ["Namespace/" + ns, f"ResourceQuota/{ns}/odooops-quota", f"LimitRange/{ns}/odooops-defaults",
                f"NetworkPolicy/{ns}/default-deny", f"NetworkPolicy/{ns}/allow-dns",
                f"NetworkPolicy/{ns}/allow-ingress-controller-to-odoo", f"NetworkPolicy/{ns}/allow-odoo-egress",
                f"NetworkPolicy/{ns}/allow-postgres", f"NetworkPolicy/{ns}/allow-redis",
                f"ServiceAccount/{ns}/odoo", f"Role/{ns}/odooops-automation", f"RoleBinding/{ns}/odooops-automation",
                f"Deployment/{ns}/odoo-web", f"Deployment/{ns}/odoo-cron", f"Service/{ns}/odoo-web",
                f"PodDisruptionBudget/{ns}/odoo-web", f"HorizontalPodAutoscaler/{ns}/odoo-web",
                f"PersistentVolumeClaim/{ns}/odoo-filestore", f"Deployment/{ns}/redis", f"Service/{ns}/redis",
                f"Middleware/{ns}/security-headers", f"Middleware/{ns}/database-manager-allowlist",
                f"Middleware/{ns}/maintenance", f"IngressRoute/{ns}/odoo", f"Cluster/{ns}/pg",
                f"ScheduledBackup/{ns}/pg-daily"]:
        assert oid in objs, oid
    web = objs[f"Deployment/{ns}/odoo-web"]["spec"]
    assert web["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod = web["template"]["spec"]
    c = pod["containers"][0]
    # readiness loads the database (the login page), liveness does not (/web/health)
    assert c["readinessProbe"]["httpGet"]["path"] == "/web/login"
    assert c["livenessProbe"]["httpGet"]["path"] == "/web/health"
    assert pod["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["readOnlyRootFilesystem"]
    assert c["command"] == ["odoo"] and "--config=/etc/odoo/odoo.conf" in c["args"]
    assert {"name": "config", "secret": {"secretName": "odoo-config", "defaultMode": 0o440,
                                         "items": [{"key": "odoo.conf", "path": "odoo.conf"}]}} in pod["volumes"]
    cron = objs[f"Deployment/{ns}/odoo-cron"]["spec"]
    assert cron["replicas"] == 1 and cron["strategy"] == {"type": "Recreate"}
    assert "--max-cron-threads=2" in cron["template"]["spec"]["containers"][0]["args"]
    # TLS secret referenced; the IngressRoute routes /web/database through the allowlist
    route = objs[f"IngressRoute/{ns}/odoo"]["spec"]
    assert route["tls"] == {"secretName": "wildcard-tls"}
    db_route = route["routes"][0]
    assert "PathPrefix(`/web/database`)" in db_route["match"]
    assert {"name": "database-manager-allowlist"} in db_route["middlewares"]
    assert all({"name": "maintenance"} in rt["middlewares"] for rt in route["routes"])
    assert objs[f"Middleware/{ns}/database-manager-allowlist"]["spec"]["ipAllowList"]["sourceRange"] == \
        ["10.10.0.0/16"]


def test_hpa_maximum_is_the_connection_budget(single_spec):
    _unused, (t,) = r.render(single_spec)
    hpa = by_id(t)["HorizontalPodAutoscaler/retail-prod-shop/odoo-web"]["spec"]
    # limits 2 CPUs / 3 GiB: 5 workers; budget 400 - 10; per replica (5+1)*4*2 = 48; cron (2+1)*8 = 24
    expected = sizing.max_web_replicas(390, 5, 4, 2, 8)
    assert expected == 7
    assert hpa["maxReplicas"] == expected == t.sizing["max_replicas"]
    assert hpa["minReplicas"] == 2
    assert t.sizing["connections_peak"] <= 390
    # with an HPA the Deployment leaves the count to it
    assert "replicas" not in by_id(t)["Deployment/retail-prod-shop/odoo-web"]["spec"]


def test_cnpg_cluster_and_backups(single_spec):
    _unused, (t,) = r.render(single_spec)
    objs = by_id(t)
    spec = objs["Cluster/retail-prod-shop/pg"]["spec"]
    assert spec["instances"] == 3
    assert spec["postgresql"]["synchronous"] == {"method": "any", "number": 1, "dataDurability": "required"}
    assert spec["postgresql"]["parameters"]["max_connections"] == "400"
    roles = {role["name"]: role for role in spec["managed"]["roles"]}
    assert roles["odoo_owner"]["login"] is False and roles["odoo_owner"]["createdb"] is True
    assert roles["odoo"]["passwordSecret"] == {"name": "odoo-db-login"}
    assert roles["odoo"]["inRoles"] == ["odoo_owner"]
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://retail-backups/pg"
    assert store["s3Credentials"]["secretAccessKey"] == {"name": "odooops-s3", "key": "ACCESS_SECRET_KEY"}
    assert spec["bootstrap"]["initdb"]["owner"] == "odoo_owner"
    sched = objs["ScheduledBackup/retail-prod-shop/pg-daily"]["spec"]
    assert sched["cluster"] == {"name": "pg"} and sched["method"] == "barmanObjectStore"


def test_three_tenants_two_zones(three_tenants_two_zones_spec):
    _unused, tenants = r.render(three_tenants_two_zones_spec)
    assert [t.namespace for t in tenants] == ["retail-prod-alpha", "retail-prod-beta", "retail-prod-gamma",
                                              "retail-staging-alpha"]
    for t in tenants:
        namespaces = {o["metadata"].get("namespace") for o in t.objects if o["kind"] != "Namespace"}
        assert namespaces == {t.namespace}, t.key
        web = by_id(t)[f"Deployment/{t.namespace}/odoo-web"]["spec"]["template"]["spec"]
        zone = web["topologySpreadConstraints"][0]
        assert zone["topologyKey"] == "topology.kubernetes.io/zone"
        assert zone["whenUnsatisfiable"] == "DoNotSchedule"
        assert web["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["eu-west-1a", "eu-west-1b"]
        cluster = by_id(t)[f"Cluster/{t.namespace}/pg"]["spec"]
        assert cluster["affinity"]["topologyKey"] == "topology.kubernetes.io/zone"
    alpha, beta, gamma, staging = tenants
    assert by_id(alpha)["IngressRoute/retail-prod-alpha/odoo"]["spec"]["routes"][2]["match"] == \
        "Host(`erp.alpha.example`) || Host(`shop.alpha.example`)"
    # cert-manager for beta
    cert = by_id(beta)["Certificate/retail-prod-beta/beta-tls"]
    assert cert["spec"]["issuerRef"]["name"] == "letsencrypt"
    assert by_id(beta)["IngressRoute/retail-prod-beta/odoo"]["spec"]["tls"] == {"secretName": "beta-tls"}
    # gamma: object storage filestore, pooler, no redis
    g = by_id(gamma)
    assert "PersistentVolumeClaim/retail-prod-gamma/odoo-filestore" not in g
    assert "Pooler/retail-prod-gamma/pg-pooler" in g and "Deployment/retail-prod-gamma/redis" not in g
    # staging: one replica, no HPA/PDB, bootstrapped from prod's backups at a point in time
    s = by_id(staging)
    assert "HorizontalPodAutoscaler/retail-staging-alpha/odoo-web" not in s
    assert "PodDisruptionBudget/retail-staging-alpha/odoo-web" not in s
    assert s["Deployment/retail-staging-alpha/odoo-web"]["spec"]["replicas"] == 1
    boot = s["Cluster/retail-staging-alpha/pg"]["spec"]
    assert boot["bootstrap"]["recovery"]["recoveryTarget"] == {"targetTime": "2026-11-20T08:00:00Z"}
    assert boot["externalClusters"][0]["barmanObjectStore"]["serverName"] == "retail-prod-alpha-pg"
    assert "synchronous" not in boot["postgresql"]


def test_render_is_deterministic(three_tenants_two_zones_spec):
    import json
    first = [json.dumps(t.objects, sort_keys=False) for t in r.render(three_tenants_two_zones_spec)[1]]
    second = [json.dumps(t.objects, sort_keys=False) for t in r.render(three_tenants_two_zones_spec)[1]]
    assert first == second


@pytest.mark.parametrize("change,field,message", [
    ({"defaults": {"tls": {"secret_name": "x"}, "postgres": {"backup": {"destination_path": "s3://b/p"}},
                   "odoo": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}}},
     "environments[0].tenants[0].odoo.resources.limits.cpu", r"limit 1 is below the request 2"),
    ({"defaults": {"tls": {"secret_name": "x"}, "postgres": {"backup": {"destination_path": "s3://b/p"}},
                   "odoo": {"replicas": 9}}},
     "environments[0].tenants[0].odoo.replicas", r"9 replicas exceed the connection budget.*at most 7 web"),
    ({"defaults": {"tls": {"secret_name": "x"}, "postgres": {"backup": {"destination_path": "s3://b/p"}},
                   "odoo": {"max_replicas": 20}}},
     "environments[0].tenants[0].odoo.max_replicas", r"20 replicas exceed the connection budget"),
    ({"defaults": {"postgres": {"backup": {"destination_path": "s3://b/p"}}}},
     "environments[0].tenants[0].tls.secret_name", r"a TLS secret name .* is required"),
    ({"defaults": {"tls": {"secret_name": "x"}, "postgres": {"backup": {"destination_path": "s3://b/p"}},
                   "odoo": {"replicaz": 2}}},
     "defaults.odoo.replicaz", r"unknown key"),
    ({"colour": "blue"}, "colour", r"unknown key"),
    ({"kubernetes_version": "1.29"}, "kubernetes_version", r"1.30 or newer"),
    ({"defaults": {"tls": {"secret_name": "x"}, "postgres": {"backup": {"destination_path": "s3://b/p"}},
                   "odoo": {"resources": {"limits": {"memory": "lots"}}}}},
     "defaults.odoo.resources.limits.memory", r"not a Kubernetes quantity"),
    ({"defaults": {"tls": {"secret_name": "x"}}},
     "environments[0].tenants[0].postgres.backup.destination_path", r"required when postgres.backup.enabled"),
    ({"environments": [{"name": "prod", "tenants": [{"name": "Shop_1", "hosts": ["a"]}]}]},
     "environments[0].tenants[0].name", r"not a DNS-1123 label"),
    ({"environments": [{"name": "prod", "tenants": [{"name": "a", "hosts": []}]}]},
     "environments[0].tenants[0].hosts", r"at least one host"),
    ({"defaults": {"tls": {"secret_name": "x"}, "postgres": {"backup": {"destination_path": "s3://b/p"},
                                                             "synchronous": {"number": 3}}}},
     "environments[0].tenants[0].postgres.synchronous.number", r"between 1 and instances - 1"),
    ({"defaults": {"tls": {"secret_name": "x"}, "postgres": {"backup": {"destination_path": "s3://b/p"},
                                                             "max_connections": 8}}},
     "environments[0].tenants[0].postgres.max_connections", r"leaves no connection"),
])
def test_invalid_input_is_refused_naming_the_field(change, field, message):
    spec = base_spec()
    spec.pop("defaults")
    spec.update(change)
    spec.setdefault("defaults", {})
    with pytest.raises(r.K8sRenderError, match=message) as info:
        r.render(spec)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")


def test_duplicate_namespace_refused():
    spec = base_spec(environments=[{"name": "prod", "tenants": [
        {"name": "a", "hosts": ["a.example"], "namespace": "shared"},
        {"name": "b", "hosts": ["b.example"], "namespace": "shared"}]}])
    with pytest.raises(r.K8sRenderError, match="already used by prod/a"):
        r.render(spec)


def test_maintenance_middleware_toggles_allowlist(single_spec):
    _unused, (t,) = r.render(single_spec)
    off = by_id(t)["Middleware/retail-prod-shop/maintenance"]
    assert off["spec"]["ipAllowList"]["sourceRange"] == ["0.0.0.0/0", "::/0"]
    single_spec["ingress"]["maintenance"] = True
    single_spec["ingress"]["maintenance_allowlist"] = ["192.0.2.10/32"]
    _unused, (t,) = r.render(single_spec)
    on = by_id(t)["Middleware/retail-prod-shop/maintenance"]
    assert on["spec"]["ipAllowList"]["sourceRange"] == ["192.0.2.10/32"]
    assert on["metadata"]["annotations"]["odooops.io/maintenance"] == "on"


def test_workers_from_limits_use_shared_sizing():
    spec = base_spec()
    spec["defaults"]["odoo"] = {"resources": {"requests": {"cpu": "2", "memory": "4Gi"},
                                              "limits": {"cpu": "4", "memory": "8Gi"}}}
    _unused, (t,) = r.render(spec)
    expected = sizing.odoo_workers(4, 8192, 256)
    assert t.sizing["workers"] == expected["workers"] == 9
    args = by_id(t)["Deployment/retail-prod-shop/odoo-web"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--workers=9" in args and f"--limit-memory-hard={expected['limit_memory_hard']}" in args
