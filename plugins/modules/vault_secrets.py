#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the action plugin plugins/action/vault_secrets.py (it runs on the control node).
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_secrets
short_description: The platform's secrets in an Ansible Vault-encrypted vars file - generate, rotate, age, audit
version_added: 0.1.0
description:
  - Runs on the control node. Reads the vars file (decrypting it with the run's vault secret or
    O(vault_password_file)), changes it, and writes it back encrypted, atomically, mode 0600.
  - O(ensure) generates every missing secret. O(begin) generates new values for a rotation under
    C(odooops_secrets_pending) while the live variables keep the old ones; O(commit) makes them live and records
    when (C(odooops_secrets_rotated)); O(discard) drops them (a failed rollout). The backup key is a key ring -
    commit adds a key with a new id and makes it current; old keys stay so older backups restore.
  - Every commit, discard and generation appends a JSON line to O(audit_log) (secret, action, when, by whom,
    role names or key ids) - never a value.
  - Returns the schedule (age and maximum age of each secret, which are due).
  - Secrets known (one place, module_utils/secrets/store.py) - C(db), C(master), C(replication), C(redis),
    C(redis_admin), C(s3), C(backup_key).
extends_documentation_fragment: [odooops.hosting.attributes]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
    details: O(ensure), O(commit) and O(discard) are; O(begin) generates once and then resumes the pending values.
options:
  path:
    description: The vars file, e.g. C(inventories/local/group_vars/all/vault.yml).
    type: path
    required: true
  vault_password_file:
    description: Use this vault password file instead of the run's vault secrets.
    type: path
  create_password_file:
    description: Create O(vault_password_file) (random, mode 0600) when it does not exist.
    type: bool
    default: false
  encrypt_vault_id:
    description: Vault id to encrypt with when the run has several.
    type: str
  ensure:
    description: Secrets to generate when missing.
    type: list
    elements: str
    default: []
  begin:
    description: Secrets whose rotation begins (new values pending).
    type: list
    elements: str
    default: []
  begin_values:
    description: Values to use instead of generated ones, per secret (e.g. S3 keys issued by the provider, or the
      login role for C(db)).
    type: dict
    default: {}
  commit:
    description: Secrets whose pending values become live.
    type: list
    elements: str
    default: []
  discard:
    description: Secrets whose pending values are dropped.
    type: list
    elements: str
    default: []
  return_values:
    description: Return the live and pending values (use only with C(no_log) on the task).
    type: bool
    default: false
  max_age_days:
    description: Maximum age per secret, overriding the catalogue's defaults.
    type: dict
    default: {}
  audit_log:
    description: JSON-lines audit file to append to.
    type: path
  audit_by:
    description: Who rotates (default the AWX user or the local user).
    type: str
  audit_details:
    description: Non-secret details per secret for the audit record (e.g. C(old_role), C(new_role)).
    type: dict
    default: {}
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: Generate missing secrets into the vault file
  odooops.hosting.vault_secrets:
    path: "{{ inventory_dir }}/group_vars/all/vault.yml"
    ensure: [db, master, replication, redis, redis_admin, s3, backup_key, anonymize, etcd, check]

- name: Which secrets are due
  odooops.hosting.vault_secrets:
    path: "{{ inventory_dir }}/group_vars/all/vault.yml"
  check_mode: true
  register: secrets_state
"""

RETURN = r"""
generated:
  description: Secrets generated because they were missing.
  returned: always
  type: list
  elements: str
begun:
  description: Secrets with new pending values.
  returned: always
  type: list
  elements: str
committed:
  description: Secrets made live.
  returned: always
  type: list
  elements: str
discarded:
  description: Pending secrets dropped.
  returned: always
  type: list
  elements: str
pending:
  description: Secrets with a rotation in progress.
  returned: always
  type: list
  elements: str
backup_key_id:
  description: The current backup key id.
  returned: always
  type: str
rotated:
  description: When each secret was last rotated (UTC).
  returned: always
  type: dict
schedule:
  description: Per secret - last_rotated, age_days, max_age_days, due.
  returned: always
  type: list
  elements: dict
live_values:
  description: Live variables (only with O(return_values)).
  returned: when return_values
  type: dict
pending_values:
  description: Pending variables per secret (only with O(return_values)).
  returned: when return_values
  type: dict
"""
