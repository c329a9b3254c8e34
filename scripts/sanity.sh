#!/usr/bin/env bash
# ansible-test sanity on the collection as it is tracked: ansible-test wants the collection under
# .../ansible_collections/odooops/hosting (a real directory, not a symlink to the working tree), with the
# collections it depends on beside it. The tracked files (and new ones git does not ignore) are copied into a
# temporary tree, the dependencies (from the PyPI "ansible" wheel in .venv) are linked beside them, and the
# download ansible-test needs to bootstrap pip in its test environments (not reachable here) is replaced by
# scripts/ansible-test-get-pip.py. Arguments go to "ansible-test sanity" (default: every test, Python 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv_collections=$(.venv/bin/python -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__file__) if getattr(ansible_collections, "__file__", None) else list(ansible_collections.__path__)[0])')
pip_version=$(.venv/bin/python - <<'PY'
import re, pathlib, ansible_test
text = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", text).group(1))
PY
)
mkdir -p ~/.ansible/test/cache
cp scripts/ansible-test-get-pip.py ~/.ansible/test/cache/get_pip_${pip_version//./_}.py
work=$(mktemp -d /tmp/odooops-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/odooops/hosting
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
  [ -e "$f" ] && cp --parents -P "$f" "$dest/"
done
for ns in "$venv_collections"/*/; do
  ns=$(basename "$ns")
  [ "$ns" = odooops ] || [ "$ns" = __pycache__ ] || ln -sfn "$venv_collections/$ns" "$work/ansible_collections/$ns"
done
cd "$dest"
"$root/.venv/bin/ansible-test" sanity --python 3.11 --color no "$@"
