#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_platform_render
short_description: Render the Kubernetes target of an inventory, validate it offline, write the GitOps tree
description:
  - Turns the platform description O(platform) (the inventory's C(odooops_kubernetes)) into Kubernetes objects per
    environment and tenant (Namespace, ResourceQuota, LimitRange, NetworkPolicies, RBAC, Odoo web and cron
    Deployments, Service, PDB, HPA, Redis, filestore claim, Traefik IngressRoute and Middlewares, CloudNativePG
    Cluster, ScheduledBackup, Pooler), see docs/kubernetes.md.
  - Validates every object on every run, before anything is written - built-in kinds with C(kubernetes-validate)
    (strict, for the C(kubernetes_version) of O(platform)), Traefik and CloudNativePG objects against their CRDs'
    C(openAPIV3Schema) (O(crd_dir)), and the policies (requests, limits, probes, non-root, default-deny, PDB,
    no inline Secret data).
  - Writes a kustomize tree (base and overlays per environment and tenant) to O(dest); unchanged files are not
    rewritten, so a second run reports no change. Secrets are referenced by name only; O(secret_values) lets the
    module prove that none of the given values reached the tree (the values are never shown).
  - Runs on the controller (delegated to C(localhost)); it needs no cluster.
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
  platform:
    description: The platform description (keys in docs/kubernetes.md and plugins/module_utils/k8s/render.py).
    type: dict
    required: true
  dest:
    description: Directory of the GitOps tree; omit to render and validate only.
    type: path
  crd_dir:
    description:
      - Directory of CRD files (C(*.yaml)) holding the Traefik and CloudNativePG schemas.
      - Defaults to the environment variable E(ODOOOPS_CRD_DIR).
    type: path
  validate:
    description: Validate the objects (do not turn off outside of debugging).
    type: bool
    default: true
  secret_values:
    description: Secret values that must not appear in the tree (e.g. the vault's passwords); the module fails,
      naming only the files, when one does.
    type: list
    elements: str
    default: []
  return_objects:
    description: Return the rendered objects (for M(kubernetes.core.k8s)) in RV(objects).
    type: bool
    default: false
requirements:
  - PyYAML, jsonschema, kubernetes-validate on the controller
"""

EXAMPLES = r"""
- name: Render, validate and write the GitOps tree
  odooops.hosting.k8s_platform_render:
    platform: "{{ odooops_kubernetes }}"
    dest: "{{ playbook_dir }}/../gitops"
    crd_dir: /opt/crds
    secret_values: "{{ [odooops_db_password, odooops_s3_secret_key] }}"
  delegate_to: localhost
"""

RETURN = r"""
tenants:
  description: Per environment and tenant - key, namespace, number of objects, kinds, sizing (workers, replicas,
    HPA maximum, connection budget and peak), and the merged settings (names of Secrets, never values).
  returned: always
  type: list
  elements: dict
validation:
  description: Counts - objects, builtin (kubernetes-validate), crd (CRD schemas), structural (no schema
    offline), policy_checked.
  returned: always
  type: dict
files:
  description: created, updated, removed and unchanged paths of the tree (relative to O(dest)).
  returned: when O(dest) is set
  type: dict
digest:
  description: SHA-256 over the whole tree (paths and contents).
  returned: always
  type: str
objects:
  description: The rendered objects, tenant by tenant (when O(return_objects)).
  returned: when O(return_objects)
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.odooops.hosting.plugins.module_utils.k8s import gitops as k8s_gitops
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import render as k8s_render
from ansible_collections.odooops.hosting.plugins.module_utils.k8s import validate as k8s_validate


def run(module: AnsibleModule) -> dict:
    p = module.params
    _platform, tenants = k8s_render.render(p["platform"])
    version = str(_platform["kubernetes_version"])
    totals = {"objects": 0, "builtin": 0, "crd": 0, "structural": 0, "policy_checked": 0}
    summary = []
    for t in tenants:
        report = k8s_validate.validate(t.objects, version, p["crd_dir"]) if p["validate"] else {}
        for key in totals:
            totals[key] += report.get(key, 0)
        summary.append({"key": t.key, "environment": t.environment, "tenant": t.name, "namespace": t.namespace,
                        "objects": len(t.objects), "kinds": report.get("kinds", {}), "sizing": t.sizing,
                        "settings": t.s})
    files = k8s_gitops.tree(tenants)
    leaked = k8s_gitops.find_values(files, p["secret_values"])
    if leaked:
        raise k8s_gitops.K8sGitopsError(f"a secret value appears in {', '.join(leaked)}: refusing to write the tree")
    result = {"changed": False, "tenants": summary, "validation": totals, "digest": k8s_gitops.digest(files)}
    if p["dest"]:
        written = k8s_gitops.write(p["dest"], files, check_mode=module.check_mode)
        result["changed"] = written["changed"]
        result["files"] = {k: written[k] for k in ("created", "updated", "removed", "unchanged")}
        if module._diff:
            result["diff"] = written["diff"]
    if p["return_objects"]:
        result["objects"] = [o for t in tenants for o in t.objects]
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "platform": {"type": "dict", "required": True},
            "dest": {"type": "path"},
            "crd_dir": {"type": "path"},
            "validate": {"type": "bool", "default": True},
            "secret_values": {"type": "list", "elements": "str", "default": [], "no_log": True},
            "return_objects": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    if not k8s_gitops.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=k8s_gitops.YAML_IMPORT_ERROR)
    try:
        module.exit_json(**run(module))
    except (k8s_render.K8sRenderError, k8s_validate.K8sValidationError, k8s_gitops.K8sGitopsError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"cannot write the GitOps tree: {exc}")


if __name__ == "__main__":
    main()
