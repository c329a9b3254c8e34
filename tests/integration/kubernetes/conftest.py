"""Fixtures of the Kubernetes apply-path tests: the kmock STAND-IN API server (tests/kubernetes_standin/).

kmock is not a Kubernetes API server: no controllers (nothing rolls out), no admission, no schema checks, merge
semantics only. Tests that use it check the calls our playbooks make and the objects they leave, nothing else.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


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


@pytest.fixture
def kmock_api(tmp_path):
    yield from _kmock(tmp_path)


@pytest.fixture(scope="module")
def kmock_api_module(tmp_path_factory):
    yield from _kmock(tmp_path_factory.mktemp("kmock"))


def _kmock(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "kubernetes_standin", "kmock_server.py"),
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


@pytest.fixture(scope="session")
def crd_dir(shared_dir) -> str:
    path = os.path.join(shared_dir, "schemas", "crds")
    if not os.path.isdir(path):
        pytest.skip(f"CRD schemas not found at {path}")
    return path
