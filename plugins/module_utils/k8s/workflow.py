# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The workflows of the Kubernetes target as ordered steps (pure functions, unit-tested).

The playbooks in playbooks/kubernetes/ follow these plans task by task (each task name starts with the
step id; a unit test checks that the playbook's order is the plan's order). Every object or patch a
step sends to the API server is computed here, so the order of operations and their content are tested
without a cluster; the playbooks only hand them to kubernetes.core.

Step: {"id": str, "action": apply|scale|patch|patch_status|wait_rollout|wait_gone|wait_job|wait_condition|
exec|delete, "kind", "api_version", "name", "namespace", plus the action's data}.
"""
from __future__ import annotations

import re

from ansible_collections.odooops.hosting.plugins.module_utils.k8s import render as r

# apply order of a tenant's objects: what others depend on first
PROVISION_ORDER = [
    ("namespace", ("Namespace",)),
    ("guardrails", ("ResourceQuota", "LimitRange", "ServiceAccount", "Role", "RoleBinding", "NetworkPolicy")),
    ("data", ("PersistentVolumeClaim", "Cluster", "Pooler", "ScheduledBackup", "Deployment:redis", "Service:redis")),
    ("wait_postgres", ()),
    ("odoo", ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler")),
    ("edge", ("Certificate", "Middleware", "IngressRoute")),
    ("wait_rollout", ()),
]


class K8sWorkflowError(ValueError):
    pass


def _ref(obj: dict) -> dict:
    return {"api_version": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "namespace": obj["metadata"].get("namespace")}


def _find(t: r.Tenant, kind: str, name: str) -> dict | None:
    return next((o for o in t.objects if o["kind"] == kind and o["metadata"]["name"] == name), None)


def provision_plan(t: r.Tenant) -> list[dict]:
    """Apply a tenant in dependency order; waits where later objects need earlier ones running."""
    remaining = list(t.objects)
    steps = []
    for step_id, kinds in PROVISION_ORDER:
        if step_id == "wait_postgres":
            cluster = _find(t, "Cluster", t.s["postgres"]["cluster_name"])
            steps.append({"id": step_id, "action": "wait_condition", **_ref(cluster),
                          "condition": {"type": "Ready", "status": "True"}})
            continue
        if step_id == "wait_rollout":
            for name in ("odoo-web", "odoo-cron"):
                steps.append({"id": f"{step_id}_{name.split('-')[1]}", "action": "wait_rollout",
                              **_ref(_find(t, "Deployment", name))})
            continue
        picked = []
        for obj in list(remaining):
            for kind in kinds:
                k, _sep, n = kind.partition(":")
                if obj["kind"] == k and (not n or obj["metadata"]["name"] == n):
                    picked.append(obj)
                    remaining.remove(obj)
                    break
        steps.append({"id": step_id, "action": "apply", "objects": picked})
    if remaining:
        raise K8sWorkflowError(f"{t.key}: objects with no provision step: "
                               f"{', '.join(r.object_id(o) for o in remaining)}")
    return steps


def _job(t: r.Tenant, name: str, component: str, container: dict, deadline: int) -> dict:
    volumes, _mounts = r.odoo_volumes(t)
    spec = r.odoo_pod_spec(t, [container], restart="Never")
    spec["volumes"] = volumes
    labels = {**t.labels(component), "odooops.io/odoo": "true", "odooops.io/job": component}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": t.meta(name, component), "spec": {
        "backoffLimit": 0, "activeDeadlineSeconds": deadline, "ttlSecondsAfterFinished": 86400,
        "template": {"metadata": {"labels": labels}, "spec": spec}}}


def _pg_env(t: r.Tenant) -> list:
    pg = t.s["postgres"]
    secret = pg["login_role_secret"]
    # the login role's basic-auth Secret (the same CloudNativePG sets the role's password from)
    return [{"name": "PGUSER", "valueFrom": {"secretKeyRef": {"name": secret, "key": "username"}}},
            {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}},
            {"name": "PGSSLMODE", "value": "require"}]


def snapshot_job(t: r.Tenant, run_id: str, state: str = "present", label: str = "") -> dict:
    """Run the VM target's database-level snapshot (odooops.hosting.odoo_db_snapshot, and
    odoo_filestore_snapshot on the RWX filestore) from a Job in the tools image (an execution environment
    holding this collection). The password comes from the login role's Secret as PGPASSWORD, never an arg."""
    pg = t.s["postgres"]
    host = "pg-pooler" if pg["pooler"]["enabled"] else f"{pg['cluster_name']}-rw"
    db_args = (f"database={pg['database']} state={state} login_host={host} login_user={pg['login_role']} "
               f"login_db={pg['database']} ssl_mode=require replace=true")
    if label and state == "present":
        if not re.match(r"^[\w.:>\- ]*$", label):
            raise K8sWorkflowError(f"snapshot label {label!r}: only letters, digits, '.', ':', '-', '>' and spaces")
        db_args += f" label='{label}'"
    commands = [f"ansible localhost -c local -m odooops.hosting.odoo_db_snapshot -a \"{db_args}\""]
    if t.s["filestore"]["mode"] == "rwx":
        commands.append(f"ansible localhost -c local -m odooops.hosting.odoo_filestore_snapshot -a "
                        f"\"database={pg['database']} state={state} path=/var/lib/odoo/filestore replace=true\"")
    _volumes, mounts = r.odoo_volumes(t)
    container = {"name": "snapshot", "image": t.s["jobs"]["tools_image"], "imagePullPolicy": "IfNotPresent",
                 "command": ["sh", "-ec", " && ".join(commands)],
                 "env": _pg_env(t) + [{"name": "HOME", "value": "/tmp"},
                                      {"name": "ANSIBLE_LOCAL_TEMP", "value": "/tmp/.ansible"}],
                 "resources": r._resources(t.s["jobs"]["resources"]), "securityContext": r._container_security(),
                 "volumeMounts": [m for m in mounts if m["name"] != "config"]}
    name = f"odooops-{'snapshot' if state == 'present' else 'restore'}-{run_id}"
    return _job(t, name, "snapshot", container, 1800)


def module_update_job(t: r.Tenant, image: str, modules: list[str], run_id: str) -> dict:
    if not modules or not all(re.match(r"^[a-z0-9_]+$", m) for m in modules):
        raise K8sWorkflowError(f"modules must be Odoo module names (a-z, 0-9, _), got {modules!r}")
    args = ["-d", t.s["postgres"]["database"], "-u", ",".join(modules), "--stop-after-init", "--no-http",
            "--workers=0", "--max-cron-threads=0"]
    container = r.odoo_container(t, "module-update", t.s["jobs"]["resources"], args, image=image, probes=False)
    return _job(t, f"odooops-update-{run_id}", "update", container, 3600)


# Run in the new Odoo pod with python3 -c (no Ansible there): /web/health passes and JSON-RPC answers
# (webclient/version_info). http.client, one connection per request; any HTTP error, non-JSON answer or refused
# connection exits non-zero.
SMOKE = ("import json,sys,http.client as h\n"
         "def ask(method,path,body=None,headers={}):\n"
         " c=h.HTTPConnection('127.0.0.1',8069,timeout=10);c.request(method,path,body,headers);r=c.getresponse()\n"
         " d=r.read();c.close()\n"
         " if r.status!=200:sys.exit(f'{path}: HTTP {r.status}')\n"
         " return json.loads(d)\n"
         "a=ask('GET','/web/health')\n"
         "v=ask('POST','/web/webclient/version_info',b'{\"jsonrpc\":\"2.0\",\"params\":{}}',"
         "{'Content-Type':'application/json'})\n"
         "sys.exit(0 if a.get('status')=='pass' and 'result' in v else 1)\n")


def _image(t: r.Tenant, tag: str | None = None) -> str:
    return f"{t.s['image']['repository']}:{tag or t.s['image']['tag']}"


def _maintenance(t: r.Tenant, on: bool) -> dict:
    ing = t.platform["ingress"]
    return {"metadata": {"annotations": {"odooops.io/maintenance": "on" if on else "off"}},
            "spec": {"ipAllowList": {"sourceRange": list(ing["maintenance_allowlist"]) if on
                                     else ["0.0.0.0/0", "::/0"]}}}


def _deploy(t: r.Tenant, name: str) -> dict:
    return {"api_version": "apps/v1", "kind": "Deployment", "name": name, "namespace": t.namespace}


def _set_image(t: r.Tenant, name: str, container: str, image: str) -> dict:
    return {"id": "", "action": "patch", **_deploy(t, name),
            "patch": {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}}


def upgrade_plan(t: r.Tenant, new_tag: str, modules: list[str], run_id: str, current_tag: str | None = None) -> dict:
    """Steps of a governed upgrade and of its rollback (run on any failure after the snapshot)."""
    if not re.match(r"^[a-z0-9][a-z0-9-]{0,20}$", run_id):
        raise K8sWorkflowError(f"run_id {run_id!r}: lower-case letters, digits and '-', at most 21 characters")
    if not re.match(r"^[\w][\w.-]{0,127}$", new_tag):
        raise K8sWorkflowError(f"image tag {new_tag!r} is not a valid tag")
    new_image, old_image = _image(t, new_tag), _image(t, current_tag)
    if new_image == old_image and not modules:
        raise K8sWorkflowError(f"nothing to do: {new_image} is already running and no module is to be updated")
    web_replicas = t.s["odoo"]["replicas"]
    mw = {"api_version": r.TRAEFIK_GROUP, "kind": "Middleware", "name": "maintenance", "namespace": t.namespace}
    snap = snapshot_job(t, run_id, label=f"{current_tag or t.s['image']['tag']} -> {new_tag}")
    # a new image without a module list updates everything (-u base pulls every installed module)
    update = module_update_job(t, new_image, modules or ["base"], run_id)
    restore = snapshot_job(t, run_id, state="restored")
    steps = [
        {"id": "check_cluster", "action": "wait_condition", "api_version": r.CNPG_GROUP, "kind": "Cluster",
         "name": t.s["postgres"]["cluster_name"], "namespace": t.namespace,
         "condition": {"type": "Ready", "status": "True"}},
        {"id": "maintenance_on", "action": "patch", **mw, "patch": _maintenance(t, True)},
        {"id": "scale_down_cron", "action": "scale", **_deploy(t, "odoo-cron"), "replicas": 0},
        {"id": "scale_down_web", "action": "scale", **_deploy(t, "odoo-web"), "replicas": 0},
        {"id": "wait_odoo_stopped", "action": "wait_gone", "api_version": "v1", "kind": "Pod",
         "namespace": t.namespace, "label_selectors": [f"odooops.io/tenant={t.name}", "odooops.io/odoo=true",
                                                       "odooops.io/job notin (snapshot,update)"]},
        {"id": "snapshot", "action": "apply", "objects": [snap]},
        {"id": "wait_snapshot", "action": "wait_job", **_ref(snap)},
        {"id": "module_update", "action": "apply", "objects": [update]},
        {"id": "wait_module_update", "action": "wait_job", **_ref(update)},
        {**_set_image(t, "odoo-web", "odoo", new_image), "id": "set_image_web"},
        {**_set_image(t, "odoo-cron", "odoo-cron", new_image), "id": "set_image_cron"},
        {"id": "scale_up_web", "action": "scale", **_deploy(t, "odoo-web"), "replicas": web_replicas},
        {"id": "wait_web", "action": "wait_rollout", **_deploy(t, "odoo-web")},
        {"id": "smoke", "action": "exec", **_deploy(t, "odoo-web"), "container": "odoo",
         "command": ["python3", "-c", SMOKE]},
        {"id": "scale_up_cron", "action": "scale", **_deploy(t, "odoo-cron"), "replicas": 1},
        {"id": "maintenance_off", "action": "patch", **mw, "patch": _maintenance(t, False)},
    ]
    rollback = [
        {"id": "rollback_scale_down_web", "action": "scale", **_deploy(t, "odoo-web"), "replicas": 0},
        {"id": "rollback_scale_down_cron", "action": "scale", **_deploy(t, "odoo-cron"), "replicas": 0},
        {"id": "rollback_wait_stopped", "action": "wait_gone", "api_version": "v1", "kind": "Pod",
         "namespace": t.namespace, "label_selectors": [f"odooops.io/tenant={t.name}", "odooops.io/odoo=true",
                                                       "odooops.io/job notin (snapshot,update)"]},
        {"id": "rollback_restore", "action": "apply", "objects": [restore]},
        {"id": "rollback_wait_restore", "action": "wait_job", **_ref(restore)},
        {**_set_image(t, "odoo-web", "odoo", old_image), "id": "rollback_image_web"},
        {**_set_image(t, "odoo-cron", "odoo-cron", old_image), "id": "rollback_image_cron"},
        {"id": "rollback_scale_up_web", "action": "scale", **_deploy(t, "odoo-web"), "replicas": web_replicas},
        {"id": "rollback_wait_web", "action": "wait_rollout", **_deploy(t, "odoo-web")},
        {"id": "rollback_scale_up_cron", "action": "scale", **_deploy(t, "odoo-cron"), "replicas": 1},
        {"id": "rollback_maintenance_off", "action": "patch", **mw, "patch": _maintenance(t, False)},
    ]
    # a failure before the snapshot is complete: nothing of the database changed, bring Odoo back as it was
    resume = [dict(s, id=s["id"].replace("rollback_", "resume_")) for s in rollback
              if s["id"] in ("rollback_scale_up_web", "rollback_wait_web", "rollback_scale_up_cron",
                             "rollback_maintenance_off")]
    return {"steps": steps, "rollback": rollback, "resume": resume, "rollback_after": "wait_snapshot",
            "new_image": new_image, "old_image": old_image}


def choose_switchover_target(status: dict, preferred: str | None = None) -> str:
    """The instance to promote: preferred if healthy, else the first healthy standby (sorted)."""
    current = status.get("currentPrimary")
    healthy = sorted(status.get("instancesStatus", {}).get("healthy", []))
    standbys = [i for i in healthy if i != current]
    if preferred:
        if preferred == current:
            raise K8sWorkflowError(f"{preferred} is already the primary")
        if preferred not in standbys:
            raise K8sWorkflowError(f"{preferred} is not a healthy standby (healthy: {', '.join(healthy) or 'none'})")
        return preferred
    if not standbys:
        raise K8sWorkflowError(f"no healthy standby to promote (primary {current}, healthy: "
                               f"{', '.join(healthy) or 'none'})")
    return standbys[0]


# the upgrade gates of the VM target (module odoo_upgrade_gates) that facts from the Cluster status can feed
K8S_GATES = ["freeze_window", "approval_reference", "backup_fresh", "replication"]


def gate_facts(status: dict, cluster: str) -> dict:
    """CloudNativePG Cluster status -> the facts odoo_upgrade_gates reads (backup_info, postgres.replication).

    Replication: the healthy instances other than the primary count as streaming standbys; the status carries no
    lag, so the lag limits are not checked on Kubernetes (the operator's own readiness covers a broken standby)."""
    status = status or {}
    primary = status.get("currentPrimary")
    healthy = sorted(status.get("instancesStatus", {}).get("healthy", []))
    standbys = [{"application_name": i, "state": "streaming", "lag_bytes": None, "replay_lag_seconds": None}
                for i in healthy if i != primary]
    last = status.get("lastSuccessfulBackup")
    backup_info = {"backups": [{"id": cluster, "status": "completed", "end_time": last}] if last else [],
                   "latest_good": {"id": cluster, "end_time": last} if last else None}
    return {"backup_info": backup_info, "postgres": {"replication": standbys}}


def failover_plan(t: r.Tenant, target: str) -> list[dict]:
    """Planned switchover the way `kubectl cnpg promote` does it: the Cluster's status subresource gets
    targetPrimary (and the Switchover phase); the operator fences the old primary, promotes the target and
    repoints the -rw Service, which is Odoo's db_host, so Odoo needs no change."""
    name = t.s["postgres"]["cluster_name"]
    ref = {"api_version": r.CNPG_GROUP, "kind": "Cluster", "name": name, "namespace": t.namespace}
    return [
        {"id": "check_cluster", "action": "wait_condition", **ref, "condition": {"type": "Ready", "status": "True"}},
        {"id": "promote", "action": "patch_status", **ref,
         "patch": {"status": {"targetPrimary": target, "phase": "Switchover in progress",
                              "phaseReason": f"Switching over to {target}"}}},
        {"id": "wait_primary", "action": "wait_field", **ref, "field": "status.currentPrimary", "value": target},
        {"id": "wait_ready", "action": "wait_condition", **ref, "condition": {"type": "Ready", "status": "True"}},
        {"id": "wait_web", "action": "wait_rollout", **_deploy(t, "odoo-web")},
    ]


def backup_plan(t: r.Tenant, run_id: str) -> list[dict]:
    if not t.s["postgres"]["backup"]["enabled"]:
        raise K8sWorkflowError(f"{t.key}: postgres.backup.enabled is false: no object store to back up to")
    name = t.s["postgres"]["cluster_name"]
    backup = {"apiVersion": r.CNPG_GROUP, "kind": "Backup", "metadata": t.meta(f"{name}-{run_id}", "postgres"),
              "spec": {"cluster": {"name": name}, "method": "barmanObjectStore", "target": "prefer-standby"}}
    return [
        {"id": "check_cluster", "action": "wait_condition", "api_version": r.CNPG_GROUP, "kind": "Cluster",
         "name": name, "namespace": t.namespace, "condition": {"type": "Ready", "status": "True"}},
        {"id": "backup", "action": "apply", "objects": [backup]},
        {"id": "wait_backup", "action": "wait_field", **_ref(backup), "field": "status.phase", "value": "completed"},
    ]


def plan(workflow: str, t: r.Tenant, **params) -> dict:
    if workflow == "provision":
        return {"steps": provision_plan(t)}
    if workflow == "upgrade":
        return upgrade_plan(t, params["new_tag"], params.get("modules") or [], params["run_id"],
                            params.get("current_tag"))
    if workflow == "failover":
        return {"steps": failover_plan(t, params["target"])}
    if workflow == "backup":
        return {"steps": backup_plan(t, params["run_id"])}
    raise K8sWorkflowError(f"unknown workflow {workflow!r}")


def objects_of(steps: list[dict]) -> list[dict]:
    return [o for s in steps for o in s.get("objects", [])]
