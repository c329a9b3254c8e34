"""The order of operations of the Kubernetes workflows, and the objects they send."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from ansible_collections.odooops.hosting.plugins.module_utils.k8s import render as r
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import validate as v
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import workflow as w
from tests.unit.kubernetes.k8s_specs import base_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture
def tenant():
    return r.render(base_spec())[1][0]


def test_provision_order_and_every_object_once(tenant):
    steps = w.provision_plan(tenant)
    assert [s["id"] for s in steps] == ["namespace", "guardrails", "data", "wait_postgres", "odoo", "edge",
                                        "wait_rollout_web", "wait_rollout_cron"]
    applied = w.objects_of(steps)
    assert sorted(map(r.object_id, applied)) == sorted(map(r.object_id, tenant.objects))
    kinds = [o["kind"] for o in applied]
    # NetworkPolicies before any workload; the database before Odoo; the IngressRoute last
    assert kinds.index("NetworkPolicy") < kinds.index("Cluster") < kinds.index("Deployment", kinds.index("Cluster"))
    assert kinds[-1] == "IngressRoute"
    assert steps[0]["objects"][0]["kind"] == "Namespace"
    # Redis with the data, before Odoo
    data = [r.object_id(o) for o in steps[2]["objects"]]
    assert "Deployment/retail-prod-shop/redis" in data and "Deployment/retail-prod-shop/odoo-web" not in data


def test_upgrade_order(tenant):
    plan = w.upgrade_plan(tenant, "17.0-b", ["stock", "point_of_sale"], "r1")
    ids = [s["id"] for s in plan["steps"]]
    assert ids == ["check_cluster", "maintenance_on", "scale_down_cron", "scale_down_web", "wait_odoo_stopped",
                   "snapshot", "wait_snapshot", "module_update", "wait_module_update", "set_image_web",
                   "set_image_cron", "scale_up_web", "wait_web", "smoke", "scale_up_cron", "maintenance_off"]
    step = {s["id"]: s for s in plan["steps"] + plan["rollback"]}
    assert step["maintenance_on"]["patch"]["spec"]["ipAllowList"]["sourceRange"] == ["127.0.0.1/32"]
    assert step["maintenance_off"]["patch"]["spec"]["ipAllowList"]["sourceRange"] == ["0.0.0.0/0", "::/0"]
    assert step["scale_down_web"]["replicas"] == 0 and step["scale_up_web"]["replicas"] == 2
    update = step["module_update"]["objects"][0]
    c = update["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "registry.example/odoo:17.0-b"
    assert c["args"] == ["--config=/etc/odoo/odoo.conf", "-d", "odoo", "-u", "stock,point_of_sale",
                         "--stop-after-init", "--no-http", "--workers=0", "--max-cron-threads=0"]
    snap = step["snapshot"]["objects"][0]["spec"]["template"]["spec"]["containers"][0]
    assert "odooops.hosting.odoo_db_snapshot" in snap["command"][2]
    assert "odooops.hosting.odoo_filestore_snapshot" in snap["command"][2]
    assert {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "odoo-db-login", "key": "password"}}} \
        in snap["env"]
    assert step["set_image_web"]["patch"]["spec"]["template"]["spec"]["containers"] == [
        {"name": "odoo", "image": "registry.example/odoo:17.0-b"}]
    # rollback: Odoo stopped before the snapshot is swapped back, then the old image, then maintenance off
    rb = [s["id"] for s in plan["rollback"]]
    assert rb.index("rollback_wait_stopped") < rb.index("rollback_restore") < rb.index("rollback_image_web")
    assert rb[-1] == "rollback_maintenance_off"
    assert "state=restored" in step["rollback_restore"]["objects"][0]["spec"]["template"]["spec"][
        "containers"][0]["command"][2]
    assert step["rollback_image_web"]["patch"]["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.example/odoo:17.0-20261101"
    assert [s["id"] for s in plan["resume"]] == ["resume_scale_up_web", "resume_wait_web", "resume_scale_up_cron",
                                                 "resume_maintenance_off"]


def test_upgrade_objects_validate_and_hold_no_secret(tenant, crd_dir):
    plan = w.upgrade_plan(tenant, "17.0-b", ["stock"], "r1")
    jobs = w.objects_of(plan["steps"] + plan["rollback"])
    assert [j["kind"] for j in jobs] == ["Job", "Job", "Job"]
    assert v.validate(jobs, "1.30", crd_dir, policies=False)["builtin"] == 3
    assert [e for e in v.check_policies(jobs) if "default-deny" not in e] == []
    for job in jobs:
        # Jobs carry the Odoo label, so the tenant's NetworkPolicy lets them reach PostgreSQL
        assert job["spec"]["template"]["metadata"]["labels"]["odooops.io/odoo"] == "true"
        assert job["spec"]["backoffLimit"] == 0


@pytest.mark.parametrize("args,message", [
    (("17.0-b", ["stock; rm -rf /"], "r1"), "modules must be Odoo module names"),
    (("17.0-b", ["stock"], "R_1"), "run_id"),
    (("bad tag!", ["stock"], "r1"), "is not a valid tag"),
    (("17.0-20261101", [], "r1"), "nothing to do"),
])
def test_upgrade_refuses_bad_input(tenant, args, message):
    with pytest.raises(w.K8sWorkflowError, match=message):
        w.upgrade_plan(tenant, *args)


def test_failover_target_and_order(tenant):
    status = {"currentPrimary": "pg-1", "instancesStatus": {"healthy": ["pg-3", "pg-1", "pg-2"]}}
    assert w.choose_switchover_target(status) == "pg-2"
    assert w.choose_switchover_target(status, "pg-3") == "pg-3"
    with pytest.raises(w.K8sWorkflowError, match="already the primary"):
        w.choose_switchover_target(status, "pg-1")
    with pytest.raises(w.K8sWorkflowError, match="not a healthy standby"):
        w.choose_switchover_target(status, "pg-9")
    with pytest.raises(w.K8sWorkflowError, match="no healthy standby"):
        w.choose_switchover_target({"currentPrimary": "pg-1", "instancesStatus": {"healthy": ["pg-1"]}})
    steps = w.failover_plan(tenant, "pg-2")
    assert [s["id"] for s in steps] == ["check_cluster", "promote", "wait_primary", "wait_ready", "wait_web"]
    assert steps[1]["action"] == "patch_status" and steps[1]["patch"]["status"]["targetPrimary"] == "pg-2"


def test_backup_object_validates(tenant, crd_dir):
    steps = w.backup_plan(tenant, "r1")
    backup = steps[1]["objects"][0]
    assert backup["spec"] == {"cluster": {"name": "pg"}, "method": "barmanObjectStore", "target": "prefer-standby"}
    assert v.validate([backup], "1.30", crd_dir, policies=False)["crd"] == 1
    spec = base_spec()
    spec["defaults"]["postgres"]["backup"]["enabled"] = False
    with pytest.raises(w.K8sWorkflowError, match="backup.enabled is false"):
        w.backup_plan(r.render(spec)[1][0], "r1")


def _playbook_step_runs(path):
    """The include_tasks of run_step.yml in a playbook, in order, with the plan list each one loops over."""
    with open(path) as handle:
        plays = yaml.safe_load(handle)
    found = []

    def walk(tasks):
        for task in tasks or []:
            for key in ("block", "rescue", "always"):
                walk(task.get(key))
            if str(task.get("ansible.builtin.include_tasks", "")).endswith("run_step.yml"):
                found.append(task.get("loop"))
    for play in plays:
        walk(play.get("tasks"))
    return found


@pytest.mark.parametrize("playbook,expected", [
    ("upgrade.yml", ["{{ odooops_k8s_plan.steps }}", "{{ odooops_k8s_plan.rollback }}",
                     "{{ odooops_k8s_plan.resume }}"]),
    ("failover.yml", ["{{ odooops_k8s_plan.steps }}"]),
    ("backup.yml", ["{{ odooops_k8s_plan.steps }}"]),
])
def test_playbooks_follow_the_plan(playbook, expected):
    assert _playbook_step_runs(os.path.join(ROOT, "playbooks", "kubernetes", playbook)) == expected


def test_run_step_handles_every_action(tenant):
    tasks = os.path.join(ROOT, "playbooks", "kubernetes", "tasks")
    plans = [w.provision_plan(tenant), w.failover_plan(tenant, "pg-2"), w.backup_plan(tenant, "r1")]
    up = w.upgrade_plan(tenant, "17.0-b", ["stock"], "r1")
    plans += [up["steps"], up["rollback"], up["resume"]]
    actions = {s["action"] for p in plans for s in p}
    for action in actions:
        assert os.path.exists(os.path.join(tasks, f"step_{action}.yml")), action
    json.dumps(plans)   # plain data: what the module returns


def test_gate_facts_from_cluster_status():
    from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import gates as upgrade_gates
    status = {"currentPrimary": "pg-1", "instancesStatus": {"healthy": ["pg-2", "pg-1"]},
              "lastSuccessfulBackup": "2026-11-27T02:00:00Z"}
    facts = w.gate_facts(status, "pg")
    assert facts["postgres"]["replication"] == [{"application_name": "pg-2", "state": "streaming", "lag_bytes": None,
                                                 "replay_lag_seconds": None}]
    now = upgrade_gates.parse_time("2026-11-27T10:00:00Z")
    results = upgrade_gates.evaluate({"enabled": w.K8S_GATES}, {**facts, "approval_ref": "CHG-1001"}, now)
    assert [r["ok"] for r in results] == [True, True, True, True], results
    # no standby healthy, no backup yet: both gates refuse
    results = upgrade_gates.evaluate({"enabled": ["backup_fresh", "replication"]},
                                     w.gate_facts({"currentPrimary": "pg-1",
                                                   "instancesStatus": {"healthy": ["pg-1"]}}, "pg"), now)
    assert [r["ok"] for r in results] == [False, False]


def _run_smoke(health_status: int, health_body: bytes, version_body: bytes) -> int:
    """The smoke script as the pod runs it (python3 -c), against a local server in place of Odoo's 8069."""
    import http.server
    import subprocess
    import sys
    import threading

    class Odoo(http.server.BaseHTTPRequestHandler):
        def _answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            self._answer(health_status, health_body) if self.path == "/web/health" else self._answer(404, b"{}")

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            ok = self.path == "/web/webclient/version_info" and self.headers["Content-Type"] == "application/json"
            self._answer(200 if ok else 404, version_body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Odoo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = w.SMOKE.replace("8069", str(server.server_address[1]))
        return subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30, check=False).returncode
    finally:
        server.shutdown()
        server.server_close()


def test_smoke_script_passes_only_on_a_serving_odoo():
    version = b'{"jsonrpc": "2.0", "id": null, "result": {"server_serie": "18.0"}}'
    assert _run_smoke(200, b'{"status": "pass"}', version) == 0
    assert _run_smoke(200, b'{"status": "fail"}', version) != 0
    assert _run_smoke(503, b'{"status": "pass"}', version) != 0
    assert _run_smoke(200, b'{"status": "pass"}', b'{"jsonrpc": "2.0", "error": {"code": 404}}') != 0
    assert _run_smoke(200, b'{"status": "pass"}', b"<html>") != 0
