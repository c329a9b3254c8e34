"""Every plugin's DOCUMENTATION, EXAMPLES and RETURN are YAML that ansible-doc can read (a stray ': ' in a
description makes ansible-doc and ansible-lint fail on the module), and every module documents its options."""
from __future__ import annotations

import ast
import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = sorted(p for p in glob.glob(os.path.join(ROOT, "plugins", "*", "*.py"))
                 if not any(os.sep + d + os.sep in p for d in ("module_utils", "doc_fragments", "action"))
                 and not p.endswith("__init__.py"))


def doc_blocks(path: str) -> dict[str, str]:
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    return {n.targets[0].id: n.value.value for n in tree.body
            if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
            and n.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN") and isinstance(n.value, ast.Constant)}


def filter_names(path: str) -> list[str]:
    """Names a FilterModule's filters() returns (its dict literal's keys)."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "filters":
            for sub in ast.walk(node):
                if isinstance(sub, ast.Dict):
                    return [k.value for k in sub.keys if isinstance(k, ast.Constant)]
    return []


@pytest.mark.parametrize("path", PLUGINS, ids=lambda p: os.path.relpath(p, ROOT))
def test_docs_are_yaml(path):
    blocks = doc_blocks(path)
    if os.sep + "filter" + os.sep in path and not blocks:
        # a file of several filters documents each one in <filter name>.yml beside it, as ansible-doc reads them
        names = filter_names(path)
        missing = [n for n in names if not os.path.exists(os.path.join(os.path.dirname(path), n + ".yml"))]
        assert names and not missing, f"{os.path.relpath(path, ROOT)}: no documentation for filters {missing}"
        for name in names:
            with open(os.path.join(os.path.dirname(path), name + ".yml"), encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
            assert doc["DOCUMENTATION"]["name"] == name and doc["DOCUMENTATION"].get("short_description")
            assert doc.get("EXAMPLES") and doc.get("RETURN"), f"{name}.yml: EXAMPLES and RETURN expected"
        return
    assert "DOCUMENTATION" in blocks, f"{path} has no DOCUMENTATION"
    for name, text in blocks.items():
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as exc:
            pytest.fail(f"{os.path.relpath(path, ROOT)} {name} is not YAML: {exc}")
    doc = yaml.safe_load(blocks["DOCUMENTATION"])
    assert doc.get("short_description"), f"{path}: short_description missing"
