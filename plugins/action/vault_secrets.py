# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin (runs on the control node): the platform's secrets in an Ansible Vault-encrypted vars file.

Thin: argument spec, vault read/write, atomic 0600 file; the catalogue, generation, pending/commit, schedule
and audit logic is in module_utils/secrets/store.py. Documentation: plugins/modules/vault_secrets.py.
"""
from __future__ import annotations

import base64
import getpass
import os
import tempfile

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.parsing.vault import VaultLib, VaultSecret, is_encrypted, match_encrypt_secret
from ansible.plugins.action import ActionBase

from ansible_collections.odooops.hosting.plugins.module_utils.secrets import store as st

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "vault_password_file": {"type": "path"},
    "create_password_file": {"type": "bool", "default": False},
    "encrypt_vault_id": {"type": "str"},
    "ensure": {"type": "list", "elements": "str", "default": []},
    "begin": {"type": "list", "elements": "str", "default": []},
    "begin_values": {"type": "dict", "default": {}, "no_log": True},
    "commit": {"type": "list", "elements": "str", "default": []},
    "discard": {"type": "list", "elements": "str", "default": []},
    "return_values": {"type": "bool", "default": False},
    "max_age_days": {"type": "dict", "default": {}},
    "audit_log": {"type": "path"},
    "audit_by": {"type": "str"},
    "audit_details": {"type": "dict", "default": {}},
}


def _password_file_secret(path: str, create: bool) -> list:
    if not os.path.exists(path):
        if not create:
            raise AnsibleActionFail(f"vault password file {path} does not exist (create_password_file: true "
                                    "makes one)")
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    with open(path, "rb") as fh:
        return [("default", VaultSecret(fh.read().strip()))]


def _plain(value):
    """Native Python types (ansible-core 2.19 hands templated values over as tagged str/dict/list subclasses)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    return value


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        args = _plain(args)
        try:
            result.update(self._run(args))
        except st.SecretsError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        return result

    def _secrets(self, args) -> list:
        if args["vault_password_file"]:
            return _password_file_secret(args["vault_password_file"], args["create_password_file"])
        secrets = self._loader._vault.secrets  # the run's --vault-id / --vault-password-file secrets
        if not secrets:
            raise AnsibleActionFail("no vault secret: run with --vault-password-file (or --vault-id), or set "
                                    "vault_password_file")
        return secrets

    def _run(self, args) -> dict:
        path = args["path"]
        secrets = self._secrets(args)
        vault = VaultLib(secrets)
        data = {}
        used = None  # the secret that opened the file encrypts it again
        if os.path.exists(path):
            with open(path, "rb") as fh:
                raw = fh.read()
            try:
                if is_encrypted(raw):
                    text, used_id, used_secret = vault.decrypt_and_get_vault_id(raw)
                    used = (used_id, used_secret)
                else:
                    text = raw
            except Exception as exc:  # wrong password: say so, never show the file
                raise AnsibleActionFail(f"cannot decrypt {path}: {type(exc).__name__} (wrong vault password?)"
                                        ) from None
            data = yaml.safe_load(to_text(text)) or {}
            if not isinstance(data, dict):
                raise AnsibleActionFail(f"{path} must hold a mapping of variables")
        before = yaml.safe_dump(data, sort_keys=True)

        for name in args["begin_values"]:
            st.check_names([name])
        generated = st.ensure(data, args["ensure"])
        begun = [n for n in st.check_names(args["begin"]) if st.begin(data, n, args["begin_values"].get(n))]
        audit, committed, discarded = [], [], []
        by = args["audit_by"] or os.environ.get("AWX_USER_NAME") or getpass.getuser()
        for name in st.check_names(args["commit"]):
            details = st.commit(data, name)
            if details is not None:
                committed.append(name)
                audit.append(st.audit_record(name, "rotated", by, {**args["audit_details"].get(name, {}),
                                                                   **details}))
        for name in st.check_names(args["discard"]):
            if st.discard(data, name):
                discarded.append(name)
                audit.append(st.audit_record(name, "aborted", by, args["audit_details"].get(name, {})))
        for name in generated:
            audit.append(st.audit_record(name, "generated", by))

        changed = yaml.safe_dump(data, sort_keys=True) != before or not os.path.exists(path)
        if changed and not self._task.check_mode:
            self._write(path, data, vault, secrets, args["encrypt_vault_id"], used)
            if args["audit_log"] and audit:
                st.append_audit(args["audit_log"], audit)

        out = {"changed": changed, "path": path, "generated": generated, "begun": begun, "committed": committed,
               "discarded": discarded, "backup_key_id": data.get(st.KEY_ID),
               "pending": sorted((data.get(st.PENDING) or {}).keys()),
               "rotated": data.get(st.ROTATED) or {},
               "schedule": st.due(data.get(st.ROTATED), args["max_age_days"])}
        if args["return_values"]:
            out["live_values"] = {k: v for k, v in data.items() if k not in (st.PENDING, st.ROTATED)}
            out["pending_values"] = {n: st.pending_values(data, n) for n in (data.get(st.PENDING) or {})}
        return out

    @staticmethod
    def _write(path, data, vault, secrets, vault_id, used=None) -> None:
        label, secret = used if used and not vault_id else match_encrypt_secret(secrets, vault_id)
        text = "---\n# odooops.hosting secrets (playbooks/secrets_init.yml, rotate_secrets.yml); docs/secrets.md\n"
        text += yaml.safe_dump(data, sort_keys=True, default_flow_style=False)
        vaulted = vault.encrypt(to_bytes(text), secret, vault_id=vault_id or (label if label != "default" else None))
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".vault-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(vaulted)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
