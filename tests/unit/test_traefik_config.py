"""Traefik configuration validation (module_utils/edge/traefik.py) against the official JSON Schemas."""
from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.edge import traefik as tc

STATIC = {
    "entryPoints": {"web": {"address": ":80"}, "websecure": {"address": ":443"}},
    "providers": {"file": {"directory": "/etc/traefik/dynamic", "watch": True}},
    "accessLog": {"format": "json"},
}
DYNAMIC = {
    "http": {
        "routers": {"shop": {"rule": "Host(`shop.example.test`)", "entryPoints": ["websecure"], "service": "odoo",
                             "middlewares": ["headers"], "tls": {}}},
        "services": {"odoo": {"loadBalancer": {"servers": [{"url": "http://odoo-web:8069"}],
                                               "healthCheck": {"path": "/web/health", "interval": "5s"}}}},
        "middlewares": {"headers": {"headers": {"contentTypeNosniff": True}}},
    }
}


@pytest.fixture
def schemas(shared_dir):
    path = os.path.join(shared_dir, "schemas", "traefik")
    if not os.path.isfile(os.path.join(path, tc.DYNAMIC_SCHEMA)):
        pytest.skip(f"Traefik schemas not found in {path}")
    return path


def test_good_configuration_passes(schemas):
    assert tc.validate(schemas, STATIC, {"odoo.yml": DYNAMIC}) is None


def _broken(mutate):
    static, dynamic = copy.deepcopy(STATIC), copy.deepcopy(DYNAMIC)
    mutate(static, dynamic)
    return static, dynamic


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # schema: unknown key in a router, wrong type, unknown middleware kind, unknown static key
        (lambda s, d: d["http"]["routers"]["shop"].update(servce="odoo"), "servce"),
        (lambda s, d: d["http"]["routers"]["shop"].update(priority="high"), "priority"),
        (lambda s, d: d["http"]["middlewares"].update(bad={"noSuchMiddleware": {}}), "middlewares/bad"),
        (lambda s, d: d["http"]["services"]["odoo"]["loadBalancer"].update(servers="http://x"), "servers"),
        (lambda s, d: s["entryPoints"]["web"].update(adress=":80"), "adress"),
        (lambda s, d: s["providers"]["file"].update(watch="yes"), "providers/file/watch"),
        # references the schema cannot see
        (lambda s, d: d["http"]["routers"]["shop"].update(service="nowhere"), "service 'nowhere' is not defined"),
        (lambda s, d: d["http"]["routers"]["shop"].update(middlewares=["gone"]), "middleware 'gone'"),
        (lambda s, d: d["http"]["routers"]["shop"].update(entryPoints=["webz"]), "entry point 'webz'"),
    ],
    ids=["unknown-key", "wrong-type", "unknown-middleware", "servers-not-list", "static-unknown-key",
         "static-wrong-type", "dangling-service", "dangling-middleware", "unknown-entrypoint"],
)
def test_broken_configuration_fails_naming_the_problem(schemas, mutate, expected):
    static, dynamic = _broken(mutate)
    with pytest.raises(tc.TraefikConfigError) as err:
        tc.validate(schemas, static, {"odoo.yml": dynamic})
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_references_resolve_across_files_and_providers():
    # a router in one file may use a service from another file, and services of other providers are not checked
    docs = {"a.yml": {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s@file",
                                                 "middlewares": ["x@internal"]}}}},
            "b.yml": {"http": {"services": {"s": {"loadBalancer": {"servers": [{"url": "http://a"}]}}}}}}
    assert tc.reference_problems(docs, {"entryPoints": {}}) == []
    docs["a.yml"]["http"]["routers"]["r"]["service"] = "t@file"
    assert tc.reference_problems(docs) == ["a.yml: http/routers/r: service 't@file' is not defined"]
