"""Offline validation: kubernetes-validate (strict) for built-in kinds, CRD openAPIV3Schema, policies.

CRD schemas come from ../shared/schemas/crds (the `shared_dir` fixture): skipped with the reason when absent.
"""
from __future__ import annotations

import copy

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.k8s import render as r
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import validate as v

CRD_KINDS = {"Middleware", "IngressRoute", "Cluster", "ScheduledBackup", "Pooler"}


def _find(objs, kind, name=None):
    return next(o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name))


@pytest.mark.parametrize("fixture", ["single_spec", "three_tenants_two_zones_spec"])
def test_rendered_objects_validate(request, fixture, crd_dir):
    _unused, tenants = r.render(request.getfixturevalue(fixture))
    for t in tenants:
        report = v.validate(t.objects, "1.30", crd_dir)
        assert report["errors"] == []
        crd_objects = [o for o in t.objects if o["kind"] in CRD_KINDS]
        assert report["crd"] == len(crd_objects) >= 4        # 3 Middlewares + IngressRoute + Cluster (+ ...)
        assert report["builtin"] + report["crd"] + report["structural"] == len(t.objects)


@pytest.mark.parametrize("version", ["1.30", "1.33", "1.37"])
def test_cluster_versions(single_spec, crd_dir, version):
    _unused, (t,) = r.render(single_spec)
    assert v.validate(t.objects, version, crd_dir)["builtin"] > 15


@pytest.mark.parametrize("kind,name,mutate,expected", [
    ("Cluster", None, lambda o: o["spec"].update(instancez=3), "Additional properties are not allowed ('instancez'"),
    ("Cluster", None, lambda o: o["spec"]["storage"].update(size=20), "spec/storage/size: 20 is not of type"),
    ("Cluster", None, lambda o: o["spec"]["postgresql"]["synchronous"].update(method="all"),
     "spec/postgresql/synchronous/method: 'all' is not one of"),
    ("ScheduledBackup", None, lambda o: o["spec"].update(method="tape"), "spec/method: 'tape' is not one of"),
    ("IngressRoute", None, lambda o: o["spec"]["routes"][0].update(kind="Bogus"), "spec/routes/0/kind"),
    ("IngressRoute", None, lambda o: o["spec"]["tls"].update(secret="x"), "spec/tls: Additional properties"),
    ("Middleware", "maintenance", lambda o: o["spec"]["ipAllowList"].update(sourceRange="0.0.0.0/0"),
     "spec/ipAllowList/sourceRange: '0.0.0.0/0' is not of type 'array'"),
    ("Deployment", "odoo-web", lambda o: o["spec"]["strategy"].update(maxUnavailable=0),
     "spec/strategy: Additional properties are not allowed"),
    ("NetworkPolicy", "allow-dns", lambda o: o["spec"].update(podSelector="all"),
     "spec/podSelector: 'all' is not of type 'object'"),
    ("HorizontalPodAutoscaler", None, lambda o: o["spec"].update(maxReplicas="7"),
     "spec/maxReplicas: '7' is not of type 'integer'"),
])
def test_broken_object_fails(single_spec, crd_dir, kind, name, mutate, expected):
    _unused, (t,) = r.render(single_spec)
    objs = copy.deepcopy(t.objects)
    obj = _find(objs, kind, name)
    mutate(obj)
    with pytest.raises(v.K8sValidationError) as info:
        v.validate(objs, "1.30", crd_dir)
    assert any(expected in e for e in info.value.errors), info.value.errors
    assert all(e.startswith(v.object_id(obj)) for e in info.value.errors)


@pytest.mark.parametrize("mutate,expected", [
    (lambda objs: _find(objs, "Deployment", "odoo-web")["spec"]["template"]["spec"]["containers"][0]
     .pop("resources"), "container odoo: resources.requests.cpu missing"),
    (lambda objs: _find(objs, "Deployment", "odoo-cron")["spec"]["template"]["spec"]["containers"][0]
     .pop("livenessProbe"), "container odoo-cron: livenessProbe missing"),
    (lambda objs: _find(objs, "Deployment", "redis")["spec"]["template"]["spec"]["containers"][0]["securityContext"]
     .update(runAsUser=0), "container redis: must run as non-root"),
    (lambda objs: objs.remove(_find(objs, "NetworkPolicy", "default-deny")), "no default-deny NetworkPolicy"),
    (lambda objs: objs.remove(_find(objs, "PodDisruptionBudget")), "replicas but no PodDisruptionBudget"),
    (lambda objs: objs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "odoo-config", "namespace": "retail-prod-shop"}, "stringData": {"odoo.conf": "x"}}),
     "Secret with inline data"),
    (lambda objs: _find(objs, "Deployment", "odoo-web")["spec"]["template"]["spec"]["containers"][0]["env"]
     .append({"name": "PGPASSWORD", "value": "x"}), "env PGPASSWORD has a literal value"),
    (lambda objs: _find(objs, "Deployment", "odoo-web")["spec"]["template"]["spec"]["containers"][0]["args"]
     .append("--db_password=x"), "a password option on the command line"),
])
def test_policy_violations_fail(single_spec, crd_dir, mutate, expected):
    _unused, (t,) = r.render(single_spec)
    objs = copy.deepcopy(t.objects)
    mutate(objs)
    with pytest.raises(v.K8sValidationError) as info:
        v.validate(objs, "1.30", crd_dir)
    assert any(expected in e for e in info.value.errors), info.value.errors


def test_crd_kind_without_crd_dir_is_an_error(single_spec, monkeypatch):
    monkeypatch.delenv("ODOOOPS_CRD_DIR", raising=False)
    _unused, (t,) = r.render(single_spec)
    with pytest.raises(v.K8sValidationError, match="no CRD directory"):
        v.validate(t.objects, "1.30", None)


def test_crd_dir_from_environment(single_spec, crd_dir, monkeypatch):
    monkeypatch.setenv("ODOOOPS_CRD_DIR", crd_dir)
    _unused, (t,) = r.render(single_spec)
    assert v.validate(t.objects, "1.30")["crd"] == 6


def test_unknown_crd_version_fails(single_spec, crd_dir):
    _unused, (t,) = r.render(single_spec)
    objs = copy.deepcopy(t.objects)
    _find(objs, "IngressRoute")["apiVersion"] = "traefik.io/v1"
    with pytest.raises(v.K8sValidationError, match="no CRD schema for traefik.io/v1 IngressRoute"):
        v.validate(objs, "1.30", crd_dir)
