# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge-patch the status subresource of an object (kubernetes.core has no subresource support).

Used by the CloudNativePG switchover: ``status.targetPrimary`` is what ``kubectl cnpg promote`` sets.
"""
from __future__ import annotations

try:
    from kubernetes import config as k8s_config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
    HAS_KUBERNETES = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_KUBERNETES = False


class K8sStatusError(RuntimeError):
    pass


def client(kubeconfig: str | None = None, context: str | None = None):
    try:
        return DynamicClient(k8s_config.new_client_from_config(config_file=kubeconfig, context=context))
    except (k8s_config.ConfigException, OSError) as exc:
        raise K8sStatusError(f"cannot load the kubeconfig: {exc}") from exc


def _contains(current, wanted) -> bool:
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(_contains(current.get(k), v) for k, v in wanted.items())
    return current == wanted


def patch_status(dyn, api_version: str, kind: str, name: str, namespace: str | None, status: dict,
                 check_mode: bool = False) -> dict:
    """Merge status into the object's status; changed only when it was not already there."""
    try:
        resource = dyn.resources.get(api_version=api_version, kind=kind)
        current = resource.get(name=name, namespace=namespace).to_dict()
    except ResourceNotFoundError as exc:
        raise K8sStatusError(f"the API server does not serve {api_version} {kind}") from exc
    except (DynamicApiError, ApiException) as exc:
        raise K8sStatusError(f"cannot read {kind} {namespace}/{name}: {getattr(exc, 'status', '')} "
                             f"{getattr(exc, 'reason', exc)}") from exc
    before = current.get("status") or {}
    if _contains(before, status):
        return {"changed": False, "status": before}
    if check_mode:
        return {"changed": True, "status": before}
    try:
        after = resource.status.patch(body={"status": status}, name=name, namespace=namespace,
                                      content_type="application/merge-patch+json").to_dict()
    except (DynamicApiError, ApiException) as exc:
        raise K8sStatusError(f"cannot patch the status of {kind} {namespace}/{name}: {getattr(exc, 'status', '')} "
                             f"{getattr(exc, 'reason', exc)}") from exc
    return {"changed": True, "status": after.get("status") or {}, "before": before}
