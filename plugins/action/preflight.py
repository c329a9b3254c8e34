# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin (runs on the control node, never touches the host): a workflow's inputs for one host, checked
with strict types before any change. Documentation: plugins/modules/preflight.py; logic:
module_utils/preflight/checks.py.

Thin: it gathers the effective value of every option of the roles named (the inventory's value, else the role
default, templated as the role would), and the workflow's own inputs, then hands them to module_utils.
"""
from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.odooops.hosting.plugins.module_utils.preflight import checks as pf
from ansible_collections.odooops.hosting.plugins.module_utils.secrets import store as secrets_store

try:  # ansible-core >= 2.19: only trusted strings are templated
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover - older cores template every string
    def trust_as_template(value):
        return value

ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")

ARGUMENT_SPEC = {
    "workflow": {"type": "str", "required": True, "choices": sorted(pf.WORKFLOW_SPEC)},
    "roles": {"type": "list", "elements": "str", "default": []},
    "secrets": {"type": "bool", "default": False},
    "db_group": {"type": "str", "default": "db"},
}

_MISSING = object()


def _load(path: str):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return value


def role_options(role: str, entry_point: str = "main") -> dict:
    try:
        return pf.load_role_options(ROLES_DIR, role, entry_point)
    except ValueError as exc:
        raise AnsibleActionFail(f"preflight: {exc}") from exc


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def _value(self, templar, name: str, sources: list[dict]):
        for source in sources:
            if name in source:
                try:
                    return templar.template(source[name])
                except AnsibleError:
                    return _MISSING  # depends on facts or plays not run yet: the role checks it when it runs
        return _MISSING

    def _values(self, templar, names, sources) -> dict:
        out = {}
        for name in names:
            value = self._value(templar, name, sources)
            if value is not _MISSING:
                out[name] = value
        return out

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = dict(task_vars or {})
        errors: list[str] = []

        for item in args["roles"]:
            role, _sep, entry = item.partition(":")
            options = role_options(role, entry or "main")
            defaults = _trusted(_load(os.path.join(ROLES_DIR, role, "defaults", "main.yml")))
            role_vars = _trusted(_load(os.path.join(ROLES_DIR, role, "vars", "main.yml")))
            templar = self._templar.copy_with_new_env(available_variables={**defaults, **task_vars, **role_vars})
            values = self._values(templar, options, [role_vars, task_vars, defaults])
            errors += pf.check_options(values, options)
            bad = {e.split(" ", 1)[0].split("[", 1)[0].split(".", 1)[0] for e in errors}
            errors += list(pf.check_role_values(role, {k: v for k, v in values.items() if k not in bad},
                                                secrets=args["secrets"]))

        names = list(pf.COMMON_SPEC) + list(pf.WORKFLOW_SPEC[args["workflow"]]) + ["postgres_ha", "odooops_postgres_ha"]
        values = self._values(self._templar, names, [task_vars])
        errors += pf.check_common(values)
        db_hosts = list(task_vars.get("groups", {}).get(args["db_group"], []))
        errors += pf.check_workflow(args["workflow"], values, db_hosts, list(secrets_store.CATALOGUE))

        unique = list(dict.fromkeys(errors))
        result["changed"] = False
        result["problems"] = unique
        if unique:
            result["failed"] = True
            result["msg"] = (f"preflight of {args['workflow']}: {len(unique)} problem(s) in the inventory or extra "
                             f"vars, nothing was changed: " + "; ".join(unique))
        else:
            result["msg"] = f"preflight of {args['workflow']}: inputs are fine"
        return result
