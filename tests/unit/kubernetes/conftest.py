"""Fixtures of the Kubernetes target's unit tests: platform descriptions and the CRD directory."""
from __future__ import annotations

import os

import pytest

from tests.unit.kubernetes.k8s_specs import base_spec


@pytest.fixture
def single_spec() -> dict:
    return base_spec()


@pytest.fixture
def three_tenants_two_zones_spec() -> dict:
    return base_spec(zones=["eu-west-1a", "eu-west-1b"], environments=[
        {"name": "prod", "odoo": {"replicas": 3}, "tenants": [
            {"name": "alpha", "hosts": ["erp.alpha.example", "shop.alpha.example"]},
            {"name": "beta", "hosts": ["erp.beta.example"], "tls": {"secret_name": None,
                                                                    "cert_manager_issuer": "letsencrypt"}},
            {"name": "gamma", "hosts": ["erp.gamma.example"], "filestore": {"mode": "object_storage"},
             "postgres": {"pooler": {"enabled": True}, "instances": 2}, "redis": {"enabled": False}},
        ]},
        {"name": "staging", "odoo": {"replicas": 1, "max_replicas": 1}, "postgres": {"instances": 1}, "tenants": [
            {"name": "alpha", "hosts": ["erp.alpha.staging.example"],
             "postgres": {"recovery": {"enabled": True, "source_cluster": "retail-prod-alpha-pg",
                                       "target_time": "2026-11-20T08:00:00Z"}}},
        ]},
    ])


@pytest.fixture
def crd_dir(shared_dir) -> str:
    path = os.path.join(shared_dir, "schemas", "crds")
    if not os.path.isdir(path):
        pytest.skip(f"CRD schemas not found at {path}")
    return path
