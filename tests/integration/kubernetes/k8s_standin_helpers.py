"""Test-only STAND-IN helpers for the Kubernetes apply-path tests (imported by a unique name, not as conftest)."""
from __future__ import annotations

import contextlib
import json
import threading
import urllib.request


class FakeControllers:
    """STAND-IN for the controllers a real cluster runs (test only): every 0.3 s it copies each Deployment's
    spec.replicas into a ready status, marks the CloudNativePG Cluster Ready, and finishes Jobs with the outcome
    the test chose by name prefix. It lets the playbooks' waiting steps run against kmock; it says nothing about
    how real controllers behave."""

    def __init__(self, api, namespace: str, job_outcomes: dict[str, str]):
        self.api, self.namespace, self.job_outcomes = api, namespace, job_outcomes
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _patch(self, path: str, body: dict) -> None:
        req = urllib.request.Request(self.api.url + path, data=json.dumps(body).encode(), method="PATCH",
                                     headers={"Content-Type": "application/merge-patch+json"})
        with urllib.request.urlopen(req, timeout=10):
            pass

    def _tick(self) -> None:
        ns = self.namespace
        for dep in (self.api.get(f"/apis/apps/v1/namespaces/{ns}/deployments") or {}).get("items", []):
            n = dep["spec"].get("replicas", 1)
            self._patch(f"/apis/apps/v1/namespaces/{ns}/deployments/{dep['metadata']['name']}", {"status": {
                "replicas": n, "readyReplicas": n, "availableReplicas": n, "updatedReplicas": n,
                "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}]}})
        for cluster in (self.api.get(f"/apis/postgresql.cnpg.io/v1/namespaces/{ns}/clusters") or {}).get("items", []):
            if not cluster.get("status", {}).get("conditions"):
                self._patch(f"/apis/postgresql.cnpg.io/v1/namespaces/{ns}/clusters/{cluster['metadata']['name']}",
                            {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        for job in (self.api.get(f"/apis/batch/v1/namespaces/{ns}/jobs") or {}).get("items", []):
            name = job["metadata"]["name"]
            outcome = next((o for prefix, o in self.job_outcomes.items() if name.startswith(prefix)), "succeeded")
            if not job.get("status"):
                self._patch(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}", {"status": {outcome: 1}})

    def _run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(OSError):   # the stand-in is stopping, or a race with the playbook
                self._tick()
            self.stop.wait(0.3)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
