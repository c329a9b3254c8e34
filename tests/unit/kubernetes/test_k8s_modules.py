"""The thin modules k8s_platform_render and k8s_workflow_plan, driven through main()."""
from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.odooops.hosting.plugins.modules import k8s_platform_render, k8s_workflow_plan
from tests.unit.kubernetes.k8s_specs import base_spec


def run_module(module, args: dict, capsys) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_render_check_then_write_then_unchanged(tmp_path, crd_dir, capsys):
    args = {"platform": base_spec(), "dest": str(tmp_path / "gitops"), "crd_dir": crd_dir}
    check = run_module(k8s_platform_render, {**args, "_ansible_check_mode": True, "_ansible_diff": True}, capsys)
    assert check["changed"] is True and not (tmp_path / "gitops").exists()
    assert check["diff"] and check["validation"]["crd"] == 6
    first = run_module(k8s_platform_render, args, capsys)
    assert first["changed"] is True and "base/prod/shop/cluster-pg.yaml" in first["files"]["created"]
    assert first["tenants"][0]["sizing"]["max_replicas"] == 7
    again = run_module(k8s_platform_render, args, capsys)
    assert again["changed"] is False and again["digest"] == first["digest"]


def test_render_refuses_a_leaked_secret_without_showing_it(tmp_path, crd_dir, capsys):
    planted = "Pl4nted-Leak-77"
    spec = base_spec()
    spec["defaults"]["postgres"]["parameters"] = {"application_name": planted}
    out = run_module(k8s_platform_render, {"platform": spec, "dest": str(tmp_path), "crd_dir": crd_dir,
                                           "secret_values": [planted]}, capsys)
    assert out["failed"] is True and "base/prod/shop/cluster-pg.yaml" in out["msg"]
    assert planted not in json.dumps(out)
    assert list(tmp_path.iterdir()) == []


def test_render_error_names_the_field(capsys):
    spec = base_spec()
    spec["defaults"]["odoo"] = {"replicas": 40}
    out = run_module(k8s_platform_render, {"platform": spec}, capsys)
    assert out["failed"] and out["msg"].startswith("environments[0].tenants[0].odoo.replicas: 40 replicas exceed")


def test_workflow_plan_module(crd_dir, capsys):
    out = run_module(k8s_workflow_plan, {"platform": base_spec(), "environment": "prod", "tenant": "shop",
                                         "workflow": "upgrade", "new_tag": "17.0-b", "modules": ["stock"],
                                         "run_id": "r1", "crd_dir": crd_dir}, capsys)
    assert out["changed"] is False and out["step_ids"][1] == "maintenance_on"
    assert out["step"]["rollback_restore"]["objects"][0]["kind"] == "Job"
    assert out["rollback_after"] == "wait_snapshot"
    failover = run_module(k8s_workflow_plan, {
        "platform": base_spec(), "environment": "prod", "tenant": "shop", "workflow": "failover",
        "cluster_status": {"currentPrimary": "pg-1", "instancesStatus": {"healthy": ["pg-1", "pg-2"]}}}, capsys)
    assert failover["target"] == "pg-2"
    missing = run_module(k8s_workflow_plan, {"platform": base_spec(), "environment": "prod", "tenant": "nope",
                                             "workflow": "backup"}, capsys)
    assert missing["failed"] and "no tenant prod/nope" in missing["msg"]
