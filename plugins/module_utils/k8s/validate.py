# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate rendered Kubernetes objects offline: schemas of built-in kinds, CRD schemas, and our policies.

- built-in kinds (Deployment, Service, NetworkPolicy, ...): the ``kubernetes_validate`` package (official
  OpenAPI schemas, strict: unknown fields are errors) for the cluster version of the inventory;
- CRD kinds (Traefik, CloudNativePG): the ``openAPIV3Schema`` of the CRD files in a directory (option
  ``crd_dir`` or env ``ODOOOPS_CRD_DIR``), made strict the way the API server's strict field validation is
  (a field the schema does not declare is an error unless ``x-kubernetes-preserve-unknown-fields``);
- policies: every container has requests, limits and probes and runs as non-root; a default-deny
  NetworkPolicy exists in every namespace; a PodDisruptionBudget covers every Deployment with more than one
  replica (or an HPA); no Secret carries data inline (Secrets are referenced, never rendered).

``validate(objects, version, crd_dir)`` returns a report with counts per validator and raises
``K8sValidationError`` listing every problem (object id and JSON path).
"""
from __future__ import annotations

import copy
import glob
import os
import re
from functools import lru_cache

try:
    import jsonschema
    import yaml
    HAS_DEPS = True
    DEPS_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_DEPS = False
    DEPS_ERROR = str(exc)

try:
    import kubernetes_validate
    HAS_KUBERNETES_VALIDATE = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_KUBERNETES_VALIDATE = False

# kinds for which no schema is available offline; checked structurally and counted as such
STRUCTURAL_ONLY = {("cert-manager.io/v1", "Certificate"): ("spec.secretName", "spec.issuerRef.name")}
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


class K8sValidationError(ValueError):
    def __init__(self, errors: list[str], report: dict | None = None):
        self.errors = errors
        self.report = report or {}
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} validation error(s):\n  {shown}{more}")


def object_id(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"


def _path(error) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(root)"


# -- CRD schemas --------------------------------------------------------------------------------
def crd_dir_from(option: str | None) -> str | None:
    return option or os.environ.get("ODOOOPS_CRD_DIR") or None


def _strict(schema):
    """openAPIV3Schema -> JSON Schema with the API server's strict field validation and nullable."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=8)
def load_crds(crd_dir: str) -> dict:
    """{(apiVersion, kind): json schema} for every served version of every CRD file in crd_dir."""
    if not os.path.isdir(crd_dir):
        raise K8sValidationError([f"CRD directory {crd_dir} does not exist (set crd_dir or ODOOOPS_CRD_DIR)"])
    schemas = {}
    for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml")) + glob.glob(os.path.join(crd_dir, "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            for doc in yaml.load_all(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
                for version in doc["spec"]["versions"]:
                    if not version.get("served", True):
                        continue
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    # metadata is checked by _check_metadata; the CRD only says "object"
                    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                    schemas[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return schemas


def validate_crd_object(obj: dict, crds: dict) -> list[str]:
    schema = crds.get((obj.get("apiVersion"), obj.get("kind")))
    if schema is None:
        return [f"{object_id(obj)}: no CRD schema for {obj.get('apiVersion')} {obj.get('kind')}"]
    validator = jsonschema.Draft7Validator(schema)
    return [f"{object_id(obj)}: {_path(e)}: {e.message}"
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))]


@lru_cache(maxsize=64)
def _builtin_validator(kind: str, api_version: str, version: str):
    """The strict validator of kubernetes_validate for one kind, built once (the package re-reads its 1.2 MB
    definitions file on every call). Same schema selection as kubernetes_validate.validate."""
    from kubernetes_validate import utils
    from referencing import Registry, Resource
    wanted = utils.major_minor(version)
    candidates = [v for v in utils.all_versions() if utils.Version(utils.major_minor(v)) <= utils.Version(wanted)]
    if not candidates:
        raise kubernetes_validate.SchemaNotFoundError(kind=kind, version=wanted, api_version=api_version)
    schema_dir = f"v{candidates[-1]}-local-strict"
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{short}.json", version)
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(kind=kind, version=wanted, api_version=api_version) from None
    definitions = utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry), utils.major_minor(candidates[-1])


def validate_builtin_object(obj: dict, version: str) -> list[str]:
    try:
        validator, used = _builtin_validator(obj["kind"], obj["apiVersion"], version)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{object_id(obj)}: {exc.message}"]
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is not None:
        return [f"{object_id(obj)}: {_path(error)}: {error.message} (Kubernetes {used}, strict)"]
    return []


def _check_metadata(obj: dict) -> list[str]:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    errors = []
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        errors.append(f"{object_id(obj)}: metadata.name {name!r} is not a DNS-1123 subdomain")
    for key, value in (meta.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63:
            errors.append(f"{object_id(obj)}: metadata.labels.{key} must be a string of at most 63 characters")
    return errors


def _dig(obj: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


# -- policies --------------------------------------------------------------------------------------
def _pod_spec(obj: dict) -> dict | None:
    if obj.get("kind") in WORKLOAD_KINDS:
        return _dig(obj, "spec.template.spec")
    return None


def check_policies(objects: list[dict]) -> list[str]:
    errors = []
    namespaces = {o["metadata"]["name"] for o in objects if o.get("kind") == "Namespace"}
    namespaces |= {o["metadata"].get("namespace") for o in objects if o.get("metadata", {}).get("namespace")}
    deny = {o["metadata"].get("namespace") for o in objects if o.get("kind") == "NetworkPolicy"
            and o.get("spec", {}).get("podSelector") == {}
            and set(o["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not o["spec"].get("ingress") and not o["spec"].get("egress")}
    for ns in sorted(n for n in namespaces if n):
        if ns not in deny:
            errors.append(f"Namespace/{ns}: no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, "
                          f"no rules)")
    hpa_min = {(o["metadata"].get("namespace"), o["spec"]["scaleTargetRef"]["name"]): o["spec"].get("minReplicas", 1)
               for o in objects if o.get("kind") == "HorizontalPodAutoscaler"}
    pdbs = [o for o in objects if o.get("kind") == "PodDisruptionBudget"]
    for obj in objects:
        oid = object_id(obj)
        if obj.get("kind") == "Secret" and (obj.get("data") or obj.get("stringData")):
            errors.append(f"{oid}: Secret with inline data; reference an existing Secret by name instead")
        if obj.get("kind") == "ConfigMap":
            for key in (obj.get("data") or {}):
                if re.search(r"passw|secret|token|key", key, re.I):
                    errors.append(f"{oid}: ConfigMap key {key!r} looks like a secret; use a Secret reference")
        spec = _pod_spec(obj)
        if spec is None:
            continue
        pod_sc = spec.get("securityContext") or {}
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            cid = f"{oid}: container {container.get('name')}"
            res = container.get("resources") or {}
            for scope in ("requests", "limits"):
                for kind in ("cpu", "memory"):
                    if not (res.get(scope) or {}).get(kind):
                        errors.append(f"{cid}: resources.{scope}.{kind} missing")
            if obj["kind"] != "Job":
                for probe in ("readinessProbe", "livenessProbe"):
                    if not container.get(probe):
                        errors.append(f"{cid}: {probe} missing")
            sc = container.get("securityContext") or {}
            non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            if non_root is not True or uid == 0:
                errors.append(f"{cid}: must run as non-root (securityContext.runAsNonRoot: true, runAsUser != 0)")
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{cid}: securityContext.allowPrivilegeEscalation must be false")
            for env in container.get("env", []):
                if "value" in env and re.search(r"PASSW|SECRET|TOKEN|_KEY$", env.get("name", ""), re.I):
                    errors.append(f"{cid}: env {env['name']} has a literal value; use valueFrom.secretKeyRef")
            for arg in container.get("args", []) + container.get("command", []):
                if re.search(r"passw(or)?d[=\s]", str(arg), re.I):
                    errors.append(f"{cid}: a password option on the command line")
        if obj["kind"] in ("Deployment", "StatefulSet"):
            ns = obj["metadata"].get("namespace")
            replicas = hpa_min.get((ns, obj["metadata"]["name"]), obj["spec"].get("replicas", 1))
            labels = _dig(obj, "spec.template.metadata.labels") or {}
            covered = any(p["metadata"].get("namespace") == ns and
                          all(labels.get(k) == v for k, v in
                              (_dig(p, "spec.selector.matchLabels") or {"-": object()}).items())
                          for p in pdbs)
            if replicas > 1 and not covered:
                errors.append(f"{oid}: {replicas} replicas but no PodDisruptionBudget selects its pods")
    return errors


def validate(objects: list[dict], version: str, crd_dir: str | None = None, policies: bool = True) -> dict:
    """Validate objects; returns the report, raises K8sValidationError with every error."""
    if not HAS_DEPS or not HAS_KUBERNETES_VALIDATE:
        raise K8sValidationError(["the Python packages jsonschema, PyYAML and kubernetes-validate are required"])
    crd_dir = crd_dir_from(crd_dir)
    crds = load_crds(os.path.abspath(crd_dir)) if crd_dir else {}
    report = {"objects": len(objects), "builtin": 0, "crd": 0, "structural": 0, "policy_checked": 0,
              "kinds": {}, "errors": []}
    errors: list[str] = []
    for obj in objects:
        key = (obj.get("apiVersion"), obj.get("kind"))
        report["kinds"][obj.get("kind")] = report["kinds"].get(obj.get("kind"), 0) + 1
        errors += _check_metadata(obj)
        api_version = str(obj.get("apiVersion", ""))
        group = api_version.split("/", maxsplit=1)[0] if "/" in api_version else ""
        if key in STRUCTURAL_ONLY:
            report["structural"] += 1
            for dotted in STRUCTURAL_ONLY[key]:
                if not _dig(obj, dotted):
                    errors.append(f"{object_id(obj)}: {dotted} is required")
        elif "." in group and not group.endswith(".k8s.io"):
            if not crds:
                errors.append(f"{object_id(obj)}: CRD kind {obj.get('kind')} but no CRD directory (crd_dir or "
                              f"ODOOOPS_CRD_DIR)")
                continue
            report["crd"] += 1
            errors += validate_crd_object(obj, crds)
        else:
            report["builtin"] += 1
            errors += validate_builtin_object(obj, version)
    if policies:
        report["policy_checked"] = len(objects)
        errors += check_policies(objects)
    report["errors"] = errors
    if errors:
        raise K8sValidationError(errors, report)
    return report
