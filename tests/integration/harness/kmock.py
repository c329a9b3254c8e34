"""Test-only STAND-INs for the Kubernetes apply-path tests: the kmock API server (tests/kubernetes_standin/), NOT a
Kubernetes API server, and fake controllers beside it.

kmock is not a Kubernetes API server: no controllers (nothing rolls out), no admission, no schema checks, merge
semantics only. Tests that use it check the calls our playbooks make and the objects they leave, nothing else.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

from tests.integration.harness.env import ROOT

KMOCK_SERVER = os.path.join(ROOT, "tests", "kubernetes_standin", "kmock_server.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class KmockApi:
    """A running stand-in API server and a kubeconfig pointing at it."""

    def __init__(self, port: int, kubeconfig: str):
        self.port = port
        self.kubeconfig = kubeconfig
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> dict | None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def obj(self, api_version: str, plural: str, namespace: str | None, name: str) -> dict | None:
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        ns = f"/namespaces/{namespace}" if namespace else ""
        return self.get(f"{base}{ns}/{plural}/{name}")


def kmock(tmp_path):
    """Start the stand-in on a free port with a kubeconfig (0600) in tmp_path; yield its KmockApi, stop it after."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, KMOCK_SERVER, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"kmock stand-in did not start: {line} {proc.stderr.read()}")
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
            "clusters": [{"name": "kmock", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "kmock", "user": {"token": "stand-in"}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}]}))
        kubeconfig.chmod(0o600)
        yield KmockApi(port, str(kubeconfig))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
