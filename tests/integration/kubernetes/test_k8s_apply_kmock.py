"""The apply path of playbooks/kubernetes/ against the kmock STAND-IN API server (not a Kubernetes cluster).

What this proves: kubernetes.core sends our objects (server-side apply), scale and patch calls, and the status
patch of the switchover, and the objects end up as planned; the secrets go to Secrets only. What it cannot prove:
anything a controller does (rollouts, Jobs running, CloudNativePG) - those steps are skipped here
(odooops_k8s_live_checks=false) and run in test_k8s_live.py against a real cluster when KUBECONFIG is set.
"""
from __future__ import annotations

import base64
import datetime
import os

import pytest
import yaml

from tests.integration.harness.env import ROOT
from tests.integration.harness.kmock import FakeControllers

DEDICATED = os.path.join(ROOT, "inventories", "examples", "kubernetes", "dedicated")
PLANTED = {"odooops_db_password": "Db-Pl4nted-31f9", "odooops_odoo_admin_password": "Master-Pl4nted-8c2e",
           "odooops_redis_odoo_password": "Redis-Pl4nted-a0b7", "odooops_redis_admin_password": "RedisAdm-Pl4nted-5d",
           "odooops_s3_access_key": "AKIAPL4NTED", "odooops_s3_secret_key": "S3-Pl4nted-e41c"}


def _secrets_file(tmp_path):
    path = tmp_path / "vault.yml"
    path.write_text(yaml.safe_dump(PLANTED))
    path.chmod(0o600)
    return f"@{path}"


def _vars(kmock_api, crd_dir, tmp_path, **more):
    return {"odooops_k8s_kubeconfig": kmock_api.kubeconfig, "odooops_k8s_crd_dir": crd_dir,
            "odooops_k8s_gitops_dir": str(tmp_path / "gitops"), "odooops_k8s_live_checks": False, **more}


def _secret(obj: dict, key: str) -> str:
    # a real API server turns stringData into data; the kmock stand-in stores what it was sent
    if "data" in obj:
        return base64.b64decode(obj["data"][key]).decode()
    return obj["stringData"][key]


def _assert_no_planted(text: str):
    for name, value in PLANTED.items():
        assert value not in text, f"{name} leaked"


def test_provision_applies_tree_and_secrets(ansible_playbook, kmock_api, crd_dir, tmp_path):
    run = ansible_playbook("playbooks/kubernetes/provision.yml", "-e", _secrets_file(tmp_path), inventory=DEDICATED,
                           extra_vars=_vars(kmock_api, crd_dir, tmp_path, odooops_k8s_manage_secrets=True))
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    _assert_no_planted(run.stdout + run.stderr)
    ns = "acme-prod-erp"
    assert kmock_api.obj("v1", "namespaces", None, ns)["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"
    web = kmock_api.obj("apps/v1", "deployments", ns, "odoo-web")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.acme.example/odoo:17.0-20261101"
    assert kmock_api.obj("traefik.io/v1alpha1", "ingressroutes", ns, "odoo")["spec"]["tls"] == {
        "secretName": "erp-tls"}
    assert kmock_api.obj("postgresql.cnpg.io/v1", "clusters", ns, "pg")["spec"]["instances"] == 3
    assert kmock_api.obj("networking.k8s.io/v1", "networkpolicies", ns, "default-deny") is not None
    staging = kmock_api.obj("postgresql.cnpg.io/v1", "clusters", "acme-staging-erp", "pg")
    assert staging["spec"]["bootstrap"]["recovery"]["source"] == "origin"
    # Secrets: in the cluster, with the values; the master password only hashed
    conf = _secret(kmock_api.obj("v1", "secrets", ns, "odoo-config"), "odoo.conf")
    assert f"db_password = {PLANTED['odooops_db_password']}" in conf
    assert "admin_passwd = $pbkdf2-sha512$" in conf and PLANTED["odooops_odoo_admin_password"] not in conf
    login = kmock_api.obj("v1", "secrets", ns, "odoo-db-login")
    assert _secret(login, "password") == PLANTED["odooops_db_password"] and login["type"] == "kubernetes.io/basic-auth"
    acl = _secret(kmock_api.obj("v1", "secrets", ns, "redis-acl"), "users.acl")
    assert "user default off" in acl and f">{PLANTED['odooops_redis_odoo_password']}" in acl
    # ... and never in the GitOps tree
    tree = ""
    for dirpath, _dirs, names in os.walk(tmp_path / "gitops"):
        for name in names:
            with open(os.path.join(dirpath, name)) as handle:
                tree += handle.read()
    assert "kind: Deployment" in tree and "kind: Secret\n" not in tree
    _assert_no_planted(tree)
    # a second run: the tree is unchanged
    again = ansible_playbook("playbooks/kubernetes/provision.yml", "-e", _secrets_file(tmp_path),
                             inventory=DEDICATED, extra_vars=_vars(kmock_api, crd_dir, tmp_path,
                                                                   odooops_k8s_apply=False))
    assert again.rc == 0 and again.changed() == 0, again.stdout[-2000:]


@pytest.fixture(scope="module")
def provisioned(ansible_playbook, kmock_api_module, crd_dir, tmp_path_factory):
    """prod/erp of the dedicated example applied to one stand-in for the workflow tests of this module."""
    tmp = tmp_path_factory.mktemp("provisioned")
    base = _vars(kmock_api_module, crd_dir, tmp, odooops_k8s_environment="prod", odooops_k8s_tenant="erp",
                 odooops_k8s_tenants=["prod/erp"])
    run = ansible_playbook("playbooks/kubernetes/provision.yml", inventory=DEDICATED, extra_vars=base)
    assert run.rc == 0, run.stdout[-3000:]
    assert kmock_api_module.obj("v1", "namespaces", None, "acme-staging-erp") is None   # only the one selected
    # what the operator would report: a primary, a healthy standby, a recent backup (the upgrade gates read it)
    from ansible_collections.odooops.hosting.plugins.module_utils.k8s import status as k8s_status
    k8s_status.patch_status(k8s_status.client(kmock_api_module.kubeconfig), "postgresql.cnpg.io/v1", "Cluster", "pg",
                            "acme-prod-erp", {"currentPrimary": "pg-1",
                                              "instancesStatus": {"healthy": ["pg-1", "pg-2", "pg-3"]},
                                              "lastSuccessfulBackup": datetime.datetime.now(datetime.UTC).isoformat()})
    return kmock_api_module, {**base, "upgrade_approval_ref": "CHG-1234",
                              "upgrade_audit_path": str(tmp / "audit" / "upgrades.jsonl")}


def _last_audit(base: dict) -> dict:
    import json
    with open(base["upgrade_audit_path"]) as handle:
        return json.loads(handle.read().splitlines()[-1])


def test_upgrade_refused_by_a_gate_changes_nothing(ansible_playbook, provisioned):
    kmock_api, base = provisioned
    ns = "acme-prod-erp"
    web = kmock_api.obj("apps/v1", "deployments", ns, "odoo-web")
    image = web["spec"]["template"]["spec"]["containers"][0]["image"]
    run = ansible_playbook("playbooks/kubernetes/upgrade.yml", inventory=DEDICATED, extra_vars={
        **base, "upgrade_approval_ref": "no ticket", "odooops_k8s_new_tag": "17.0-20261201",
        "odooops_k8s_run_id": "g1"})
    assert run.rc != 0 and "approval reference 'no ticket' does not match" in run.stdout
    assert "Record the step reached" not in run.stdout
    assert kmock_api.obj("apps/v1", "deployments", ns, "odoo-web")["spec"]["template"]["spec"]["containers"][0][
        "image"] == image
    assert kmock_api.obj("traefik.io/v1alpha1", "middlewares", ns, "maintenance")["spec"]["ipAllowList"][
        "sourceRange"] == ["0.0.0.0/0", "::/0"]
    assert kmock_api.obj("batch/v1", "jobs", ns, "odooops-snapshot-g1") is None
    audit = _last_audit(base)
    assert audit["outcome"] == "refused" and "approval reference" in audit["reason"] and audit["steps_done"] == []


def test_upgrade_calls_in_order(ansible_playbook, provisioned):
    kmock_api, base = provisioned
    ns = "acme-prod-erp"
    run = ansible_playbook("playbooks/kubernetes/upgrade.yml", inventory=DEDICATED, extra_vars={
        **base, "odooops_k8s_new_tag": "17.0-20261201", "odooops_k8s_modules": ["stock"], "odooops_k8s_run_id": "t1"})
    assert run.rc == 0, run.stdout[-3000:]
    # the order of the calls as the playbook made them
    order = [line.split(" - ", 1)[1].rstrip("]* ") for line in run.stdout.splitlines()
             if line.startswith("TASK [Record the step reached - ")]
    assert order[:6] == ["check_cluster", "maintenance_on", "scale_down_cron", "scale_down_web",
                         "wait_odoo_stopped", "snapshot"]
    assert order[-1] == "maintenance_off" and len(order) == 16
    web = kmock_api.obj("apps/v1", "deployments", ns, "odoo-web")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.acme.example/odoo:17.0-20261201"
    assert web["spec"]["replicas"] == 2
    assert kmock_api.obj("apps/v1", "deployments", ns, "odoo-cron")["spec"]["replicas"] == 1
    job = kmock_api.obj("batch/v1", "jobs", ns, "odooops-update-t1")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][3:5] == ["-u", "stock"]
    assert kmock_api.obj("batch/v1", "jobs", ns, "odooops-snapshot-t1") is not None
    mw = kmock_api.obj("traefik.io/v1alpha1", "middlewares", ns, "maintenance")
    assert mw["spec"]["ipAllowList"]["sourceRange"] == ["0.0.0.0/0", "::/0"]
    assert mw["metadata"]["annotations"]["odooops.io/maintenance"] == "off"
    audit = _last_audit(base)
    assert audit["outcome"] == "upgraded" and audit["image_target"].endswith(":17.0-20261201")
    assert audit["steps_done"] == order and audit["approval_ref"] == "CHG-1234"


def test_switchover_and_backup(ansible_playbook, provisioned):
    kmock_api, base = provisioned
    run = ansible_playbook("playbooks/kubernetes/failover.yml", inventory=DEDICATED,
                           extra_vars={**base, "odooops_k8s_target": "pg-2"})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-1000:]
    cluster = kmock_api.obj("postgresql.cnpg.io/v1", "clusters", "acme-prod-erp", "pg")
    assert cluster["status"]["targetPrimary"] == "pg-2"
    run = ansible_playbook("playbooks/kubernetes/backup.yml", inventory=DEDICATED,
                           extra_vars={**base, "odooops_k8s_run_id": "b1"})
    assert run.rc == 0, run.stdout[-3000:]
    backup = kmock_api.obj("postgresql.cnpg.io/v1", "backups", "acme-prod-erp", "pg-b1")
    assert backup["spec"]["cluster"] == {"name": "pg"} and backup["spec"]["method"] == "barmanObjectStore"


# not slow: it shares the module's `provisioned` tree with the tests above (as a slow test it would be provisioned
# a second time, in a stage-2 process)
def test_failed_module_update_rolls_back(ansible_playbook, provisioned):
    """The module-update Job fails (set by the fake controllers): the snapshot is swapped back by a restore Job,
    the old image returns, Odoo is scaled back and maintenance mode is switched off - in that order."""
    kmock_api, base = provisioned
    ns = "acme-prod-erp"
    before = kmock_api.obj("apps/v1", "deployments", ns, "odoo-web")["spec"]["template"]["spec"]["containers"][0][
        "image"]
    with FakeControllers(kmock_api, ns, {"odooops-update-": "failed", "odooops-": "succeeded"}):
        run = ansible_playbook("playbooks/kubernetes/upgrade.yml", inventory=DEDICATED, extra_vars={
            **base, "odooops_k8s_live_checks": True, "odooops_k8s_wait_timeout": 60, "odooops_k8s_poll_delay": 1,
            "odooops_k8s_new_tag": "17.0-20270101", "odooops_k8s_modules": ["stock"], "odooops_k8s_run_id": "rb1"})
    assert run.rc != 0
    assert "failed at step wait_module_update" in run.stdout and "database snapshot swapped back" in run.stdout
    order = [line.split(" - ", 1)[1].rstrip("]* ") for line in run.stdout.splitlines()
             if line.startswith("TASK [Record the step reached - ")]
    failed_at = order.index("wait_module_update")
    assert order[failed_at + 1:] == ["rollback_scale_down_web", "rollback_scale_down_cron", "rollback_wait_stopped",
                                     "rollback_restore", "rollback_wait_restore", "rollback_image_web",
                                     "rollback_image_cron", "rollback_scale_up_web", "rollback_wait_web",
                                     "rollback_scale_up_cron", "rollback_maintenance_off"]
    restore = kmock_api.obj("batch/v1", "jobs", ns, "odooops-restore-rb1")
    assert "state=restored" in restore["spec"]["template"]["spec"]["containers"][0]["command"][2]
    web = kmock_api.obj("apps/v1", "deployments", ns, "odoo-web")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == before   # the image running before
    assert web["spec"]["replicas"] == 2
    mw = kmock_api.obj("traefik.io/v1alpha1", "middlewares", ns, "maintenance")
    assert mw["spec"]["ipAllowList"]["sourceRange"] == ["0.0.0.0/0", "::/0"]
    audit = _last_audit(base)
    assert audit["outcome"] == "rolled_back" and audit["reason"] == "failed at step wait_module_update"


def test_status_patch_is_idempotent_and_honours_check_mode(kmock_api):
    """k8s_status (module odooops.hosting.k8s_status_patch) against the stand-in: check mode changes nothing,
    the patch lands on the status subresource, a second patch reports no change, a missing object is an error."""
    import json
    import urllib.request

    from ansible_collections.odooops.hosting.plugins.module_utils.k8s import status as k8s_status
    body = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "pg", "namespace": "n1"},
            "spec": {"instances": 3}, "status": {"currentPrimary": "pg-1"}}
    req = urllib.request.Request(f"{kmock_api.url}/apis/postgresql.cnpg.io/v1/namespaces/n1/clusters",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).close()
    dyn = k8s_status.client(kmock_api.kubeconfig)
    args = ("postgresql.cnpg.io/v1", "Cluster", "pg", "n1", {"targetPrimary": "pg-2"})
    assert k8s_status.patch_status(dyn, *args, check_mode=True)["changed"] is True
    assert "targetPrimary" not in kmock_api.obj("postgresql.cnpg.io/v1", "clusters", "n1", "pg")["status"]
    assert k8s_status.patch_status(dyn, *args)["status"] == {"currentPrimary": "pg-1", "targetPrimary": "pg-2"}
    assert kmock_api.obj("postgresql.cnpg.io/v1", "clusters", "n1", "pg")["status"]["targetPrimary"] == "pg-2"
    assert k8s_status.patch_status(dyn, *args)["changed"] is False
    with pytest.raises(k8s_status.K8sStatusError, match="cannot read Cluster n1/nope"):
        k8s_status.patch_status(dyn, "postgresql.cnpg.io/v1", "Cluster", "nope", "n1", {"x": 1})
