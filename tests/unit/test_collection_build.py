"""The collection builds, installs into a fresh path and its plugins are listed by ansible-doc."""
from __future__ import annotations

import glob
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    dest = tmp_path_factory.mktemp("collections")
    subprocess.run([f"{BIN}/ansible-galaxy", "collection", "build", "--output-path", str(out), ROOT], check=True,
                   capture_output=True, text=True)
    tarballs = glob.glob(str(out / "odooops-hosting-*.tar.gz"))
    assert len(tarballs) == 1
    subprocess.run([f"{BIN}/ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", str(dest),
                    tarballs[0]], check=True, capture_output=True, text=True)
    return dest, tarballs[0]


def test_tarball_leaves_out_the_test_bed(installed):
    dest, _ = installed
    coll = dest / "ansible_collections" / "odooops" / "hosting"
    assert (coll / "galaxy.yml").exists() or (coll / "MANIFEST.json").exists()
    for excluded in ("testbed", ".venv", ".collections", "bench", ".ci"):
        assert not (coll / excluded).exists(), excluded


def test_ansible_doc_lists_every_module(installed):
    dest, _ = installed
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(dest)}
    res = subprocess.run([f"{BIN}/ansible-doc", "-l", "odooops.hosting", "-j"], env=env, capture_output=True,
                         text=True, check=True)
    listed = set(__import__("json").loads(res.stdout))
    modules = {f"odooops.hosting.{os.path.basename(p)[:-3]}" for p in glob.glob(f"{ROOT}/plugins/modules/*.py")
               if not os.path.basename(p).startswith("_")}
    assert modules <= listed, modules - listed
