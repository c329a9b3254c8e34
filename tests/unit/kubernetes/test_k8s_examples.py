"""The example inventories (inventories/examples/kubernetes/*) render and validate; kustomize builds them."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.odooops.hosting.plugins.module_utils.k8s import gitops as g
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import render as r
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import validate as v

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXAMPLES = os.path.join(ROOT, "inventories", "examples", "kubernetes")


def load(name):
    with open(os.path.join(EXAMPLES, name, "group_vars", "all", "platform.yml")) as handle:
        data = yaml.safe_load(handle)
    assert data["odooops_platform"] == "kubernetes"
    return data["odooops_kubernetes"]


@pytest.mark.parametrize("name,tenants", [
    ("dedicated", ["prod/erp", "staging/erp"]),
    ("multitenant", ["prod/bakery", "prod/florist", "prod/garden"]),
])
def test_example_renders_and_validates(name, tenants, crd_dir, tmp_path):
    platform, rendered = r.render(load(name))
    assert [t.key for t in rendered] == tenants
    assert len({t.namespace for t in rendered}) == len(tenants)
    for t in rendered:
        report = v.validate(t.objects, platform["kubernetes_version"], crd_dir)
        assert report["builtin"] + report["crd"] + report["structural"] == len(t.objects)
        assert t.sizing["connections_peak"] <= t.sizing["budget"]
    files = g.tree(rendered)
    g.write(str(tmp_path), files)
    kubectl = shutil.which("kubectl")
    if kubectl:
        for env in sorted({t.environment for t in rendered}):
            out = subprocess.run([kubectl, "kustomize", str(tmp_path / "overlays" / env)], capture_output=True,
                                 text=True, check=True).stdout
            built = [d for d in yaml.safe_load_all(out) if d]
            assert len(built) == sum(len(t.objects) for t in rendered if t.environment == env)
