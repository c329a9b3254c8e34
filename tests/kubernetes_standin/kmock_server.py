"""STAND-IN, not a Kubernetes API server: kmock's KubernetesEmulator served on 127.0.0.1 for the apply path.

kmock (PyPI, MIT) keeps objects in memory and answers discovery, create, get, list, merge-patch and
delete. It has no admission, no controllers (nothing ever rolls out, no status), no server-side apply
field management and no schema validation. Passing against it says only that our kubernetes.core
calls are well-formed and in the right order; it is no claim about a real cluster (see docs/kubernetes.md).

Usage: python kmock_server.py [port]  -> prints "READY <port>" and serves until killed.
"""
from __future__ import annotations

import asyncio
import sys

import kmock
from kmock._internal import parsing

_parse_path = parsing.parse_path


def _parse_path_with_namespaces(path: str) -> parsing.ParsedPath:
    """kmock 0.8 reads /api/v1/namespaces[/<name>] as a namespaced path and fails (HTTP 500) on creating a
    Namespace; the Namespace object itself lives at that path, so parse it as the cluster-scoped resource."""
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 5 and (len(parts) <= 4 or parts[4] in
                                                                         ("status", "finalize")):
        return parsing.ParsedPath("", "v1", "namespaces", None, parts[3] if len(parts) > 3 else None,
                                  parts[4] if len(parts) > 4 else None)
    return _parse_path(path)


parsing.parse_path = _parse_path_with_namespaces

# the resources our playbooks touch: (group/version/plural, kind, namespaced)
RESOURCES = [
    ("v1/namespaces", "Namespace", False), ("v1/serviceaccounts", "ServiceAccount", True),
    ("v1/services", "Service", True), ("v1/secrets", "Secret", True), ("v1/configmaps", "ConfigMap", True),
    ("v1/persistentvolumeclaims", "PersistentVolumeClaim", True), ("v1/resourcequotas", "ResourceQuota", True),
    ("v1/limitranges", "LimitRange", True), ("v1/pods", "Pod", True),
    ("apps/v1/deployments", "Deployment", True), ("apps/v1/statefulsets", "StatefulSet", True),
    ("batch/v1/jobs", "Job", True), ("policy/v1/poddisruptionbudgets", "PodDisruptionBudget", True),
    ("autoscaling/v2/horizontalpodautoscalers", "HorizontalPodAutoscaler", True),
    ("networking.k8s.io/v1/networkpolicies", "NetworkPolicy", True),
    ("rbac.authorization.k8s.io/v1/roles", "Role", True),
    ("rbac.authorization.k8s.io/v1/rolebindings", "RoleBinding", True),
    ("traefik.io/v1alpha1/ingressroutes", "IngressRoute", True),
    ("traefik.io/v1alpha1/middlewares", "Middleware", True),
    ("postgresql.cnpg.io/v1/clusters", "Cluster", True), ("postgresql.cnpg.io/v1/backups", "Backup", True),
    ("postgresql.cnpg.io/v1/scheduledbackups", "ScheduledBackup", True),
    ("postgresql.cnpg.io/v1/poolers", "Pooler", True),
    ("cert-manager.io/v1/certificates", "Certificate", True),
]


class StandInEmulator(kmock.KubernetesEmulator):
    """Gaps of kmock 0.8 filled for kubernetes.core: server-side apply of an absent object creates it (kmock
    answers 404), lists carry kind/apiVersion (the Python client needs them), and a new Deployment gets the API
    server's default spec.replicas = 1 (k8s_scale reads it)."""

    async def _handle(self, request):
        content_type = request.headers.get("Content-Type", "")
        if (request.resource is not None and request.resource.plural == "deployments" and not request.subresource
                and isinstance(request.data, dict) and isinstance(request.data.get("spec"), dict)):
            key = (request.resource, request.namespace, request.name)
            if key not in self._objects or self._objects[key].deleted:
                request.data["spec"].setdefault("replicas", 1)
        if (request.action == kmock.action.UPDATE and request.resource is not None and request.name
                and "apply-patch" in content_type and not request.subresource):
            key = (request.resource, request.namespace, request.name)
            async with self._lock:
                if key not in self._objects or self._objects[key].deleted:
                    self._objects[key] = request.data
        return await super()._handle(request)

    async def _serve_list(self, request):
        data = await super()._serve_list(request)
        kind = self.resources[request.resource].kind if request.resource in self.resources else None
        group = request.resource.group
        data["apiVersion"] = f"{group}/{request.resource.version}" if group else request.resource.version
        data["kind"] = f"{kind or 'Object'}List"
        return data


async def main(port: int) -> None:
    async with StandInEmulator() as emulator:
        for key, kind, namespaced in RESOURCES:
            plural = key.rsplit("/", 1)[1]
            emulator.resources[key] = kmock.ResourceInfo(
                kind=kind, namespaced=namespaced, singular=kind.lower(),
                verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
                subresources={"status", "scale"} if plural in ("deployments", "clusters") else set())
        async with kmock.Server(emulator, port=port) as server:
            print(f"READY {server.port}", flush=True)
            await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
