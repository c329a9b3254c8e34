"""Live tests of the Kubernetes target: they need a real cluster (KUBECONFIG) with Traefik's and CloudNativePG's
CRDs and operators installed, and a StorageClass for ReadWriteMany (or filestore.mode object_storage).

    KUBECONFIG=~/.kube/config ODOOOPS_K8S_LIVE_IMAGE=registry.example/odoo:17.0 \\
        .venv/bin/pytest -m kubernetes_live tests/integration/kubernetes/test_k8s_live.py

Without KUBECONFIG they are reported as skipped with that reason, never as passed.
"""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import yaml

pytestmark = [
    pytest.mark.kubernetes_live,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG not set: no Kubernetes cluster to test "
                                                                "against (the apply path ran against the kmock "
                                                                "stand-in in test_k8s_apply_kmock.py)"),
]


def _platform(name: str) -> dict:
    image = os.environ.get("ODOOOPS_K8S_LIVE_IMAGE", "odoo:17.0")
    repo, tag = image.rsplit(":", 1)
    return {"name": name, "kubernetes_version": os.environ.get("ODOOOPS_K8S_VERSION", "1.30"),
            "defaults": {"image": {"repository": repo, "tag": tag},
                         "tls": {"secret_name": f"{name}-tls"},
                         "odoo": {"replicas": 1, "max_replicas": 1,
                                  "resources": {"requests": {"cpu": "250m", "memory": "1Gi"},
                                                "limits": {"cpu": "1", "memory": "2Gi"}}},
                         "postgres": {"instances": 2, "backup": {"enabled": False},
                                      "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                                    "limits": {"cpu": "1", "memory": "1Gi"}}},
                         "filestore": {"mode": os.environ.get("ODOOOPS_K8S_FILESTORE", "rwx")}},
            "environments": [{"name": "live", "tenants": [{"name": "t1", "hosts": [f"{name}.example"]}]}]}


def test_provision_rolls_out_on_a_real_cluster(ansible_playbook, tmp_path, crd_dir):
    """Provision with live checks: PostgreSQL Ready, Odoo web and cron Available; then the namespace is deleted."""
    name = f"oo{uuid.uuid4().hex[:6]}"
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    (inventory / "group_vars" / "all" / "platform.yml").write_text(yaml.safe_dump(
        {"odooops_platform": "kubernetes", "odooops_kubernetes": _platform(name)}))
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(yaml.safe_dump({"odooops_db_password": uuid.uuid4().hex,
                                       "odooops_odoo_admin_password": uuid.uuid4().hex,
                                       "odooops_redis_odoo_password": uuid.uuid4().hex,
                                       "odooops_redis_admin_password": uuid.uuid4().hex,
                                       "odooops_s3_access_key": "x", "odooops_s3_secret_key": uuid.uuid4().hex}))
    secrets.chmod(0o600)
    try:
        run = ansible_playbook("playbooks/kubernetes/provision.yml", "-e", f"@{secrets}", inventory=str(inventory),
                               extra_vars={"odooops_k8s_crd_dir": crd_dir, "odooops_k8s_manage_secrets": True,
                                           "odooops_k8s_gitops_dir": str(tmp_path / "gitops"),
                                           "odooops_k8s_wait_timeout": 900}, timeout=1800)
        assert run.rc == 0, run.stdout[-4000:]
    finally:
        subprocess.run(["kubectl", "delete", "namespace", f"{name}-live-t1", "--wait=false"], check=False)
