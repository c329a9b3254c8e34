"""The GitOps tree: kustomize layout, byte-identical re-render, no rewrite when unchanged, no secret values."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.odooops.hosting.plugins.module_utils.k8s import gitops as g
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import render as r
from tests.unit.kubernetes.k8s_specs import base_spec

KUBECTL = shutil.which("kubectl")


def _snapshot(root):
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as handle:
                out[os.path.relpath(full, root)] = (handle.read(), os.stat(full).st_mtime_ns)
    return out


def test_tree_layout_and_byte_identical_rerender(three_tenants_two_zones_spec, tmp_path):
    _unused, tenants = r.render(three_tenants_two_zones_spec)
    files = g.tree(tenants)
    assert "overlays/prod/kustomization.yaml" in files and "overlays/staging/alpha/kustomization.yaml" in files
    assert sum(1 for p in files if p.startswith("base/prod/beta/") and p != "base/prod/beta/kustomization.yaml") \
        == len(tenants[1].objects)
    first = g.write(str(tmp_path), files)
    assert first["changed"] and len(first["created"]) == len(files)
    before = _snapshot(tmp_path)
    # a fresh render of the same input: identical bytes, nothing rewritten (mtimes kept), changed=false
    _unused, again = r.render(three_tenants_two_zones_spec)
    files2 = g.tree(again)
    assert files2 == files
    second = g.write(str(tmp_path), files2)
    assert second["changed"] is False and second["created"] == second["updated"] == []
    assert _snapshot(tmp_path) == before


def test_change_updates_only_what_changed_and_removes_stale(three_tenants_two_zones_spec, tmp_path):
    _unused, tenants = r.render(three_tenants_two_zones_spec)
    g.write(str(tmp_path), g.tree(tenants))
    spec = three_tenants_two_zones_spec
    spec["environments"][0]["tenants"][0]["image"] = {"tag": "17.0-20261201"}
    spec["environments"][0]["tenants"].pop()   # drop gamma
    _unused, tenants = r.render(spec)
    check = g.write(str(tmp_path), g.tree(tenants), check_mode=True)
    assert check["changed"] and os.path.isdir(tmp_path / "base/prod/gamma")   # check mode wrote nothing
    result = g.write(str(tmp_path), g.tree(tenants))
    assert set(result["updated"]) == {"base/prod/alpha/deployment-odoo-web.yaml",
                                      "base/prod/alpha/deployment-odoo-cron.yaml",
                                      "overlays/prod/alpha/kustomization.yaml", "overlays/prod/kustomization.yaml"}
    assert all(p.startswith("base/prod/gamma/") or p == "overlays/prod/gamma/kustomization.yaml"
               for p in result["removed"])
    assert not os.path.exists(tmp_path / "base/prod/gamma")


def test_files_not_generated_by_us_are_kept(single_spec, tmp_path):
    _unused, tenants = r.render(single_spec)
    os.makedirs(tmp_path / "overlays/prod")
    (tmp_path / "overlays/prod/extra.yaml").write_text("kind: ConfigMap\n")
    result = g.write(str(tmp_path), g.tree(tenants))
    assert "overlays/prod/extra.yaml" not in result["removed"]
    assert (tmp_path / "overlays/prod/extra.yaml").exists()


def test_planted_secret_never_in_tree(tmp_path):
    """Put secret-looking values everywhere a careless inventory might: only names reach the tree."""
    planted = "Pl4nted-S3cret-9f2c"
    spec = base_spec()
    spec["defaults"]["odoo"] = {"config_secret": "odoo-config"}
    inventory_vars = {"odooops_db_password": planted, "odooops_s3_secret_key": planted,
                      "odooops_redis_odoo_password": planted}
    _unused, tenants = r.render(spec)
    files = g.tree(tenants)
    g.write(str(tmp_path), files)
    for dirpath, _dirs, names in os.walk(tmp_path):
        for name in names:
            with open(os.path.join(dirpath, name)) as handle:
                assert planted not in handle.read()
    assert g.find_values(files, list(inventory_vars.values())) == []
    # and the guard finds it when a value does slip in (e.g. typed into a parameter by mistake)
    spec["defaults"]["postgres"]["parameters"] = {"application_name": planted}
    _unused, tenants = r.render(spec)
    assert g.find_values(g.tree(tenants), [planted]) == ["base/prod/shop/cluster-pg.yaml"]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: kustomize build not checked")
def test_kubectl_kustomize_builds_the_same_objects(three_tenants_two_zones_spec, tmp_path):
    _unused, tenants = r.render(three_tenants_two_zones_spec)
    g.write(str(tmp_path), g.tree(tenants))
    for env in ("prod", "staging"):
        out = subprocess.run([KUBECTL, "kustomize", str(tmp_path / "overlays" / env)], capture_output=True,
                             text=True, check=True).stdout
        built = sorted((d for d in yaml.safe_load_all(out) if d), key=r.object_id)
        expected = sorted((o for t in tenants if t.environment == env for o in t.objects), key=r.object_id)
        assert built == expected
