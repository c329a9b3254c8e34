#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_status_patch
short_description: Merge-patch the status subresource of a Kubernetes object
description:
  - Sends a JSON merge patch to the C(status) subresource, which M(kubernetes.core.k8s) cannot do.
  - The Kubernetes workflows use it for a CloudNativePG switchover, setting C(status.targetPrimary) as
    C(kubectl cnpg promote) does.
  - Reports no change when the status already holds the given values.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  api_version:
    description: API version of the object, e.g. C(postgresql.cnpg.io/v1).
    type: str
    required: true
  kind:
    description: Kind of the object.
    type: str
    required: true
  name:
    description: Name of the object.
    type: str
    required: true
  namespace:
    description: Namespace of the object (omit for cluster-scoped kinds).
    type: str
  status:
    description: The values to merge into C(status).
    type: dict
    required: true
  kubeconfig:
    description: Path of the kubeconfig (default as the kubernetes client finds it, E(KUBECONFIG) first).
    type: path
  context:
    description: Context of the kubeconfig.
    type: str
requirements:
  - kubernetes (Python) on the controller
"""

EXAMPLES = r"""
- name: Switch the primary over to pg-2
  odooops.hosting.k8s_status_patch:
    api_version: postgresql.cnpg.io/v1
    kind: Cluster
    name: pg
    namespace: acme-prod-erp
    status:
      targetPrimary: pg-2
      phase: Switchover in progress
"""

RETURN = r"""
status:
  description: The object's status after the patch (before it in check mode).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.odooops.hosting.plugins.module_utils.k8s import status as k8s_status


def run(module: AnsibleModule) -> dict:
    p = module.params
    dyn = k8s_status.client(p["kubeconfig"], p["context"])
    result = k8s_status.patch_status(dyn, p["api_version"], p["kind"], p["name"], p["namespace"], p["status"],
                                     check_mode=module.check_mode)
    if module._diff:
        result["diff"] = {"before": {"status": result.pop("before", result["status"])},
                          "after": {"status": result["status"]}}
    else:
        result.pop("before", None)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "api_version": {"type": "str", "required": True},
            "kind": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "namespace": {"type": "str"},
            "status": {"type": "dict", "required": True},
            "kubeconfig": {"type": "path"},
            "context": {"type": "str"},
        },
        supports_check_mode=True,
    )
    if not k8s_status.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"))
    try:
        module.exit_json(**run(module))
    except k8s_status.K8sStatusError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
