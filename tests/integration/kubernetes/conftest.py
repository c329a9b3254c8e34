"""Fixtures of the Kubernetes apply-path tests: the kmock STAND-IN API server (tests/kubernetes_standin/; see
tests/integration/harness/kmock.py): not a Kubernetes API server.
"""
from __future__ import annotations

import os

import pytest

from tests.integration.harness.kmock import kmock


@pytest.fixture
def kmock_api(tmp_path):
    yield from kmock(tmp_path)


@pytest.fixture(scope="module")
def kmock_api_module(tmp_path_factory):
    yield from kmock(tmp_path_factory.mktemp("kmock"))


@pytest.fixture(scope="session")
def crd_dir(shared_dir) -> str:
    path = os.path.join(shared_dir, "schemas", "crds")
    if not os.path.isdir(path):
        pytest.skip(f"CRD schemas not found at {path}")
    return path
