# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of rendered Traefik v3 configuration (plain Python, no Ansible needed).

Traefik is not available everywhere the collection is tested, so what the traefik role renders is checked
against Traefik's published JSON Schemas (static configuration, and the file provider's dynamic
configuration), plus the cross-references a schema cannot see: every router's service and middlewares must
be defined (in one of the dynamic files given together, as Traefik's file provider merges a directory) and its
entry points must exist in the static configuration.
"""
from __future__ import annotations

import json
import os

try:
    import jsonschema

    HAS_JSONSCHEMA = True
except ImportError:  # pragma: no cover - reported by the caller
    HAS_JSONSCHEMA = False

STATIC_SCHEMA = "traefik-v3.json"
DYNAMIC_SCHEMA = "traefik-v3-file-provider.json"


class TraefikConfigError(Exception):
    """The configuration is invalid; .problems lists every finding as 'file: path: message'."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("invalid Traefik configuration:\n  " + "\n  ".join(self.problems))


def load_schema(schema_dir, name):
    with open(os.path.join(schema_dir, name), encoding="utf-8") as fh:
        return json.load(fh)


def schema_problems(doc, schema, label="config"):
    """Every JSON Schema violation of doc, as readable strings (empty list when valid)."""
    if not HAS_JSONSCHEMA:
        raise TraefikConfigError([label + ": the jsonschema Python library is needed to validate"])
    validator = jsonschema.Draft7Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        out.append(f"{label}: {where}: {err.message}")
    return out


def _bare(name):
    """'foo@file' -> 'foo'; references to other providers ('@docker', '@internal') are not checked."""
    if "@" in name:
        base, provider = name.rsplit("@", 1)
        return base if provider == "file" else None
    return name


def reference_problems(dynamic_docs, static_doc=None):
    """Dangling references between routers, services, middlewares and entry points.

    dynamic_docs: {label: parsed dynamic document} merged as Traefik's file provider merges a directory.
    """
    services, middlewares, routers = set(), set(), []
    for label, doc in dynamic_docs.items():
        http = (doc or {}).get("http") or {}
        services.update((http.get("services") or {}).keys())
        middlewares.update((http.get("middlewares") or {}).keys())
        routers.extend((label, name, spec or {}) for name, spec in (http.get("routers") or {}).items())
    entrypoints = None
    if static_doc is not None:
        entrypoints = set(((static_doc or {}).get("entryPoints") or {}).keys())
    out = []
    for label, name, spec in routers:
        svc = spec.get("service")
        if svc and _bare(svc) is not None and _bare(svc) not in services:
            out.append(f"{label}: http/routers/{name}: service {svc!r} is not defined")
        for mw in spec.get("middlewares") or []:
            if _bare(mw) is not None and _bare(mw) not in middlewares:
                out.append(f"{label}: http/routers/{name}: middleware {mw!r} is not defined")
        if entrypoints is not None:
            for ep in spec.get("entryPoints") or []:
                if ep not in entrypoints:
                    out.append(f"{label}: http/routers/{name}: entry point {ep!r} is not in the static configuration")
    return out


def validate(schema_dir, static_doc=None, dynamic_docs=None):
    """Raise TraefikConfigError listing every problem; return None when everything is valid."""
    problems = []
    if static_doc is not None:
        problems += schema_problems(static_doc, load_schema(schema_dir, STATIC_SCHEMA), "static")
    dynamic_docs = dynamic_docs or {}
    if dynamic_docs:
        schema = load_schema(schema_dir, DYNAMIC_SCHEMA)
        for label, doc in dynamic_docs.items():
            problems += schema_problems(doc if doc is not None else {}, schema, label)
        problems += reference_problems(dynamic_docs, static_doc)
    if problems:
        raise TraefikConfigError(problems)
