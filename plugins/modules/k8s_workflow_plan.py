#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_workflow_plan
short_description: The ordered steps of a Kubernetes workflow (provision, upgrade, failover, backup) for one tenant
description:
  - Renders the tenant from O(platform) and returns the steps the playbooks in C(playbooks/kubernetes/) send to the
    API server with kubernetes.core, in order - the objects to apply (validated like
    M(odooops.hosting.k8s_platform_render)), the scale and patch operations, and what to wait for.
  - C(upgrade) also returns the rollback steps (restore of the database-level snapshot taken by
    M(odooops.hosting.odoo_db_snapshot) from a Job, the previous image, maintenance off).
  - Changes nothing; runs on the controller.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes.info_module
options:
  platform:
    description: The platform description (as for M(odooops.hosting.k8s_platform_render)).
    type: dict
    required: true
  environment:
    description: Environment of the tenant.
    type: str
    required: true
  tenant:
    description: Tenant name.
    type: str
    required: true
  workflow:
    description: Which workflow.
    type: str
    required: true
    choices: [provision, upgrade, failover, backup]
  run_id:
    description: Identifier of this run (names the Jobs and the Backup); lower case, digits and C(-).
    type: str
    default: manual
  new_tag:
    description: Image tag to upgrade to (C(upgrade)).
    type: str
  current_tag:
    description: Image tag running now, to roll back to (C(upgrade)); defaults to the inventory's tag.
    type: str
  modules:
    description: Odoo modules to update (C(upgrade)).
    type: list
    elements: str
    default: []
  target:
    description: Instance to promote (C(failover)); found with RV(target) from O(cluster_status) when omitted.
    type: str
  cluster_status:
    description:
      - The CloudNativePG Cluster's C(status) as read from the API - to choose the switchover target (C(failover)
        without O(target)), and to return RV(gate_facts) for the upgrade gates.
    type: dict
  crd_dir:
    description: CRD directory for validating the objects of the plan (default E(ODOOOPS_CRD_DIR)).
    type: path
  validate:
    description:
      - Validate the objects of the plan. C(provision) applies the tree's objects, which
        M(odooops.hosting.k8s_platform_render) has just validated; set C(false) there to save the second pass.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Plan the upgrade of prod/shop
  odooops.hosting.k8s_workflow_plan:
    platform: "{{ odooops_kubernetes }}"
    environment: prod
    tenant: shop
    workflow: upgrade
    new_tag: "17.0-20261201"
    modules: [stock, point_of_sale]
    run_id: "{{ odooops_run_id }}"
  register: plan
"""

RETURN = r"""
steps:
  description: Ordered steps - id, action (apply, scale, patch, patch_status, wait_rollout, wait_gone, wait_job,
    wait_condition, wait_field, exec), the object reference and the action's data.
  returned: always
  type: list
  elements: dict
step:
  description: The same steps by id (rollback steps included), for playbooks.
  returned: always
  type: dict
step_ids:
  description: Step ids in order.
  returned: always
  type: list
  elements: str
rollback:
  description: Rollback steps (C(upgrade)) for a failure after RV(rollback_after) - restore the snapshot, old image.
  returned: always
  type: list
  elements: dict
resume:
  description: Steps (C(upgrade)) for a failure up to RV(rollback_after) - Odoo back up, maintenance off.
  returned: always
  type: list
  elements: dict
rollback_after:
  description: The step after which a failure needs the rollback rather than the resume steps (C(upgrade)).
  returned: when O(workflow=upgrade)
  type: str
namespace:
  description: The tenant's namespace.
  returned: always
  type: str
target:
  description: The instance to promote (C(failover)).
  returned: when O(workflow=failover)
  type: str
gate_facts:
  description: C(backup_info) and C(postgres.replication) for M(odooops.hosting.odoo_upgrade_gates), from
    O(cluster_status); the gates that can be fed on Kubernetes are in RV(gates).
  returned: when O(cluster_status) is given
  type: dict
gates:
  description: The upgrade gates that Kubernetes facts can feed (freeze window, approval, backup, replication).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.k8s import render as k8s_render
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import validate as k8s_validate
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import workflow as k8s_workflow


def run(module: AnsibleModule) -> dict:
    p = module.params
    platform, tenants = k8s_render.render(p["platform"])
    tenant = next((t for t in tenants if t.environment == p["environment"] and t.name == p["tenant"]), None)
    if tenant is None:
        raise k8s_workflow.K8sWorkflowError(
            f"no tenant {p['environment']}/{p['tenant']} in the platform (have: "
            f"{', '.join(t.key for t in tenants)})")
    params = {"run_id": p["run_id"]}
    result = {"changed": False, "namespace": tenant.namespace}
    if p["workflow"] == "upgrade":
        if not p["new_tag"]:
            raise k8s_workflow.K8sWorkflowError("new_tag is required for the upgrade workflow")
        params.update(new_tag=p["new_tag"], modules=p["modules"], current_tag=p["current_tag"])
    elif p["workflow"] == "failover":
        target = p["target"] or k8s_workflow.choose_switchover_target(p["cluster_status"] or {})
        params["target"] = result["target"] = target
    planned = k8s_workflow.plan(p["workflow"], tenant, **params)
    steps, rollback, resume = planned["steps"], planned.get("rollback", []), planned.get("resume", [])
    objects = k8s_workflow.objects_of(steps + rollback)
    if not p["validate"]:
        pass
    elif objects and p["workflow"] != "provision":
        # the Jobs and the Backup are validated like the tree (provision objects are the tree's)
        k8s_validate.validate(objects, str(platform["kubernetes_version"]), p["crd_dir"], policies=False)
        errors = [e for e in k8s_validate.check_policies(objects) if "default-deny" not in e]
        if errors:
            raise k8s_validate.K8sValidationError(errors)
    elif objects:
        k8s_validate.validate(tenant.objects, str(platform["kubernetes_version"]), p["crd_dir"])
    if p["cluster_status"] is not None:
        result["gate_facts"] = k8s_workflow.gate_facts(p["cluster_status"], tenant.s["postgres"]["cluster_name"])
    result["gates"] = list(k8s_workflow.K8S_GATES)
    result.update(steps=steps, rollback=rollback, resume=resume, step_ids=[s["id"] for s in steps],
                  step={s["id"]: s for s in steps + rollback + resume})
    for key in ("new_image", "old_image", "rollback_after"):
        if key in planned:
            result[key] = planned[key]
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "platform": {"type": "dict", "required": True},
            "environment": {"type": "str", "required": True},
            "tenant": {"type": "str", "required": True},
            "workflow": {"type": "str", "required": True, "choices": ["provision", "upgrade", "failover", "backup"]},
            "run_id": {"type": "str", "default": "manual"},
            "new_tag": {"type": "str"},
            "current_tag": {"type": "str"},
            "modules": {"type": "list", "elements": "str", "default": []},
            "target": {"type": "str"},
            "cluster_status": {"type": "dict"},
            "crd_dir": {"type": "path"},
            "validate": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except (k8s_render.K8sRenderError, k8s_validate.K8sValidationError, k8s_workflow.K8sWorkflowError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
