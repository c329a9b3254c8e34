"""Platform descriptions shared by the Kubernetes unit tests (this folder's tests and its conftest.py)."""
from __future__ import annotations

import copy


def base_spec(**overrides) -> dict:
    spec = {
        "name": "retail",
        "kubernetes_version": "1.30",
        "zones": [],
        "ingress": {"database_manager_allowlist": ["10.10.0.0/16"]},
        "defaults": {
            "image": {"repository": "registry.example/odoo", "tag": "17.0-20261101"},
            "tls": {"secret_name": "wildcard-tls"},
            "postgres": {"backup": {"destination_path": "s3://retail-backups/pg",
                                    "endpoint_url": "https://s3.example"}},
        },
        "environments": [{"name": "prod", "tenants": [{"name": "shop", "hosts": ["erp.shop.example"]}]}],
    }
    spec.update(copy.deepcopy(overrides))
    return spec
