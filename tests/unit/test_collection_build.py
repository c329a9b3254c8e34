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
    dest, _unused = installed
    coll = dest / "ansible_collections" / "odooops" / "hosting"
    assert (coll / "galaxy.yml").exists() or (coll / "MANIFEST.json").exists()
    for excluded in ("testbed", ".venv", ".collections", "bench", ".ci"):
        assert not (coll / excluded).exists(), excluded


def test_ansible_doc_lists_every_module(installed):
    dest, _unused = installed
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(dest)}
    res = subprocess.run([f"{BIN}/ansible-doc", "-l", "odooops.hosting", "-j"], env=env, capture_output=True,
                         text=True, check=True)
    listed = set(__import__("json").loads(res.stdout))
    modules = {f"odooops.hosting.{os.path.basename(p)[:-3]}" for p in glob.glob(f"{ROOT}/plugins/modules/*.py")
               if not os.path.basename(p).startswith("_")}
    assert modules <= listed, modules - listed


def test_tarball_never_packs_secrets_reports_or_caches(tmp_path):
    """After `make demo` the tree holds the vault password, the vault, audits and reports (all gitignored): the
    collection built from it packs none of them. Built from a copy, so the real tree is never written to."""
    import secrets
    import shutil
    import tarfile

    secret = "vault-pass-" + secrets.token_hex(12)
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", ".collections", ".git", "__pycache__", "*.tar.gz"))
    generated = {
        ".odooops/vault-pass": secret,                                   # playbooks/secrets_init.yml
        ".odooops/secrets-audit.jsonl": f'{{"event": "init", "probe": "{secret}"}}\n',
        ".odooops/upgrades.jsonl": f'{{"outcome": "ok", "probe": "{secret}"}}\n',  # inventories/local upgrade audit
        ".odooops/reports/drills/drill-odoo-1.json": f'{{"probe": "{secret}"}}',
        "inventories/local/group_vars/all/vault.yml": f"$ANSIBLE_VAULT;1.1;AES256\n{secret}\n",
        "inventories/examples/multitenant/group_vars/all/vault.yml": f"$ANSIBLE_VAULT;1.1;AES256\n{secret}\n",
        "reports/drills/drill-odoo-1.txt": secret,                       # dr_drill.yml's default report_dir
        ".venv/secret.txt": secret,
        ".collections/secret.txt": secret,
        ".ansible/collections/secret.txt": secret,                       # ansible-lint's cache
        ".pytest_cache/v/cache/secret": secret,
        "molecule/odoo/.cache/secret": secret,
        "ansible.log": secret,
        "playbooks/provision.retry": secret,
    }
    for rel, content in generated.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    res = subprocess.run([f"{BIN}/ansible-galaxy", "collection", "build", "--output-path", str(out), str(tree)],
                         check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    [tarball] = glob.glob(str(out / "odooops-hosting-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
        leaked = [name for name, m in members.items()
                  if m.isfile() and secret.encode() in tar.extractfile(m).read()]
    assert leaked == [], leaked
    assert not [rel for rel in generated if rel in members]
    assert not [n for n in members if n.split("/")[0] in (".odooops", "reports", ".venv", ".collections", ".ansible")
                or n.endswith("vault.yml") or "vault-pass" in n or "/.cache" in n]
    # and nothing the collection needs was left out
    for needed in ("plugins/module_utils/postgres/scram.py", "roles/postgres/tasks/primary.yml",
                   "playbooks/dr_drill.yml",
                   "inventories/local/hosts.yml", "inventories/local/group_vars/all/backup.yml"):
        assert needed in members, needed
